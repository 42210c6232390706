"""Build the configured detector (one kind or several joined with '+')."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from safetymon.config.cameras import DetectorConfig
from safetymon.perception.detectors.base import Detector, DetectorError
from safetymon.perception.detectors.combined import CombinedDetector
from safetymon.perception.person_scale import HogBandPlan


def load_reference(path: Path) -> np.ndarray:
    """Read a foreground reference image (BGR uint8); DetectorError naming the file if not."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DetectorError(f"foreground reference image {path} is missing or not an image")
    return image


def _build_one(
    kind: str, config: DetectorConfig, models_dir: Path, reference_bgr: np.ndarray | None,
    hog_band_plan: HogBandPlan | None = None,
    ssdlite_tiles: list[tuple[int, int, int, int]] | None = None,
) -> Detector:
    if kind == "hog":
        from safetymon.perception.detectors.hog import HogDetector

        return HogDetector(
            config.hog, config.confidence, band_plan=hog_band_plan, nms_iou=config.nms_iou
        )
    if kind == "foreground":
        from safetymon.perception.detectors.foreground import ForegroundDetector

        if reference_bgr is None:
            raise DetectorError(
                "the foreground detector needs a reference image of the empty cell "
                "(camera reference_image); none was given"
            )
        return ForegroundDetector(reference_bgr, config.foreground)
    if kind in ("yolo", "onnx"):
        from safetymon.perception.models import resolve_model

        if not config.model:
            raise DetectorError(f"detector {kind} needs `model`")
        entry, path = resolve_model(config.model, models_dir)
        if kind == "yolo":
            from safetymon.perception.detectors.yolo import YoloDetector

            return YoloDetector(path, entry, config.confidence, config.nms_iou)
        from safetymon.perception.detectors.onnx import OnnxDetector

        return OnnxDetector(path, entry, config.confidence, config.nms_iou, config.onnx_backend)
    if kind == "ssdlite":
        from safetymon.perception.detectors.ssdlite import SsdliteDetector, locate_graph

        graph = locate_graph(config.ssdlite.model_file, models_dir)
        if config.ssdlite.planned_passes is not None and ssdlite_tiles is None:
            raise DetectorError(
                "detector.ssdlite.planned_passes is set but no tiles were planned for this "
                "camera (build it through safetymon.monitor.perception_setup)"
            )
        return SsdliteDetector(graph, config.ssdlite, config.nms_iou, tiles=ssdlite_tiles)
    raise DetectorError(f"unknown detector kind {kind!r}")


def build_detector(
    config: DetectorConfig,
    models_dir: Path | str = "models",
    *,
    reference_bgr: np.ndarray | None = None,
    hog_band_plan: HogBandPlan | None = None,
    ssdlite_tiles: list[tuple[int, int, int, int]] | None = None,
) -> Detector:
    """The detector for one camera.

    Args:
        config: the site's detector configuration (``auto``: ssdlite, plus foreground when
            ``reference_bgr`` is given).
        models_dir: folder with `manifest.yaml` and model files (yolo, onnx kinds).
        reference_bgr: the camera's empty-cell reference image (foreground kind), pixels.
        hog_band_plan: the camera's HOG crops (``detector.hog.scales: auto``), from
            ``safetymon.perception.person_scale.hog_bands``.
        ssdlite_tiles: the camera's SSDLite tiles (``detector.ssdlite.planned_passes``), from
            ``safetymon.perception.tile_budget.budget_tiles``; frame pixels.

    Raises:
        DetectorError: a part cannot be built (missing model, hash mismatch, no reference,
            missing optional package); the monitor must refuse to start.
    """
    kinds = config.kinds_for(has_reference=reference_bgr is not None)
    parts = [
        _build_one(kind, config, Path(models_dir), reference_bgr, hog_band_plan, ssdlite_tiles)
        for kind in kinds
    ]
    if len(parts) == 1:
        return parts[0]
    return CombinedDetector(parts, config.nms_iou)
