"""One camera frame → detections → floor observations (the per-frame perception step).

Used by the live monitor (one worker thread per camera) and by ``safetymon replay`` (every
frame in order), so both run exactly the same logic. Pure computation on the frame it is
given; it never raises: a failure is returned as the frame's ``fault`` (a STOP cause for
the decision: CAMERA_FAULT for a frame of the wrong size or one the detector finds unusable
(`CameraImageError`, e.g. a lighting change across the image), DETECTOR_FAULT for the rest).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from safetymon.perception.detectors.base import (
    CameraImageError,
    Detection,
    Detector,
    DetectorError,
)
from safetymon.perception.far_range import FarLimit
from safetymon.perception.mapping import FloorMapper
from safetymon.perception.tracking import FloorObservation

MaskSource = Callable[[tuple[int, int]], "np.ndarray | None"]
"""Given the frame's (height, width), the pixels foreground must ignore (the robot), or None."""


@dataclass(frozen=True)
class FrameResult:
    """What one frame produced.

    Attributes:
        camera_id: the camera.
        capture_s: capture time of the frame, monotonic seconds (replay: source time).
        detections: the detector's boxes (camera pixels).
        floor_xy: (N, 2) floor position of each detection, metres (NaN: not placeable).
        uncertainty_m: (N,) position uncertainty, metres.
        radius_m: (N,) body radius, metres.
        observations: the placeable detections as tracker observations.
        fault: why this frame could not be used (detector failure, a detection that cannot
            be placed on the floor, a frame size other than the calibration's), or None. A
            faulty frame still reports what it could.
        camera_fault: the fault lies with the camera's frames, not with detection (a size
            other than the calibration's): the decision's CAMERA_FAULT, not DETECTOR_FAULT.
        detect_s: wall time spent detecting and mapping, seconds.
        map_s: the floor-mapping part of ``detect_s``, seconds.
        robot_dropped: detections dropped because they lay on the robot's silhouette.
        beyond_range: indices of detections not placed because they can only be a person
            beyond the camera's far range (``safetymon.perception.far_range``): reported,
            not a fault.
    """

    camera_id: str
    capture_s: float
    detections: tuple[Detection, ...] = ()
    floor_xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    uncertainty_m: np.ndarray = field(default_factory=lambda: np.zeros(0))
    radius_m: np.ndarray = field(default_factory=lambda: np.zeros(0))
    observations: tuple[FloorObservation, ...] = ()
    fault: str | None = None
    camera_fault: bool = False
    detect_s: float = 0.0
    map_s: float = 0.0
    robot_dropped: int = 0
    beyond_range: tuple[int, ...] = ()

    def split_fault(self) -> tuple[str | None, str | None]:
        """This frame's fault as (camera fault, detector fault), for `CameraStatus`."""
        if self.fault is None:
            return None, None
        return (self.fault, None) if self.camera_fault else (None, self.fault)


class CameraPipeline:
    """Detector plus floor mapper of one camera.

    Args:
        camera_id: the configured camera id.
        detector: the camera's detector.
        mapper: the camera's pixel → floor mapper.
        ignore_mask: optional callable giving the robot's projected silhouette for this
            frame, or None: foreground detection ignores those pixels, and any detection
            whose box is at least ``robot_overlap_drop`` covered by it is dropped (it is the
            robot; HOG and YOLO can take an arm for a person).
        robot_overlap_drop: fraction of a box on the robot beyond which it is dropped.
        far_limit: the camera's far range (``safetymon.perception.far_range``), or None: an
            unplaceable detection small enough to be only a person beyond it is counted in
            ``FrameResult.beyond_range`` instead of making the frame a fault. Without one
            every unplaceable detection is a fault.
    """

    def __init__(
        self,
        camera_id: str,
        detector: Detector,
        mapper: FloorMapper,
        ignore_mask: MaskSource | None = None,
        robot_overlap_drop: float = 0.6,
        far_limit: FarLimit | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.detector = detector
        self.mapper = mapper
        self._ignore_mask = ignore_mask
        self.robot_overlap_drop = robot_overlap_drop
        self.far_limit = far_limit

    def process(self, frame: np.ndarray, capture_s: float) -> FrameResult:
        """Detect and place the people of one frame. Never raises."""
        started = time.perf_counter()
        if isinstance(frame, np.ndarray) and frame.ndim >= 2:  # else the detector refuses it
            problem = self.mapper.frame_size_problem(frame.shape[1], frame.shape[0])
            if problem is not None:  # people would be placed at the wrong scale: a fault
                fault = f"{self.camera_id}: {problem}: refusing to place people with it"
                elapsed = time.perf_counter() - started
                return FrameResult(
                    self.camera_id, capture_s, fault=fault, camera_fault=True, detect_s=elapsed
                )
        try:
            mask = None
            if self._ignore_mask is not None and isinstance(frame, np.ndarray):
                mask = self._ignore_mask(frame.shape[:2])
            detections = tuple(self.detector.detect(frame, ignore_mask=mask))
            dropped = 0
            if mask is not None and detections:
                kept = tuple(
                    d for d in detections if _covered(mask, d.box_ltwh) < self.robot_overlap_drop
                )
                dropped, detections = len(detections) - len(kept), kept
        except DetectorError as exc:  # CameraImageError: the frame, not the detector
            return FrameResult(
                self.camera_id,
                capture_s,
                fault=str(exc),
                camera_fault=isinstance(exc, CameraImageError),
                detect_s=time.perf_counter() - started,
            )
        except Exception as exc:  # a broken mask source or anything else: still a fault
            return FrameResult(
                self.camera_id,
                capture_s,
                fault=f"perception failed: {type(exc).__name__}: {exc}",
                detect_s=time.perf_counter() - started,
            )
        try:
            result = self._place(detections, capture_s, started, time.perf_counter())
            return replace(result, robot_dropped=dropped) if dropped else result
        except Exception as exc:  # malformed keypoints, a broken mapper: the frame is a fault
            return FrameResult(
                self.camera_id,
                capture_s,
                detections,
                fault=f"floor mapping failed: {type(exc).__name__}: {exc}",
                detect_s=time.perf_counter() - started,
            )

    def place(self, detections: tuple[Detection, ...], capture_s: float) -> FrameResult:
        """Place detections made elsewhere (recorded, in this camera's pixels); never raises.

        The floor-mapping half of ``process``, for ``safetymon replay --detections``: no
        frame, so no frame-size check, detector or robot mask; a detection that cannot be
        placed is the frame's fault exactly as in ``process``.
        """
        started = time.perf_counter()
        try:
            return self._place(tuple(detections), capture_s, started, started)
        except Exception as exc:  # a broken mapper: the frame is a fault
            return FrameResult(
                self.camera_id,
                capture_s,
                tuple(detections),
                fault=f"floor mapping failed: {type(exc).__name__}: {exc}",
                detect_s=time.perf_counter() - started,
            )

    def _place(
        self, detections: tuple[Detection, ...], capture_s: float, started: float, mapping: float
    ) -> FrameResult:
        if not detections:
            now = time.perf_counter()
            return FrameResult(
                self.camera_id, capture_s, detect_s=now - started, map_s=now - mapping
            )
        boxes = np.array([d.box_ltwh for d in detections], dtype=np.float64)
        keypoints = _stack_keypoints(detections)
        foot_sigma = np.array(
            [np.nan if d.foot_sigma_px is None else d.foot_sigma_px for d in detections]
        )
        xy, uncertainty, radius = self.mapper.footprints(boxes, keypoints, foot_sigma)
        observations = []
        unplaceable = []
        for index, detection in enumerate(detections):
            if not (np.all(np.isfinite(xy[index])) and np.isfinite(uncertainty[index])):
                unplaceable.append(index)
                continue
            observations.append(
                FloorObservation(
                    camera_id=self.camera_id,
                    time_s=capture_s,
                    xy=(float(xy[index, 0]), float(xy[index, 1])),
                    uncertainty_m=float(uncertainty[index]),
                    radius_m=float(radius[index]),
                    confidence=float(detection.confidence),
                    label=detection.label,
                )
            )
        beyond_range: list[int] = []
        if unplaceable and self.far_limit is not None and keypoints is None:
            # only for boxes that could not be placed (rare), never per placed box; with
            # ankle keypoints the feet are the ankles and the box bottom says nothing
            far = self.far_limit.beyond(boxes[unplaceable])
            beyond_range = [i for i, out in zip(unplaceable, far, strict=True) if out]
            unplaceable = [i for i, out in zip(unplaceable, far, strict=True) if not out]
        fault = None
        if unplaceable:
            boxes_text = ", ".join(
                "[" + ", ".join(f"{v:.0f}" for v in detections[i].box_ltwh) + "]"
                for i in unplaceable[:3]
            )
            fault = (
                f"{len(unplaceable)} detection(s) cannot be placed on the floor (foot point at "
                f"or above the horizon): box {boxes_text}"
            )
        return FrameResult(
            self.camera_id,
            capture_s,
            detections,
            xy,
            uncertainty,
            radius,
            tuple(observations),
            fault,
            time.perf_counter() - started,
            time.perf_counter() - mapping,
            beyond_range=tuple(beyond_range),
        )


def _stack_keypoints(detections: tuple[Detection, ...]) -> np.ndarray | None:
    """(N, K, 3) keypoints when every detection has the same kind of keypoints, else None.

    Detections without keypoints get NaN rows (the mapper then uses their box bottom).
    """
    shapes = {d.keypoints.shape for d in detections if d.keypoints is not None}
    if len(shapes) != 1:
        return None
    shape = shapes.pop()
    stacked = np.full((len(detections), *shape), np.nan)
    for index, detection in enumerate(detections):
        if detection.keypoints is not None:
            stacked[index] = detection.keypoints
    return stacked


def _covered(mask: np.ndarray, box_ltwh: tuple[float, float, float, float]) -> float:
    """Fraction (0..1) of a box's pixels (camera pixels, left-top-width-height) in ``mask``."""
    height, width = mask.shape[:2]
    left, top, box_w, box_h = box_ltwh
    x0, y0 = max(0, int(left)), max(0, int(top))
    x1, y1 = min(width, math.ceil(left + box_w)), min(height, math.ceil(top + box_h))
    area = max(1.0, float(box_w) * float(box_h))
    if x1 <= x0 or y1 <= y0:
        return 0.0
    return float(np.count_nonzero(mask[y0:y1, x0:x1])) / area
