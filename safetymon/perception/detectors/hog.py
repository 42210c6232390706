"""OpenCV's built-in HOG + linear SVM people detector (Dalal-Triggs; no model file).

Boxes are in camera pixels. The SVM margin `w` of a detection becomes a confidence
`1 / (1 + exp(-w))` (0.5 at the decision boundary) so that one threshold serves every kind.
The detection window holds margins around the person; boxes are trimmed to the person
(`PERSON_IN_WINDOW`) so that their bottom centre is the foot point.

Scales: without a band plan the whole frame is scanned at one `upscale` (people shorter than
~98 / upscale px are missed). With a `HogBandPlan` (`safetymon.perception.person_scale`,
from the camera's calibration) each crop is scanned at its own upscale, its boxes are mapped
back to frame pixels, a crop keeps only people whose feet lie in its foot rows (so a person
cut by a crop's lower edge is left to the crop below), and overlapping boxes from different
crops are merged by NMS (the higher confidence wins).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from safetymon.config.cameras import HogConfig
from safetymon.perception.detectors.base import Detection, Detector, DetectorError
from safetymon.perception.person_scale import HogBandPlan

# Where the person sits inside a detection window of the default 64x128 people detector, as
# fractions of the window (left, top, width, height): fitted on PETS09-S2L1 ground truth
# (median of 242 matches), close to the 96-px-tall person the detector was trained with.
PERSON_IN_WINDOW = (0.23, 0.10, 0.54, 0.77)
# 1-sigma error of the trimmed box's bottom centre as the foot point, as a fraction of the
# trimmed box height: robust sigma of the bottom 0.038 and of the centre 0.033 on PETS09-S2L1
# frames 1-150 at 768x576 (`python benchmarks/bench_foot_points.py --detectors hog`; frames
# 151-300 gave 0.032 / 0.040, TUD-Campus 0.057 / 0.043).
FOOT_SIGMA_FRACTION = 0.04


class HogDetector(Detector):
    """People as upright 1:2 boxes from OpenCV's `HOGDescriptor_getDefaultPeopleDetector`."""

    kind = "hog"

    def __init__(
        self,
        config: HogConfig | None = None,
        confidence: float = 0.4,
        *,
        band_plan: HogBandPlan | None = None,
        nms_iou: float = 0.5,
    ) -> None:
        """Build the detector.

        Args:
            config: HOG parameters.
            confidence: minimum sigmoid(margin) kept, in (0, 1).
            band_plan: crops and their upscales (frame pixels) or None: one scan at
                ``config.upscale``. Frames must then have the plan's image size.
            nms_iou: IoU above which boxes of different crops are one person.

        Raises:
            DetectorError: ``config.scales`` is "auto" but no plan is given (the caller
                must build one from the calibration, or refuse the camera).
        """
        self.config = config or HogConfig()
        if self.config.scales == "auto" and band_plan is None:
            raise DetectorError(
                "detector.hog.scales is auto but no band plan was made for this camera "
                "(it needs the camera's calibration)"
            )
        self.min_confidence = confidence
        self.band_plan = band_plan if self.config.scales == "auto" else None
        self.nms_iou = nms_iou
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def _detect(self, frame: np.ndarray, ignore_mask: np.ndarray | None) -> list[Detection]:
        if self.band_plan is None:
            return self._scan(frame, self.config.upscale, 0, 0)
        width, height = self.band_plan.image_size
        if frame.shape[1] != width or frame.shape[0] != height:
            raise DetectorError(
                f"frame is {frame.shape[1]}x{frame.shape[0]} pixels but the HOG band plan was "
                f"made for {width}x{height} (the camera's calibrated image_size)"
            )
        found: list[Detection] = []
        for crop in self.band_plan.crops:
            part = frame[crop.top : crop.bottom, crop.left : crop.right]
            slack = crop.bottom >= height  # the lowest crop keeps everyone down to the edge
            for detection in self._scan(part, crop.upscale, crop.left, crop.top):
                _left, top, _box_width, box_height = detection.box_ltwh
                foot_row = top + box_height
                if slack or foot_row <= crop.foot_bottom + 0.1 * box_height:
                    found.append(detection)
        return _nms(found, self.nms_iou)

    def _scan(
        self, image: np.ndarray, upscale: float, offset_x: int, offset_y: int
    ) -> list[Detection]:
        """Detections in ``image`` scanned at ``upscale``, boxes in frame pixels."""
        config = self.config
        if upscale != 1.0:
            image = cv2.resize(image, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_LINEAR)
        if image.shape[0] < 128 or image.shape[1] < 64:
            return []
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
            left, top, width, height = (float(value) / upscale for value in box)
            left, top = left + offset_x, top + offset_y
            window = (left, top, width, height)
            in_left, in_top, in_width, in_height = PERSON_IN_WINDOW
            left += in_left * width
            top += in_top * height
            width *= in_width
            height *= in_height
            detections.append(
                Detection(
                    (left, top, width, height),
                    confidence,
                    "person",
                    None,
                    self.kind,
                    foot_sigma_px=FOOT_SIGMA_FRACTION * height,
                    raw_box_ltwh=window,
                )
            )
        return detections


def _nms(detections: list[Detection], iou: float) -> list[Detection]:
    """Greedy non-maximum suppression: highest confidence first, drop boxes overlapping a
    kept one at IoU > ``iou``."""
    if len(detections) < 2:
        return detections
    boxes = np.array([d.box_ltwh for d in detections], dtype=float)
    order = np.argsort([-d.confidence for d in detections], kind="stable")
    x1, y1 = boxes[:, 0], boxes[:, 1]
    x2, y2 = x1 + boxes[:, 2], y1 + boxes[:, 3]
    area = boxes[:, 2] * boxes[:, 3]
    kept: list[int] = []
    for index in order:
        if kept:
            k = np.array(kept)
            inter = np.clip(np.minimum(x2[k], x2[index]) - np.maximum(x1[k], x1[index]), 0, None)
            inter *= np.clip(np.minimum(y2[k], y2[index]) - np.maximum(y1[k], y1[index]), 0, None)
            if np.any(inter / (area[k] + area[index] - inter) > iou):
                continue
        kept.append(int(index))
    return [detections[i] for i in kept]
