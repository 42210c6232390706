"""`safetymon calibrate latency`: measure a camera's glass-to-frame latency at commissioning.

safetymon shows a changing code (three ArUco markers, `perception.latency_pattern`) on a
screen the camera films, reads the codes back from the frames the camera source hands out,
and writes p99 + a margin into the camera's calibration file, from where the decision adds
it to that camera's frame age in S_p (docs/PERCEPTION.md, "Camera latency").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from safetymon.config.cameras import CameraConfig
from safetymon.config.loader import ConfigError, load_site_config
from safetymon.perception.calibration.model import (
    CameraCalibration,
    LatencyMeasurement,
    load_calibration,
    now_utc,
    save_calibration,
)
from safetymon.perception.camera_latency import calibration_path
from safetymon.perception.latency_measure import LatencyMeasurementError, summarize
from safetymon.perception.latency_session import (
    FifoScreen,
    LoopbackCamera,
    Screen,
    WindowScreen,
    measure,
)
from safetymon.perception.sources import CameraSource, FrameSource


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    return width, height


def register(commands: argparse._SubParsersAction) -> None:
    """Add `calibrate latency` to the `calibrate` group."""
    parser = commands.add_parser(
        "latency",
        help="glass-to-frame latency of a camera (shows a timestamp code the camera films)",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--site", required=True, help="site file")
    parser.add_argument("--camera", required=True, help="camera id in the site file")
    screen = parser.add_mutually_exclusive_group()
    screen.add_argument(
        "--fifo", metavar="PATH",
        help="write the pattern as raw BGR frames to this named pipe (a display or stream "
        "driven by another program) instead of a full-screen window",
    )  # fmt: skip
    screen.add_argument(
        "--loopback-delay-s", type=float, metavar="SECONDS",
        help="self-check of the tool: no screen and no camera; the pattern comes back as "
        "frames of a virtual camera this late (nothing is written)",
    )  # fmt: skip
    parser.add_argument("--seconds", type=float, default=20.0, help="how long (default 20)")
    parser.add_argument(
        "--period-ms", type=float, default=40.0,
        help="how long each code stays on screen, ms (default 40; an upper bound of the "
        "error each sample adds)",
    )  # fmt: skip
    parser.add_argument(
        "--size", type=_size, default=(960, 540), help="pattern size WxH px (default 960x540)"
    )
    parser.add_argument(
        "--margin-ms", type=float, default=20.0, help="added to p99 (default 20 ms)"
    )
    parser.add_argument(
        "--out", metavar="FILE",
        help="calibration file to write (default: the camera's own; required for a camera "
        "without one)",
    )  # fmt: skip
    parser.add_argument("--dry-run", action="store_true", help="measure only, write nothing")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run_latency)


def _camera(site: Path, camera_id: str) -> CameraConfig:
    config = load_site_config(site)
    for camera in config.cameras:
        if camera.id == camera_id:
            return camera
    known = ", ".join(camera.id for camera in config.cameras)
    raise ValueError(f"{site}: no camera {camera_id!r} (cameras: {known})")


def _target(args: argparse.Namespace, camera: CameraConfig) -> Path | None:
    """The calibration file to write, or None (dry run, loopback)."""
    if args.dry_run or args.loopback_delay_s is not None:
        return None
    if args.out:
        return Path(args.out)
    own = calibration_path(camera, Path(args.site).parent)
    if own is None:
        raise ValueError(
            f"cameras[{camera.id}] has no calibration file: give --out FILE and add "
            f"`calibration: FILE` to the camera in {args.site} (or use --dry-run)"
        )
    return own


def _write(path: Path, camera_id: str, measured: LatencyMeasurement) -> None:
    """Put ``measured`` into the calibration at ``path`` (created if missing; the rest of an
    existing file is kept)."""
    if path.exists():
        calibration = load_calibration(path).model_copy(update={"latency": measured})
        calibration = CameraCalibration.model_validate(calibration.model_dump())
    else:
        calibration = CameraCalibration(
            camera=camera_id, created=now_utc(), method="latency", latency=measured
        )
    save_calibration(calibration, path)


def run_latency(args: argparse.Namespace) -> int:
    """Measure, print p50/p95/p99 and write p99 + margin into the calibration file."""
    try:
        if not args.seconds > 0 or not args.margin_ms >= 0:
            raise ValueError("--seconds must be > 0 and --margin-ms >= 0")
        camera = _camera(Path(args.site), args.camera)
        target = _target(args, camera)
    except (ConfigError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    source: FrameSource
    screen: Screen
    if args.loopback_delay_s is not None:
        loopback = LoopbackCamera(args.loopback_delay_s)
        source, screen, name = loopback, loopback, loopback.name
    else:
        source, name = CameraSource(camera), str(camera.source)
        try:
            screen = FifoScreen(Path(args.fifo)) if args.fifo else WindowScreen()
        except OSError as error:
            print(f"error: {error} (use --fifo PATH for another display)", file=sys.stderr)
            return 1
    period_s = args.period_ms / 1000.0
    print(f"showing codes every {args.period_ms:g} ms for {args.seconds:g} s; camera "
          f"{camera.id} ({name}) must see them", file=sys.stderr)  # fmt: skip
    source.start()  # `measure` stops it
    try:
        samples = measure(
            screen, source, duration_s=args.seconds, period_s=period_s, pattern_size=args.size
        )
        measured = summarize(
            samples, margin_s=args.margin_ms / 1000.0, pattern_period_s=period_s, source=name
        )
    except (LatencyMeasurementError, ValueError, OSError) as error:
        print(f"error: camera {camera.id}: {error}", file=sys.stderr)
        return 1
    if target is not None:
        try:
            _write(target, camera.id, measured)
        except (ConfigError, OSError) as error:
            print(f"error: cannot write {target}: {error}", file=sys.stderr)
            return 1
    result = {
        "camera": camera.id, "source": name, "frames": samples.frames,
        "decoded": samples.decoded, **measured.model_dump(mode="json"),
        "written_to": None if target is None else str(target),
    }  # fmt: skip
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"camera {camera.id}: glass-to-frame latency p50 {measured.p50_s * 1000:.0f} ms, "
            f"p95 {measured.p95_s * 1000:.0f} ms, p99 {measured.p99_s * 1000:.0f} ms "
            f"({measured.samples} of {samples.frames} frames decoded); counted: "
            f"{measured.latency_s * 1000:.0f} ms (p99 + {args.margin_ms:g} ms)"
        )
        print(f"written to {target}" if target else "nothing written")
    return 0
