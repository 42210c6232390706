"""The detector interface: one frame in (camera pixels, BGR), detections out.

Every detector returns boxes in the pixel frame of the image it was given (x to the right,
y down, origin at the top-left pixel corner) and raises `DetectorError` on any failure, so
the monitor can turn it into a STOP with reason DETECTOR_FAULT.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Literal

import numpy as np

Label = Literal["person", "foreground"]

# COCO-17 keypoint indices of the ankles (the pose models' order).
LEFT_ANKLE = 15
RIGHT_ANKLE = 16


class DetectorError(RuntimeError):
    """A detector could not process a frame (or could not be built)."""


class CameraImageError(DetectorError):
    """The frame itself is unusable, not the detector: the camera's fault (CAMERA_FAULT).

    For example a change across most of the image against the empty-cell reference (lights
    switched, the camera moved or covered): that is not a crowd of people, and placing its
    blobs on the floor as obstacles would hide the real cause.
    """


@dataclass(frozen=True)
class Detection:
    """One detected person or foreground blob in camera pixels.

    Attributes:
        box_ltwh: (left, top, width, height) in pixels of the detector's input frame.
        confidence: detector score in [0, 1] (for `foreground`, the box's fill ratio).
        label: "person" (a classifier said so) or "foreground" (something unknown occupies
            the space: class-agnostic, but still an obstacle to count).
        keypoints: (K, 3) array of (x px, y px, confidence) in COCO-17 order, or None.
        source: the detector kind that produced it ("hog", "foreground", "yolo", "onnx").
        foot_sigma_px: 1-sigma error of the box's bottom-centre as the foot point, pixels,
            as measured for this detector against ground truth (``bench_foot_points.py``);
            None: not measured, the floor mapper's default applies.
        raw_box_ltwh: the detector's own box before its box-to-person trim (pixels), or
            None when the box was not trimmed.
    """

    box_ltwh: tuple[float, float, float, float]
    confidence: float
    label: Label
    keypoints: np.ndarray | None = None
    source: str = ""
    foot_sigma_px: float | None = None
    raw_box_ltwh: tuple[float, float, float, float] | None = None

    @property
    def box_xyxy(self) -> tuple[float, float, float, float]:
        """(x1, y1, x2, y2) in pixels."""
        left, top, width, height = self.box_ltwh
        return (left, top, left + width, top + height)


def foot_point(detection: Detection, min_keypoint_confidence: float = 0.5) -> tuple[float, float]:
    """Where the person touches the floor, in camera pixels (x, y).

    The midpoint of the ankles when the detection has pose keypoints and both ankles have at
    least `min_keypoint_confidence`; the one confident ankle's x at its own y otherwise; the
    bottom centre of the box when no ankle is confident enough (or there are no keypoints).
    """
    left, top, width, height = detection.box_ltwh
    keypoints = detection.keypoints
    if keypoints is not None and keypoints.shape[0] > RIGHT_ANKLE:
        ankles = keypoints[[LEFT_ANKLE, RIGHT_ANKLE]]
        good = ankles[ankles[:, 2] >= min_keypoint_confidence]
        if good.shape[0] > 0 and np.all(np.isfinite(good[:, :2])):
            return (float(good[:, 0].mean()), float(good[:, 1].max()))
    return (left + width / 2.0, top + height)


def check_frame(frame: object) -> np.ndarray:
    """Return `frame` if it is a usable BGR image, else raise `DetectorError` naming it.

    A usable frame is a uint8 NumPy array of shape (H, W, 3) with H, W >= 16.
    """
    if frame is None:
        raise DetectorError("frame is None (no image)")
    if not isinstance(frame, np.ndarray):
        raise DetectorError(f"frame is a {type(frame).__name__}, not a NumPy image")
    if frame.dtype != np.uint8:
        raise DetectorError(f"frame has dtype {frame.dtype}, expected uint8")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise DetectorError(f"frame has shape {frame.shape}, expected (H, W, 3) BGR")
    if frame.shape[0] < 16 or frame.shape[1] < 16:
        raise DetectorError(f"frame has shape {frame.shape}: too small (under 16 px)")
    return frame


def check_mask(mask: object, frame: np.ndarray, name: str = "ignore_mask") -> np.ndarray | None:
    """Return a (H, W) boolean mask from a uint8/bool mask of the frame's size, or None."""
    if mask is None:
        return None
    if not isinstance(mask, np.ndarray):
        raise DetectorError(f"{name} is a {type(mask).__name__}, not a NumPy array")
    if mask.shape != frame.shape[:2]:
        raise DetectorError(f"{name} has shape {mask.shape}, expected {frame.shape[:2]}")
    if mask.dtype not in (np.uint8, np.bool_):
        raise DetectorError(f"{name} has dtype {mask.dtype}, expected uint8 or bool")
    return mask.astype(bool, copy=False)


class Detector(abc.ABC):
    """A person detector: `detect(frame_bgr)` returns detections or raises DetectorError."""

    kind: str = ""

    def detect(
        self, frame_bgr: np.ndarray, ignore_mask: np.ndarray | None = None
    ) -> list[Detection]:
        """Detect people (or foreground) in one BGR frame.

        Args:
            frame_bgr: (H, W, 3) uint8 image in camera pixels.
            ignore_mask: optional (H, W) uint8/bool mask; nonzero pixels are not to be
                reported as foreground (e.g. the robot's projected silhouette). Detectors
                that classify people ignore it: a person in front of the robot still counts.

        Raises:
            DetectorError: the frame is not a valid image or the detector failed.
        """
        frame = check_frame(frame_bgr)
        mask = check_mask(ignore_mask, frame)
        try:
            detections = self._detect(frame, mask)
        except DetectorError:
            raise
        except Exception as error:  # any library failure is a detector fault
            raise DetectorError(f"{self.kind} detector failed: {error!r}") from error
        # OpenCV's parallel scans return boxes in thread order: sort so that the same frame
        # always gives the same list (replay is deterministic, track ids are reproducible).
        return sorted(detections, key=lambda d: (d.box_ltwh, -d.confidence, d.label))

    @abc.abstractmethod
    def _detect(self, frame: np.ndarray, ignore_mask: np.ndarray | None) -> list[Detection]:
        """Detect on a checked frame; `ignore_mask` is boolean (H, W) or None."""
