"""Several detectors on one frame: the union of their detections, duplicates merged.

Boxes are in camera pixels. Two detections overlapping by at least `iou_threshold` are one:
the kept one is a `person` over `foreground`, then one with keypoints, then the higher
confidence; the kept one takes the other's keypoints when it has none, and its box grows to
cover the other's (a conservative footprint: a person box whose feet were cut off by the
classifier's window still reaches the floor where the foreground blob does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from safetymon.perception.detectors.base import Detection, Detector


def box_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (left, top, width, height) boxes in pixels."""
    ax2, ay2 = a[0] + a[2], a[1] + a[3]
    bx2, by2 = b[0] + b[2], b[1] + b[3]
    inter_w = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    inter_h = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0.0 else 0.0


def box_union(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, float, float, float]:
    """Smallest (left, top, width, height) box holding both boxes, pixels."""
    left, top = min(a[0], b[0]), min(a[1], b[1])
    right, bottom = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return (left, top, right - left, bottom - top)


def _rank(detection: Detection) -> tuple[int, int, float]:
    return (
        detection.label == "person",
        detection.keypoints is not None,
        detection.confidence,
    )


def merge_detections(detections: Sequence[Detection], iou_threshold: float) -> list[Detection]:
    """Union of detections with duplicates (IoU >= iou_threshold) merged, strongest kept."""
    kept: list[Detection] = []
    for detection in sorted(detections, key=_rank, reverse=True):
        duplicate = next(
            (
                index
                for index, other in enumerate(kept)
                if box_iou(other.box_ltwh, detection.box_ltwh) >= iou_threshold
            ),
            None,
        )
        if duplicate is None:
            kept.append(detection)
            continue
        strong = kept[duplicate]
        keypoints = strong.keypoints if strong.keypoints is not None else detection.keypoints
        sigmas = [s for s in (strong.foot_sigma_px, detection.foot_sigma_px) if s is not None]
        kept[duplicate] = replace(
            strong,
            box_ltwh=box_union(strong.box_ltwh, detection.box_ltwh),
            keypoints=keypoints,
            foot_sigma_px=max(sigmas) if sigmas else None,
            raw_box_ltwh=None,
        )
    return kept


class CombinedDetector(Detector):
    """Runs every part on the frame; any part's failure is the combination's failure."""

    def __init__(self, parts: Sequence[Detector], iou_threshold: float = 0.5) -> None:
        """Combine `parts` (at least one); duplicates at IoU >= `iou_threshold` merge."""
        if not parts:
            raise ValueError("a combined detector needs at least one part")
        self.parts = tuple(parts)
        self.iou_threshold = iou_threshold
        self.kind = "+".join(part.kind for part in self.parts)

    def _detect(self, frame: np.ndarray, ignore_mask: np.ndarray | None) -> list[Detection]:
        found: list[Detection] = []
        for part in self.parts:
            found.extend(part.detect(frame, ignore_mask))
        return merge_detections(found, self.iou_threshold)
