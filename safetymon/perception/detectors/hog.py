"""OpenCV's built-in HOG + linear SVM people detector (Dalal-Triggs; no model file).

Boxes are in camera pixels. The SVM margin `w` of a detection becomes a confidence
`1 / (1 + exp(-w))` (0.5 at the decision boundary) so that one threshold serves every kind.
The detection window holds margins around the person; boxes are trimmed to the person
(`PERSON_IN_WINDOW`) so that their bottom centre is the foot point.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from safetymon.config.cameras import HogConfig
from safetymon.perception.detectors.base import Detection, Detector

# Where the person sits inside a detection window of the default 64x128 people detector, as
# fractions of the window (left, top, width, height): fitted on PETS09-S2L1 ground truth
# (median of 242 matches), close to the 96-px-tall person the detector was trained with.
PERSON_IN_WINDOW = (0.23, 0.10, 0.54, 0.77)


class HogDetector(Detector):
    """People as upright 1:2 boxes from OpenCV's `HOGDescriptor_getDefaultPeopleDetector`."""

    kind = "hog"

    def __init__(self, config: HogConfig | None = None, confidence: float = 0.4) -> None:
        """Build the detector; `confidence` is the minimum sigmoid(margin) kept, in (0, 1)."""
        self.config = config or HogConfig()
        self.min_confidence = confidence
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def _detect(self, frame: np.ndarray, ignore_mask: np.ndarray | None) -> list[Detection]:
        config = self.config
        image = frame
        if config.upscale != 1.0:
            image = cv2.resize(
                frame, None, fx=config.upscale, fy=config.upscale, interpolation=cv2.INTER_LINEAR
            )
        stride = (config.win_stride_px, config.win_stride_px)
        padding = (config.padding_px, config.padding_px)
        boxes, weights = self._hog.detectMultiScale(
            image,
            hitThreshold=config.hit_threshold,
            winStride=stride,
            padding=padding,
            scale=config.scale_step,
            groupThreshold=config.group_threshold,
        )
        detections = []
        for box, weight in zip(boxes, np.asarray(weights).reshape(-1), strict=True):
            confidence = 1.0 / (1.0 + math.exp(-float(weight)))
            if confidence < self.min_confidence:
                continue
            left, top, width, height = (float(value) / config.upscale for value in box)
            in_left, in_top, in_width, in_height = PERSON_IN_WINDOW
            left += in_left * width
            top += in_top * height
            width *= in_width
            height *= in_height
            detections.append(
                Detection((left, top, width, height), confidence, "person", None, self.kind)
            )
        return detections
