"""ISO 13855 (2010 form): minimum distance of a protective device from the hazard.

    S = K · T + C      (millimetres; K approach speed in mm/s, T overall stopping time in s)

Rules implemented (cited from public secondary sources on the standard):

- perpendicular approach, detection capability d <= 40 mm: S = 2000·T + 8·(d − 14), at least
  100 mm; when that exceeds 500 mm recompute with K = 1600, then at least 500 mm;
- perpendicular approach, 40 < d <= 70 mm: S = 1600·T + 850;
- single beam: S = 1600·T + 1200;
- parallel approach (horizontal field at height H, H <= 1000 mm and H >= 15·(d − 50)):
  S = 1600·T + (1200 − 0.4·H), with C = 1200 − 0.4·H not below 850 mm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum


class Approach(str, Enum):
    """Direction of approach to the protective device."""

    PERPENDICULAR = "perpendicular"
    PARALLEL = "parallel"
    SINGLE_BEAM = "single-beam"


class Iso13855InputError(ValueError):
    """An input is missing, negative, non-finite or outside the formula's range."""


@dataclass(frozen=True)
class MinimumDistance:
    """Result of the ISO 13855 calculation."""

    minimum_distance_mm: float
    K_mm_per_s: float
    C_mm: float
    rule: str


def _check(name: str, value: float | None) -> float:
    if value is None:
        raise Iso13855InputError(f"{name} is missing")
    value = float(value)
    if not math.isfinite(value) or value < 0.0:
        raise Iso13855InputError(f"{name} must be a finite number >= 0, got {value}")
    return value


def minimum_distance(
    approach: Approach | str,
    stopping_time_s: float,
    resolution_mm: float | None = None,
    height_mm: float | None = None,
) -> MinimumDistance:
    """Minimum distance S in mm for the given approach, stopping time and device data."""
    approach = Approach(approach)
    t = _check("stopping time", stopping_time_s)
    if approach is Approach.SINGLE_BEAM:
        return MinimumDistance(1600.0 * t + 1200.0, 1600.0, 1200.0, "single beam")
    if approach is Approach.PARALLEL:
        h = _check("height", height_mm)
        if h > 1000.0:
            raise Iso13855InputError(f"height must be <= 1000 mm for a parallel approach, got {h}")
        if resolution_mm is not None:
            d = _check("resolution", resolution_mm)
            if h < 15.0 * (d - 50.0):
                raise Iso13855InputError(
                    f"height {h} mm is below 15·(d − 50) = {15.0 * (d - 50.0)} mm for "
                    f"resolution {d} mm"
                )
        c = max(1200.0 - 0.4 * h, 850.0)
        return MinimumDistance(1600.0 * t + c, 1600.0, c, "parallel approach")
    d = _check("resolution", resolution_mm)
    if d < 14.0 or d > 70.0:
        raise Iso13855InputError(
            f"resolution must lie in 14..70 mm for a perpendicular approach, got {d}"
        )
    if d > 40.0:
        return MinimumDistance(1600.0 * t + 850.0, 1600.0, 850.0, "perpendicular, 40 < d <= 70")
    c = 8.0 * (d - 14.0)
    s = 2000.0 * t + c
    if s <= 500.0:
        return MinimumDistance(max(s, 100.0), 2000.0, c, "perpendicular, d <= 40, K = 2000")
    s = 1600.0 * t + c
    return MinimumDistance(max(s, 500.0), 1600.0, c, "perpendicular, d <= 40, K = 1600")
