"""Scoring perception against ground truth (MOTChallenge format), for benchmarks and replay.

Pure functions, no I/O except reading a ground-truth file. Boxes are (left, top, width,
height) in pixels; floor positions are (x, y) in the ground truth's world frame (metres).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
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


# --- additions for the perception benchmark and the new-user check --------------------------

HEIGHT_BAND_EDGES_PX: tuple[float, ...] = (60.0, 90.0, 130.0)
"""Edges of the ground-truth person-height bands (box height, pixels of the scored frames)."""

HEIGHT_BAND_LABELS: tuple[str, ...] = ("<60", "60-90", "90-130", ">130")


def height_band(height_px: float, edges: tuple[float, ...] = HEIGHT_BAND_EDGES_PX) -> int:
    """Index of the height band of a box ``height_px`` pixels tall (edge values go up a band)."""
    return int(np.searchsorted(np.asarray(edges, dtype=float), float(height_px), side="right"))


def scale_homography(homography: np.ndarray, scale_x: float, scale_y: float) -> np.ndarray:
    """The pixel → floor homography of frames resized by (``scale_x``, ``scale_y``).

    A pixel (u, v) of the resized frame is (u / scale_x, v / scale_y) of the original, so
    ``H_scaled = H @ diag(1 / scale_x, 1 / scale_y, 1)``; the floor side is unchanged.
    """
    if not (scale_x > 0 and scale_y > 0):
        raise ValueError(f"scale factors must be > 0, got {scale_x}, {scale_y}")
    return np.asarray(homography, dtype=float) @ np.diag([1.0 / scale_x, 1.0 / scale_y, 1.0])


def scale_ground_truth(
    truth: dict[int, list[GroundTruthBox]], scale_x: float, scale_y: float
) -> dict[int, list[GroundTruthBox]]:
    """Ground truth of frames resized by (``scale_x``, ``scale_y``): boxes scaled, world kept."""
    scaled: dict[int, list[GroundTruthBox]] = {}
    for frame, rows in truth.items():
        scaled[frame] = [
            GroundTruthBox(
                row.track_id,
                (
                    row.box_ltwh[0] * scale_x,
                    row.box_ltwh[1] * scale_y,
                    row.box_ltwh[2] * scale_x,
                    row.box_ltwh[3] * scale_y,
                ),
                row.world_xy,
                row.considered,
            )
            for row in rows
        ]
    return scaled


def foot_pixel(box_ltwh: tuple[float, float, float, float]) -> tuple[float, float]:
    """Bottom-centre (u, v) pixel of a (left, top, width, height) box."""
    left, top, width, height = box_ltwh
    return (left + width / 2.0, top + height)


def zone_truth(
    world_points: list[tuple[float, float]], zone: shapely.Polygon, clear_margin_m: float
) -> tuple[bool, bool]:
    """(inside, near) for one frame's ground-truth floor points (metres) and one zone.

    *inside*: some point lies in the zone (its boundary included); *near*: some point lies
    within ``clear_margin_m`` of it (distance to the polygon, 0 inside). Non-finite points
    are skipped.
    """
    inside = near = False
    for x, y in world_points:
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        point = shapely.Point(x, y)
        distance = float(zone.distance(point))
        inside = inside or distance == 0.0
        near = near or distance <= clear_margin_m
    return inside, near


@dataclass
class MarginOccupancy:
    """Zone-occupancy scores of one zone at several clear margins (metres), over frames.

    Occupied frames (and so recall) are the same at every margin; what counts as a *clear*
    frame (no ground-truth person within the margin of the zone) differs.
    """

    zone: shapely.Polygon
    margins_m: tuple[float, ...] = (0.5, 1.0)
    scores: dict[float, OccupancyScore] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for margin in self.margins_m:
            self.scores.setdefault(margin, OccupancyScore())

    def add(self, world_points: list[tuple[float, float]], flagged: bool) -> None:
        """Count one frame: its considered ground-truth floor points and the zone's flag."""
        for margin in self.margins_m:
            inside, near = zone_truth(world_points, self.zone, margin)
            self.scores[margin].add(inside, near, flagged)

    @property
    def recall(self) -> float:
        """Occupied frames flagged / occupied frames (NaN if none)."""
        return self.scores[self.margins_m[0]].recall

    def false_alarm_rate(self, margin_m: float) -> float:
        """Flagged clear frames / clear frames at this margin (NaN if none)."""
        return self.scores[margin_m].false_alarm_rate


@dataclass
class DetectionScore:
    """Detections against ground truth, accumulated over frames.

    Counts IoU matches (see :func:`match_boxes`), recall per ground-truth height band, and
    for matched detections with a finite world position the floor error (metres) and the
    error as a multiple of the detection's stated 1-sigma uncertainty.
    """

    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    band_truth: list[int] = field(default_factory=lambda: [0] * len(HEIGHT_BAND_LABELS))
    band_found: list[int] = field(default_factory=lambda: [0] * len(HEIGHT_BAND_LABELS))
    floor_errors_m: list[float] = field(default_factory=list)
    sigma_ratios: list[float] = field(default_factory=list)

    def add(
        self,
        match: BoxMatch,
        truth: list[GroundTruthBox],
        floor_xy: np.ndarray | None = None,
        uncertainty_m: np.ndarray | None = None,
    ) -> None:
        """Count one frame's match; ``floor_xy`` (N, 2) m and ``uncertainty_m`` (N,) m optional.

        Floor errors are taken only where both the detection's floor point and the matched
        considered ground truth's world position are finite; sigma ratios only where the
        stated uncertainty is finite and > 0.
        """
        self.true_positives += match.true_positives
        self.false_positives += match.false_positives
        self.false_negatives += match.false_negatives
        matched = {gt: det for det, gt in match.pairs}
        for index, row in enumerate(truth):
            if not row.considered:
                continue
            band = height_band(row.box_ltwh[3])
            self.band_truth[band] += 1
            if index in matched:
                self.band_found[band] += 1
        if floor_xy is None:
            return
        floor = np.asarray(floor_xy, dtype=float).reshape(-1, 2)
        for gt_index, det in matched.items():
            row = truth[gt_index]
            world = np.asarray(row.world_xy, dtype=float)
            if not (row.considered and np.all(np.isfinite(world))):
                continue
            if not np.all(np.isfinite(floor[det])):
                continue
            error = float(np.linalg.norm(floor[det] - world))
            self.floor_errors_m.append(error)
            if uncertainty_m is not None:
                sigma = float(np.asarray(uncertainty_m, dtype=float)[det])
                if np.isfinite(sigma) and sigma > 0:
                    self.sigma_ratios.append(error / sigma)

    @property
    def recall(self) -> float:
        """Matched considered ground truth / considered ground truth (NaN if none)."""
        total = self.true_positives + self.false_negatives
        return self.true_positives / total if total else np.nan

    @property
    def precision(self) -> float:
        """Matched detections / detections (NaN if none)."""
        total = self.true_positives + self.false_positives
        return self.true_positives / total if total else np.nan

    def band_recall(self, band: int) -> float:
        """Recall within one height band (NaN if that band has no ground truth)."""
        total = self.band_truth[band]
        return self.band_found[band] / total if total else np.nan

    @property
    def floor_median_m(self) -> float:
        """Median floor error of matched detections, metres (NaN if none)."""
        return float(np.median(self.floor_errors_m)) if self.floor_errors_m else np.nan

    def within_sigma(self, k: float) -> float:
        """Fraction of matched detections whose floor error is <= k x stated uncertainty."""
        if not self.sigma_ratios:
            return np.nan
        return float(np.mean(np.asarray(self.sigma_ratios) <= k))


def target_verdict(value: float, target: float, at_most: bool) -> str:
    """'met' or 'missed by X' (X = the shortfall, same unit as ``value``); 'n/a' for NaN."""
    if not np.isfinite(value):
        return "n/a"
    shortfall = value - target if at_most else target - value
    return "met" if shortfall <= 0 else f"missed by {shortfall:.3g}"


def score_replay_records(
    records: list[dict],
    truth: dict[int, list[GroundTruthBox]],
    *,
    first_frame: int = 1,
    zone: shapely.Polygon | None = None,
    zone_id: str | None = None,
    margins_m: tuple[float, ...] = (0.5, 1.0),
    iou_threshold: float = 0.5,
) -> tuple[DetectionScore, MarginOccupancy | None, int]:
    """Score ``safetymon replay`` JSON lines (``step_record`` objects) against ground truth.

    Record ``frame`` i (0-based) is ground-truth frame ``first_frame + i``. Detections are the
    records' ``detections[*].box`` (pixels) and ``floor`` (metres, null: not placed); the
    zone flag is ``zones[zone_id]`` (the decision's occupancy of that zone). Returns the
    detection score, the zone score (None without a zone) and the number of records with
    ``faults``.

    Raises:
        ValueError: a zone without ``zone_id``, or a record without the zone's flag.
    """
    if (zone is None) != (zone_id is None):
        raise ValueError("zone and zone_id go together")
    detections = DetectionScore()
    occupancy = MarginOccupancy(zone, margins_m) if zone is not None else None
    faulty = 0
    for record in records:
        rows = truth.get(first_frame + int(record["frame"]), [])
        boxes = np.array([d["box"] for d in record["detections"]], dtype=float).reshape(-1, 4)
        floor = np.array(
            [d["floor"] if d["floor"] is not None else [np.nan, np.nan]
             for d in record["detections"]],
            dtype=float,
        ).reshape(-1, 2)  # fmt: skip
        detections.add(match_boxes(boxes, rows, iou_threshold), rows, floor)
        faulty += int(bool(record.get("faults")))
        if occupancy is not None:
            if zone_id not in record["zones"]:
                raise ValueError(f"record of frame {record['frame']} has no zone {zone_id!r}")
            points = [row.world_xy for row in rows if row.considered]
            occupancy.add(points, bool(record["zones"][zone_id]))
    return detections, occupancy, faulty
