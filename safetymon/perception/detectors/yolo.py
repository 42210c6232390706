"""Ultralytics YOLO (optional extra `yolo`) with a detect or pose model file (.pt or .onnx).

Only the person class is kept; pose keypoints (COCO-17, camera pixels) ride along so the
foot point can come from the ankles. The file must already be SHA-256-checked.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from safetymon.perception.detectors.base import Detection, Detector, DetectorError
from safetymon.perception.models import ModelEntry


class YoloDetector(Detector):
    """People from an Ultralytics model; nothing is downloaded (offline mode is set)."""

    kind = "yolo"

    def __init__(
        self,
        path: Path,
        entry: ModelEntry,
        confidence: float = 0.4,
        iou_threshold: float = 0.5,
    ) -> None:
        """Load the model file; raise DetectorError if Ultralytics is missing or it fails."""
        os.environ.setdefault("YOLO_OFFLINE", "1")
        try:
            from ultralytics import YOLO
        except ImportError as error:
            raise DetectorError(
                "the yolo detector needs Ultralytics: pip install 'safetymon[yolo]'"
            ) from error
        self.entry = entry
        self.confidence = confidence
        self.iou_threshold = iou_threshold
        task = "pose" if entry.task == "pose" else "detect"
        try:
            self._model = YOLO(str(path), task=task)
        except Exception as error:
            raise DetectorError(f"cannot load YOLO model {path}: {error}") from error

    def _detect(self, frame: np.ndarray, ignore_mask: np.ndarray | None) -> list[Detection]:
        width, height = self.entry.input_size
        results = self._model.predict(
            frame,
            imgsz=(height, width),
            conf=self.confidence,
            iou=self.iou_threshold,
            classes=[self.entry.person_class],
            device="cpu",
            verbose=False,
        )
        if len(results) != 1:
            raise DetectorError(f"YOLO returned {len(results)} results for one frame")
        result = results[0]
        boxes = result.boxes
        xyxy = boxes.xyxy.cpu().numpy().astype(np.float64)
        scores = boxes.conf.cpu().numpy().astype(np.float64)
        keypoints = None
        if result.keypoints is not None and result.keypoints.data is not None:
            keypoints = result.keypoints.data.cpu().numpy().astype(np.float64)
            if keypoints.ndim != 3 or keypoints.shape[0] != xyxy.shape[0]:
                keypoints = None
        detections = []
        for index in range(xyxy.shape[0]):
            x1, y1, x2, y2 = xyxy[index]
            points = None
            if keypoints is not None and keypoints.shape[2] == 3:
                points = keypoints[index]
            detections.append(
                Detection(
                    (float(x1), float(y1), float(x2 - x1), float(y2 - y1)),
                    float(scores[index]),
                    "person",
                    points,
                    self.kind,
                )
            )
        return detections
