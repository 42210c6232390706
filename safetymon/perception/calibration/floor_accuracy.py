"""Floor-mapping accuracy against ground truth: per-box floor errors and their summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


class _Mapper(Protocol):
    def footprints(
        self, boxes_ltwh: np.ndarray, keypoints: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class ErrorSummary:
    """Floor error statistics (metres) over boxes that could be mapped."""

    count: int
    unmapped: int
    median_m: float
    p95_m: float
    rms_m: float
    max_m: float
    within_2_sigma: float
    """Fraction of boxes whose error is at most twice the mapper's stated uncertainty."""

    def line(self) -> str:
        """One human-readable line."""
        return (
            f"n={self.count} (unmapped {self.unmapped})  median {self.median_m:.3f} m  "
            f"p95 {self.p95_m:.3f} m  rms {self.rms_m:.3f} m  max {self.max_m:.3f} m  "
            f"within 2σ {100 * self.within_2_sigma:.1f} %"
        )


def floor_errors(
    mapper: _Mapper, boxes_ltwh: np.ndarray, world_xy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Floor error of each box's footprint against its true floor point.

    Args:
        mapper: a ``FloorMapper`` (anything with its ``footprints``).
        boxes_ltwh: (N, 4) boxes (left, top, width, height), raw pixels.
        world_xy: (N, 2) true floor positions, metres.

    Returns:
        (errors (N,) metres, NaN where the box could not be mapped; stated uncertainty (N,)).
    """
    boxes = np.asarray(boxes_ltwh, dtype=np.float64).reshape(-1, 4)
    truth = np.asarray(world_xy, dtype=np.float64).reshape(-1, 2)
    if len(boxes) != len(truth):
        raise ValueError(f"{len(boxes)} boxes but {len(truth)} world points")
    xy, uncertainty, _radius = mapper.footprints(boxes)
    return np.linalg.norm(xy - truth, axis=1), uncertainty


def summarize(errors_m: np.ndarray, uncertainty_m: np.ndarray | None = None) -> ErrorSummary:
    """Median, 95th percentile, RMS and max of the finite errors (metres)."""
    errors = np.asarray(errors_m, dtype=np.float64)
    finite = np.isfinite(errors)
    good = errors[finite]
    if good.size == 0:
        raise ValueError("no box could be mapped to the floor")
    within = float("nan")
    if uncertainty_m is not None:
        within = float(np.mean(good <= 2 * np.asarray(uncertainty_m, float)[finite]))
    return ErrorSummary(
        count=int(good.size),
        unmapped=int((~finite).sum()),
        median_m=float(np.median(good)),
        p95_m=float(np.percentile(good, 95)),
        rms_m=float(np.sqrt(np.mean(good**2))),
        max_m=float(good.max()),
        within_2_sigma=within,
    )
