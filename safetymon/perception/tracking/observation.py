"""One camera's floor observation of a person or of unclassified foreground."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Label = Literal["person", "foreground"]
LABELS: tuple[str, ...] = ("person", "foreground")


@dataclass(frozen=True)
class FloorObservation:
    """A detection mapped to the floor by one camera.

    Attributes:
        camera_id: the configured id of the camera that saw it.
        time_s: capture time of the camera frame, monotonic seconds (all observations of one
            frame share it).
        xy: footprint centre on the floor frame, metres (x, y).
        uncertainty_m: 1-sigma position uncertainty of the floor mapping, metres.
        radius_m: body (footprint) radius, metres.
        confidence: detector confidence in [0, 1].
        label: ``"person"`` (classified) or ``"foreground"`` (unclassified occupancy).
    """

    camera_id: str
    time_s: float
    xy: tuple[float, float]
    uncertainty_m: float
    radius_m: float
    confidence: float
    label: Label = "person"

    def problem(self) -> str | None:
        """Why the tracker must reject this observation (naming field and value), or None."""
        try:
            x, y = (float(value) for value in self.xy)
        except (TypeError, ValueError):
            return f"xy={self.xy!r} is not a pair of numbers"
        checks: tuple[tuple[str, object, bool], ...] = (
            ("time_s", self.time_s, _finite(self.time_s)),
            ("xy", self.xy, math.isfinite(x) and math.isfinite(y)),
            ("uncertainty_m", self.uncertainty_m, _finite(self.uncertainty_m, minimum=0.0)),
            ("radius_m", self.radius_m, _finite(self.radius_m, minimum=0.0)),
            (
                "confidence",
                self.confidence,
                _finite(self.confidence, minimum=0.0) and float(self.confidence) <= 1.0,
            ),
        )
        for name, value, ok in checks:
            if not ok:
                return f"{name}={value!r} is not a finite number in range"
        if self.label not in LABELS:
            return f"label={self.label!r} is not one of {', '.join(LABELS)}"
        if not isinstance(self.camera_id, str) or not self.camera_id:
            return f"camera_id={self.camera_id!r} is not a non-empty string"
        return None


def _finite(value: object, minimum: float | None = None) -> bool:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return math.isfinite(number) and (minimum is None or number >= minimum)
