"""Simulated walkers and scoring helpers for the tracking tests (floor frame, metres, s).

Imported by the tracking tests and benchmarks/bench_tracking.py; test_tracking_sim.py checks
the scorer itself.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from safetymon.perception.tracking import FloorObservation, MultiCameraTracker
from safetymon.safety.inputs import HumanBatch


def observe(
    camera: str,
    time_s: float,
    points: np.ndarray,
    rng: np.random.Generator,
    noise_m: float = 0.05,
    offset: tuple[float, float] = (0.0, 0.0),
    label: str = "person",
    uncertainty_m: float | None = None,
) -> list[FloorObservation]:
    """Noisy observations of true floor points (N, 2) by one camera frame.

    ``uncertainty_m`` is the 1-sigma the camera states (default: the noise, at least 2 cm).
    """
    return [
        FloorObservation(
            camera_id=camera,
            time_s=time_s,
            xy=(
                float(x + offset[0] + rng.normal(0.0, noise_m)),
                float(y + offset[1] + rng.normal(0.0, noise_m)),
            ),
            uncertainty_m=max(noise_m, 0.02) if uncertainty_m is None else uncertainty_m,
            radius_m=0.3,
            confidence=0.9,
            label=label,  # type: ignore[arg-type]
        )
        for x, y in np.reshape(points, (-1, 2))
    ]


def nearest_distance(batch: HumanBatch, point: np.ndarray) -> float:
    """Distance (m) from a point to the nearest reported human (inf if none)."""
    if batch.count == 0:
        return float("inf")
    return float(np.min(np.hypot(*(batch.xy - point).T)))


class IdentityScore:
    """MOT-style identity switches: ground truth matched to reports within ``match_m``."""

    def __init__(self, match_m: float = 1.0) -> None:
        self.match_m = match_m
        self.last: dict[int, int] = {}
        self.switches = 0
        self.matched = 0
        self.unmatched = 0

    def add(self, truth_ids: np.ndarray, truth_xy: np.ndarray, batch: HumanBatch) -> None:
        """Score one frame."""
        if batch.count == 0:
            self.unmatched += len(truth_ids)
            return
        distance = np.hypot(
            truth_xy[:, None, 0] - batch.xy[None, :, 0], truth_xy[:, None, 1] - batch.xy[None, :, 1]
        )
        rows, cols = linear_sum_assignment(np.where(distance <= self.match_m, distance, 1e6))
        good = distance[rows, cols] <= self.match_m
        self.unmatched += len(truth_ids) - int(np.count_nonzero(good))
        for row, col in zip(rows[good], cols[good], strict=True):
            truth = int(truth_ids[row])
            track = int(batch.track_ids[col])
            self.matched += 1
            if truth in self.last and self.last[truth] != track:
                self.switches += 1
            self.last[truth] = track


def run_walkers(
    tracker: MultiCameraTracker,
    paths: np.ndarray,
    fps: float,
    rng: np.random.Generator,
    noise_m: float,
) -> tuple[IdentityScore, float]:
    """Feed (frames, people, 2) true paths from one camera; identity score and the largest
    distance from a true position to its nearest reported human."""
    score = IdentityScore()
    worst = 0.0
    for frame, points in enumerate(paths):
        time_s = frame / fps
        tracker.update(observe("cam", time_s, points, rng, noise_m), time_s)
        batch = tracker.humans_at(time_s + 0.01)
        score.add(np.arange(len(points)), points, batch)
        worst = max(worst, *(nearest_distance(batch, p) for p in points))
    return score, worst
