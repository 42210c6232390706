"""`safetymon config check FILE` and `safetymon config schema`.

``config check`` validates the file, then builds every camera's floor mapping (calibration
files included) and its floor footprint (``safetymon.perception.floor_footprint``): a
mapping that cannot place anyone (no floor in view, singular or ill-conditioned, mirrored
floor frame, ...) is an error (exit 2) naming file, camera field and reason, and so is a
robot-state key file that cannot be loaded; a zone that lies completely outside every
camera's footprint is a warning, and so is a link that is unauthenticated and reachable
beyond this host (``safetymon.config.links``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import shapely

from safetymon.config.cameras import AUTO_DETECTOR
from safetymon.config.links import (
    dds_output_summary,
    state_input_summary,
    unauthenticated_link_warnings,
)
from safetymon.config.loader import ConfigError, ConfigIssue, config_hash, load_site_config
from safetymon.config.site import SiteConfig
from safetymon.geometry.protection import protection_report
from safetymon.geometry.site_separation import input_age_limits_s, robot_separation_m
from safetymon.monitor.input_keys import load_state_input_keys
from safetymon.monitor.perception_setup import (
    camera_hog_plan,
    camera_reference,
    camera_ssdlite_tiles,
)
from safetymon.perception.camera_latency import CameraLatency, camera_latencies, latency_seconds
from safetymon.perception.floor_footprint import FloorFootprint, floor_footprint
from safetymon.perception.mapping import FloorMapper
from safetymon.robot.geometry import RobotModel


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `config` command group."""
    parser = subparsers.add_parser("config", help="check a site configuration, print its schema")
    commands = parser.add_subparsers(dest="config_command", metavar="SUBCOMMAND", required=True)
    check = commands.add_parser("check", help="validate a site file and print a summary")
    check.add_argument("file", help="site configuration (YAML)")
    check.add_argument(
        "--previous",
        metavar="OLD.yaml",
        help="the site file as it was: name every change to a protective, restricted or "
        "envelope zone with the protection it takes away, and refuse (exit 2) one that "
        "lowers a robot's protective cover unless safety.protected_otherwise says why",
    )
    check.set_defaults(func=run_check)
    schema = commands.add_parser("schema", help="print the JSON Schema of site files")
    schema.set_defaults(func=run_schema)


def run_check(args: argparse.Namespace) -> int:
    """Validate the file and its floor mappings; print OK and a summary, or every error
    (exit 2). Warnings (zones no camera sees, footprints that cannot be checked) go to
    stderr after OK. With ``--previous`` also judge the zone changes (``geometry.protection``)."""
    report = None
    try:
        config = load_site_config(args.file)
        mappers = camera_mappers(config, args.file)
        footprints = {camera_id: floor_footprint(m) for camera_id, m in mappers.items()}
        plans = detector_plans(config, args.file, mappers)
        latencies = camera_latencies(config, Path(args.file).parent)
        geometries = robot_geometries(config, Path(args.file))
        check_dds_output(config, Path(args.file))
        load_state_input_keys(config, Path(args.file).parent, Path(args.file))
        if getattr(args, "previous", None):
            report = protection_report(load_site_config(args.previous), config)
            if report.refusals:
                raise ConfigError([
                    ConfigIssue(args.file, "zones", reason, None, False)
                    for reason in report.refusals
                ])  # fmt: skip
    except ConfigError as error:
        for issue in error.issues:
            print(f"error: {issue}", file=sys.stderr)
        if report is not None:
            for line in report.lines():
                print(f"protection: {line}", file=sys.stderr)
        print(f"{args.file}: {len(error.issues)} error(s); not valid", file=sys.stderr)
        return 2
    print("OK")
    print(summarize(config, args.file, footprints, latencies, geometries, plans))
    if report is not None:
        lines = report.lines()
        print(f"changes against {args.previous}:" + ("" if lines else " no protective, "
              "restricted or envelope zone changed"))  # fmt: skip
        for line in lines:
            print(f"  {line}")
    for warning in footprint_warnings(config, args.file, footprints):
        print(f"warning: {warning}", file=sys.stderr)
    for latency in latencies.values():
        if latency.warning is not None:
            print(f"warning: {args.file}: {latency.warning}", file=sys.stderr)
    for warning in unauthenticated_link_warnings(config):
        print(f"warning: {args.file}: {warning}", file=sys.stderr)
    for warning in missing_reference_warnings(config):
        print(f"warning: {args.file}: {warning}", file=sys.stderr)
    return 0


def missing_reference_warnings(config: SiteConfig) -> list[str]:
    """Cameras whose detector has a foreground part but no reference image: ``run`` refuses
    to start them; ``replay`` needs ``--reference-median N`` (the site may be for that)."""
    return [
        f"cameras[{index}] ({camera.id}): detector {config.detector.kind} has a foreground "
        "part but the camera has no reference_image: `safetymon run` will refuse to start "
        "(replay needs --reference-median N)"
        for index, camera in enumerate(config.cameras)
        if camera.reference_image is None
        and "foreground" in config.detector.kinds_for(has_reference=False)
    ]


def robot_geometries(config: SiteConfig, site_file: Path) -> dict[str, str]:
    """Build every robot's kinematics as the monitor will (a URDF is loaded and evaluated)
    and check a ``ros2`` input's DDS package is here; robot id → one line on its geometry.
    Raises ConfigError naming the robot's geometry or input."""
    lines: dict[str, str] = {}
    issues: list[ConfigIssue] = []
    for index, robot in enumerate(config.robots):
        try:
            model = RobotModel(robot, site_file.parent)
        except ValueError as error:
            issues.append(ConfigIssue(str(site_file), f"robots[{index}].geometry", str(error),
                                      None, False))  # fmt: skip
            continue
        if robot.state_input.kind == "ros2":
            from safetymon.robot.ros2_input import MISSING_PACKAGE, cyclonedds_available

            if not cyclonedds_available():  # the monitor would refuse to start
                issues.append(ConfigIssue(str(site_file), f"robots[{index}].state_input.kind",
                                          MISSING_PACKAGE, "ros2", True))  # fmt: skip
        chain = model.chain
        if chain is None:
            lines[robot.id] = "geometry: link capsules sent in each state"
            continue
        meshes = getattr(chain, "mesh_shapes", 0)
        lines[robot.id] = (
            f"geometry: {robot.geometry.kind}, {chain.joint_count} joints, "
            f"{chain.radius_m.size} capsules"
            + (f" ({meshes} collision meshes not loaded)" if meshes else "")
        )
    if issues:
        raise ConfigError(issues)
    return lines


def check_dds_output(config: SiteConfig, site_file: Path) -> None:
    """Refuse ``outputs.dds`` where the ``cyclonedds`` package cannot be imported (the
    monitor would refuse to start). Raises ConfigError naming ``outputs.dds``."""
    from safetymon.dds import MISSING_PACKAGE_HINT, cyclonedds_available

    if config.outputs.dds is not None and not cyclonedds_available():
        message = f"needs the Python package 'cyclonedds' ({MISSING_PACKAGE_HINT})"
        raise ConfigError([ConfigIssue(str(site_file), "outputs.dds", message, None, False)])


def camera_mappers(config: SiteConfig, file: str) -> dict[str, FloorMapper]:
    """Every camera's floor mapping, by camera id, built as ``run`` builds it.

    Raises:
        ConfigError: every camera whose mapping is refused (calibration file missing or
            invalid, mapping unusable: ``FloorMapper.from_camera_config``), all of them.
    """
    issues: list[ConfigIssue] = []
    mappers: dict[str, FloorMapper] = {}
    for camera in config.cameras:
        try:
            mappers[camera.id] = FloorMapper.from_camera_config(
                camera, Path(file).parent, site_file=file
            )
        except ConfigError as error:
            issues.extend(error.issues)
    if issues:
        raise ConfigError(issues)
    return mappers


def detector_plans(
    config: SiteConfig, file: str, mappers: dict[str, FloorMapper]
) -> dict[str, str]:
    """Each camera's detector plan from its calibration, as ``run`` makes it (HOG crops for
    ``detector.hog.scales: auto``, SSDLite tiles for ``detector.ssdlite.planned_passes``),
    by camera id, one line each; cameras without a planned detector are left out. Each
    camera's reference image, if it names one, is read as ``run`` reads it.

    Raises:
        ConfigError: every camera that cannot be planned or whose reference image cannot be
            read (names ``cameras[i]`` and why).
    """
    issues: list[ConfigIssue] = []
    plans: dict[str, str] = {}
    for index, camera in enumerate(config.cameras):
        try:
            mapper = mappers[camera.id]
            camera_reference(camera, index, Path(file).parent, Path(file))  # readable?
            hog = camera_hog_plan(config, camera, index, mapper, Path(file))
            passes = camera_ssdlite_tiles(config, camera, index, mapper, Path(file))
        except ConfigError as error:
            issues.extend(error.issues)
            continue
        parts = []
        if hog is not None:
            upscales = [crop.upscale for crop in hog.crops]
            parts.append(
                f"hog: {len(hog.crops)} crop(s), upscale {min(upscales):.2f}-"
                f"{max(upscales):.2f}, {hog.scan_mpx:.1f} Mpx a frame"
            )
        if passes is not None:
            extra = passes.tiles[1:]
            tiles = (
                f" + {len(extra)} tile(s) of {extra[0][2]} px at rows "
                f"{extra[0][1]}-{extra[0][1] + extra[0][3]}" if extra else " only"
            )  # fmt: skip
            notes = f" ({'; '.join(passes.notes)})" if passes.notes else ""
            parts.append(f"ssdlite: {len(passes.tiles)} pass(es): the whole frame{tiles}{notes}")
        if parts:
            plans[camera.id] = "; ".join(parts)
    if issues:
        raise ConfigError(issues)
    return plans


def footprint_warnings(
    config: SiteConfig, file: str, footprints: dict[str, FloorFootprint]
) -> list[str]:
    """Zones completely outside every camera's footprint; footprints that are unknown."""
    warnings = [
        f"{file}: cameras[{camera_id}]: {note}"
        for camera_id, footprint in footprints.items()
        for note in footprint.notes
    ]
    known = [footprint.polygon for footprint in footprints.values() if footprint.image_size]
    if not known or len(known) < len(footprints):
        return warnings  # a camera of unknown footprint may see any zone
    seen = shapely.union_all(known)
    for index, zone in enumerate(config.zones):
        if not shapely.intersects(zone.shape(), seen):
            warnings.append(
                f"{file}: zones[{index}] ({zone.id}): lies completely outside every camera's "
                "floor footprint: no camera can see a person in it"
            )
    return warnings


def detector_summary(config: SiteConfig) -> str:
    """The detector kind; for ``auto``, what each camera runs."""
    detector = config.detector
    if detector.kind != AUTO_DETECTOR:
        return detector.kind
    with_reference = [camera.id for camera in config.cameras if camera.reference_image]
    return (
        f"{AUTO_DETECTOR}: ssdlite"
        + (f"; ssdlite+foreground on {', '.join(with_reference)} (reference image)"
           if with_reference else "; no camera has a reference image for foreground")
    )  # fmt: skip


def run_schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema of the site configuration."""
    print(json.dumps(SiteConfig.model_json_schema(), indent=2))
    return 0


def summarize(
    config: SiteConfig,
    file: str,
    footprints: dict[str, FloorFootprint] | None = None,
    latencies: dict[str, CameraLatency] | None = None,
    geometries: dict[str, str] | None = None,
    plans: dict[str, str] | None = None,
) -> str:
    """A one-screen human-readable summary of a valid site configuration.

    ``plans`` (by camera id, ``detector_plans``) adds a line per planned camera.

    ``footprints`` (by camera id) adds a line per camera: its floor footprint.
    ``latencies`` (by camera id, resolved with the calibration files) adds a line per
    camera: its glass-to-frame latency and its term in S_p, and S_p counts them (without:
    the site file's own latencies).
    """
    latency_s = None if latencies is None else latency_seconds(latencies)
    safety = config.safety
    lines = [
        f"site {config.site!r} from {file}  (config sha256 {config_hash(config)[:16]}…)",
        f"detector: {detector_summary(config)}",
        f"cameras ({len(config.cameras)}):",
    ]
    for camera in config.cameras:
        mapping = "homography" if camera.floor_homography is not None else camera.calibration
        lines.append(
            f"  {camera.id:<16} source={camera.source!s:<24} floor={mapping}  "
            f"max age {camera.max_frame_age_s * 1000:.0f} ms"
        )
        if footprints is not None and camera.id in footprints:
            lines.append(f"  {'':<16} {footprints[camera.id].describe()}")
        if latencies is not None and camera.id in latencies:
            describe = latencies[camera.id].describe(safety.human_speed_mps)
            lines.append(f"  {'':<16} {describe}")
        if plans is not None and camera.id in plans:
            lines.append(f"  {'':<16} {plans[camera.id]}")
    lines.append(f"robots ({len(config.robots)}):")
    for index, robot in enumerate(config.robots):
        stop = robot.stopping
        stopping = (
            f"a_s={stop.deceleration_mps2} m/s²"
            if stop.deceleration_mps2 is not None
            else f"T_s={stop.stopping_time_s} s, S_s={stop.stopping_distance_m} m"
        )
        envelope = f", stays in {robot.permitted_zone!r}" if robot.permitted_zone else ""
        camera_s, state_s = input_age_limits_s(config, index, latency_s)
        fresh = robot_separation_m(
            config, index, at_age_limits=False, camera_latency_s=latency_s
        )
        worst = robot_separation_m(config, index, camera_latency_s=latency_s)
        lines.append(
            f"  {robot.id:<16} v_max={robot.max_speed_mps} m/s, {stopping}{envelope}\n"
            f"  {'':<16} S_p={fresh:.2f} m with fresh inputs (camera latency counted), "
            f"worst-case S_p={worst:.2f} m with inputs at their age limits (camera "
            f"{camera_s * 1000:.0f} ms incl. latency + state {state_s * 1000:.0f} ms)\n"
            f"  {'':<16} {state_input_summary(config, index)}"
        )
        if geometries is not None and robot.id in geometries:
            lines.append(f"  {'':<16} {geometries[robot.id]}")
    lines.append(f"zones ({len(config.zones)}):")
    for zone in config.zones:
        latch = ", manual reset" if zone.manual_reset else ""
        lines.append(
            f"  {zone.id:<16} {zone.type.value:<10} {len(zone.polygon)} vertices, "
            f"area {zone.shape().area:.2f} m²{latch}"
        )
    lines.append(
        f"safety: v_h>={safety.human_speed_mps} m/s, T_r={safety.reaction_time_s} s (+ input "
        f"ages), C={safety.intrusion_distance_m} m, Z_d>={safety.human_uncertainty_m} m, "
        f"margin {safety.warning_margin_m} m, restart delay {safety.restart_delay_s} s, "
        f"{safety.decision_rate_hz:g} Hz"
    )
    outputs = [name for name, value in config.outputs if value is not None]
    lines.append(f"outputs: {', '.join(outputs) if outputs else 'none (decisions logged only)'}")
    dds_line = dds_output_summary(config)
    if dds_line is not None:
        lines.append(f"  {dds_line}")
    return "\n".join(lines)
