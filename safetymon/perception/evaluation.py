"""Scoring perception against ground truth (MOTChallenge format), for benchmarks and replay.

Pure functions, no I/O except reading a ground-truth file. Boxes are (left, top, width,
height) in pixels; floor positions are (x, y) in the ground truth's world frame (metres).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclass(frozen=True)
class GroundTruthBox:
    """One ground-truth person in one frame.

    Attributes:
        track_id: the person's id in the sequence.
        box_ltwh: box in pixels (left, top, width, height).
        world_xy: floor position in the world frame (metres), NaN when not given.
        considered: False for rows marked conf 0 (ignored: neither missed nor false positive).
    """

    track_id: int
    box_ltwh: tuple[float, float, float, float]
    world_xy: tuple[float, float]
    considered: bool


def load_mot_ground_truth(path: Path) -> dict[int, list[GroundTruthBox]]:
    """Read a MOTChallenge ``gt.txt`` (frame,id,left,top,width,height,conf,x,y,z).

    Frames are 1-based as in the file. World x/y of -1,-1 (not given) become NaN.

    Raises:
        ValueError: a row that is not 10 (or 9) numeric columns, naming the line.
    """
    frames: dict[int, list[GroundTruthBox]] = defaultdict(list)
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(",")
        try:
            values = [float(field) for field in fields]
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: not numeric: {line!r}") from exc
        if len(values) < 9:
            raise ValueError(f"{path}:{number}: expected 10 columns, got {len(values)}")
        frame, track, left, top, width, height, conf, x, y = values[:9]
        world = (x, y) if (x, y) != (-1.0, -1.0) else (float("nan"), float("nan"))
        frames[int(frame)].append(
            GroundTruthBox(int(track), (left, top, width, height), world, conf > 0)
        )
    return dict(frames)


def iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Intersection over union of every pair of (left, top, width, height) boxes: (A, B)."""
    a = np.asarray(boxes_a, dtype=float).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=float).reshape(-1, 4)
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.minimum(ax2[:, None], bx2[None, :]) - np.maximum(a[:, 0][:, None], b[:, 0][None, :])
    ih = np.minimum(ay2[:, None], by2[None, :]) - np.maximum(a[:, 1][:, None], b[:, 1][None, :])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


@dataclass(frozen=True)
class BoxMatch:
    """Result of matching one frame's detections to its ground truth.

    Attributes:
        pairs: (detection index, ground-truth index) pairs with IoU at or above the threshold.
        true_positives: matched considered ground-truth boxes.
        false_positives: detections matching nothing (matches to ignored boxes don't count).
        false_negatives: considered ground-truth boxes left unmatched.
    """

    pairs: tuple[tuple[int, int], ...]
    true_positives: int
    false_positives: int
    false_negatives: int


def match_boxes(
    detections: np.ndarray, truth: list[GroundTruthBox], iou_threshold: float = 0.5
) -> BoxMatch:
    """One-to-one matching by maximum total IoU (Hungarian), pairs kept at IoU ≥ threshold."""
    detections = np.asarray(detections, dtype=float).reshape(-1, 4)
    truth_boxes = np.array([gt.box_ltwh for gt in truth], dtype=float).reshape(-1, 4)
    pairs: list[tuple[int, int]] = []
    if len(detections) and len(truth_boxes):
        iou = iou_matrix(detections, truth_boxes)
        rows, cols = linear_sum_assignment(-iou)
        pairs = [
            (int(r), int(c)) for r, c in zip(rows, cols, strict=True) if iou[r, c] >= iou_threshold
        ]
    matched_truth = {c for _, c in pairs}
    matched_detections = {r for r, _ in pairs}
    true_positives = sum(1 for c in matched_truth if truth[c].considered)
    false_positives = len(detections) - len(matched_detections)
    considered = sum(1 for gt in truth if gt.considered)
    return BoxMatch(tuple(pairs), true_positives, false_positives, considered - true_positives)


@dataclass
class OccupancyScore:
    """Zone-occupancy decisions against ground truth, counted over frames.

    A frame is *occupied* when a considered ground-truth person's floor position is inside
    the zone, *clear* when no ground-truth person is within ``clear_margin_m`` of it (a body
    has a radius: a person just outside the line may rightly be flagged), and *ambiguous*
    otherwise (not scored).
    """

    occupied_frames: int = 0
    occupied_flagged: int = 0
    clear_frames: int = 0
    clear_flagged: int = 0
    ambiguous_frames: int = 0

    @property
    def recall(self) -> float:
        """Occupied frames the monitor flagged / occupied frames (NaN if none)."""
        return self.occupied_flagged / self.occupied_frames if self.occupied_frames else np.nan

    @property
    def false_alarm_rate(self) -> float:
        """Clear frames the monitor flagged / clear frames (NaN if none)."""
        return self.clear_flagged / self.clear_frames if self.clear_frames else np.nan

    def add(self, truth_inside: bool, truth_near: bool, flagged: bool) -> None:
        """Count one frame: whether ground truth is inside / near the zone, and the flag."""
        if truth_inside:
            self.occupied_frames += 1
            self.occupied_flagged += int(flagged)
        elif not truth_near:
            self.clear_frames += 1
            self.clear_flagged += int(flagged)
        else:
            self.ambiguous_frames += 1
