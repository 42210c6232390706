"""Build each camera's perception (detector + floor mapper) from the site configuration.

Everything that can be wrong with perception at start-up (missing calibration file, missing
reference image, missing or altered model file, optional package not installed) is found
here and reported as a :class:`ConfigError` naming the camera and field, so ``safetymon run``
and ``replay`` refuse to start (exit 2) instead of running without eyes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from safetymon.config.cameras import CameraConfig
from safetymon.config.loader import ConfigError, ConfigIssue
from safetymon.config.site import SiteConfig
from safetymon.monitor.camera_pipeline import CameraPipeline, MaskSource
from safetymon.perception.detectors.base import DetectorError
from safetymon.perception.detectors.factory import build_detector, load_reference
from safetymon.perception.far_range import FarLimit, far_limit
from safetymon.perception.mapping import FloorMapper
from safetymon.perception.person_scale import (
    HogBandPlan,
    PersonScaleError,
    camera_model,
    hog_bands,
    plan_person_scale,
)
from safetymon.perception.tile_budget import BudgetTiles, TileBudgetError, budget_tiles


def detection_threads(cameras: int, configured: int | None, cpus: int | None) -> int:
    """Threads OpenCV may use inside one frame's detection (``monitor.opencv_threads``).

    ``configured`` wins; otherwise the CPU count divided by the camera count, at least 1:
    every camera has its own detection worker, and workers that each split every frame over
    all cores wait for each other (on a 2-core box with ssdlite and 3 cameras at 15 fps,
    95-98 % of the frames were detected with 1 thread, 82-95 % with 2:
    ``benchmarks/bench_monitor.py --cameras``).
    """
    if configured is not None:
        return configured
    return max(1, (cpus or 1) // max(1, cameras))


def _issue(file: Path | None, field: str, message: str, value: object = None) -> ConfigError:
    has_value = value is not None
    return ConfigError([ConfigIssue(str(file or "<site>"), field, message, value, has_value)])


def resolve(base_dir: Path, path: str) -> Path:
    """A path from the site file, relative ones against the site file's folder."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else Path(base_dir) / candidate


def camera_reference(
    camera: CameraConfig, index: int, base_dir: Path, site_file: Path | None
) -> np.ndarray | None:
    """The camera's empty-cell reference image (BGR), or None when none is configured.

    Raises:
        ConfigError: the configured image is missing or unreadable (names the field).
    """
    if camera.reference_image is None:
        return None
    path = resolve(base_dir, camera.reference_image)
    try:
        return load_reference(path)
    except DetectorError as exc:
        raise _issue(site_file, f"cameras[{index}].reference_image", str(exc), str(path)) from exc


def camera_hog_plan(
    config: SiteConfig,
    camera: CameraConfig,
    index: int,
    mapper: FloorMapper,
    site_file: Path | None,
) -> HogBandPlan | None:
    """The camera's HOG crops when ``detector.hog.scales`` is auto and hog runs, else None.

    Raises:
        ConfigError: the scales cannot be planned from this camera's calibration (no image
            size, no floor in view, focal length not estimable: give camera_height_m).
    """
    hog = config.detector.hog
    if hog.scales != "auto" or "hog" not in config.detector.kinds:
        return None
    try:
        plan = plan_person_scale(
            mapper, camera_height_m=camera.camera_height_m, person_height_m=camera.person_height_m
        )
        return hog_bands(plan, max_upscale=hog.max_upscale, max_scan_mpx=hog.max_scan_mpx)
    except PersonScaleError as exc:
        raise _issue(
            site_file, f"cameras[{index}]",
            f"camera {camera.id!r}: detector.hog.scales is auto but its scales cannot be "
            f"planned: {exc}",
        ) from exc  # fmt: skip


def camera_ssdlite_tiles(
    config: SiteConfig,
    camera: CameraConfig,
    index: int,
    mapper: FloorMapper,
    site_file: Path | None,
) -> BudgetTiles | None:
    """The camera's SSDLite passes when ``detector.ssdlite.planned_passes`` is set and ssdlite
    runs, else None (``tiles`` in frame pixels, the whole frame first, and ``notes`` on why
    fewer tiles than allowed were placed).

    Raises:
        ConfigError: the tiles cannot be planned from this camera's calibration (no image
            size, no floor in view, focal length not estimable: give camera_height_m).
    """
    passes = config.detector.ssdlite.planned_passes
    if passes is None or "ssdlite" not in config.detector.kinds:
        return None
    try:
        plan = plan_person_scale(
            mapper, camera_height_m=camera.camera_height_m, person_height_m=camera.person_height_m
        )
        return budget_tiles(plan, passes)
    except (PersonScaleError, TileBudgetError) as exc:
        raise _issue(
            site_file, f"cameras[{index}]",
            f"camera {camera.id!r}: detector.ssdlite.planned_passes is set but its tiles "
            f"cannot be planned: {exc}",
        ) from exc  # fmt: skip


def camera_far_limit(camera: CameraConfig, mapper: FloorMapper) -> FarLimit | None:
    """The camera's far range limit, or None when its camera cannot be modelled.

    None (no image size, a homography whose focal length cannot be estimated and no
    ``camera_height_m``) keeps the strict rule: every detection that cannot be placed on the
    floor makes the frame a fault.
    """
    try:
        model = camera_model(mapper, camera.camera_height_m)
        return far_limit(mapper, model, camera.person_height_m)
    except (PersonScaleError, ValueError):
        return None


def default_models_dir(base_dir: Path) -> Path:
    """The models folder when none is given: ``models`` in the site file's folder (an
    installed site: ``/etc/safetymon/models``), else beside it (a checkout's ``zones/`` and
    ``models/``), else ``./models``."""
    for candidate in (base_dir / "models", base_dir.parent / "models"):
        if candidate.is_dir():
            return candidate
    return Path("models")


def build_pipelines(
    config: SiteConfig,
    base_dir: Path,
    *,
    site_file: Path | None = None,
    models_dir: Path | None = None,
    references: dict[str, np.ndarray] | None = None,
    mappers: dict[str, FloorMapper] | None = None,
    ignore_masks: dict[str, MaskSource] | None = None,
) -> dict[str, CameraPipeline]:
    """One pipeline per configured camera.

    Args:
        config: the validated site.
        base_dir: folder that relative paths of the site file resolve against.
        site_file: the site file (for error messages).
        models_dir: folder of ``manifest.yaml`` and model files (default:
            ``default_models_dir``).
        references: reference images by camera id, overriding ``reference_image`` (replay
            may build one from the footage; the demo renders one).
        mappers: floor mappers by camera id, overriding the configured calibration (demo).
        ignore_masks: per camera, the pixels foreground must ignore (the robot), if known.

    Raises:
        ConfigError: a camera's calibration, reference image or detector cannot be set up.
    """
    if models_dir is None:
        models_dir = default_models_dir(Path(base_dir))
    references = references or {}
    mappers = mappers or {}
    ignore_masks = ignore_masks or {}
    pipelines: dict[str, CameraPipeline] = {}
    for index, camera in enumerate(config.cameras):
        mapper = mappers.get(camera.id) or FloorMapper.from_camera_config(camera, base_dir)
        reference = references.get(camera.id)
        if reference is None:
            reference = camera_reference(camera, index, base_dir, site_file)
        passes = camera_ssdlite_tiles(config, camera, index, mapper, site_file)
        try:
            detector = build_detector(
                config.detector, models_dir, reference_bgr=reference,
                hog_band_plan=camera_hog_plan(config, camera, index, mapper, site_file),
                ssdlite_tiles=None if passes is None else list(passes.tiles),
            )  # fmt: skip
        except DetectorError as exc:
            field = f"cameras[{index}].reference_image" if "reference" in str(exc) else "detector"
            raise _issue(site_file, field, f"camera {camera.id!r}: {exc}") from exc
        pipelines[camera.id] = CameraPipeline(
            camera.id,
            detector,
            mapper,
            ignore_masks.get(camera.id),
            robot_overlap_drop=config.detector.robot_overlap_drop,
            far_limit=camera_far_limit(camera, mapper),
        )
    return pipelines
