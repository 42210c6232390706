"""Zone configuration: named floor polygons with a safety meaning."""

from __future__ import annotations

from enum import Enum

import shapely
from pydantic import Field, field_validator
from shapely.validation import explain_validity

from safetymon.config.base import StrictModel

IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class ZoneType(str, Enum):
    """What a zone means to the decision."""

    WARNING = "warning"
    """A person (or unclassified foreground) inside slows the robots (SLOW)."""
    PROTECTIVE = "protective"
    """A person (or unclassified foreground) inside stops the robots (STOP)."""
    RESTRICTED = "restricted"
    """A robot must stay out: any robot link inside stops the robots (STOP)."""
    ENVELOPE = "envelope"
    """A robot's permitted area: the robot naming it must stay inside (STOP otherwise)."""


class ZoneConfig(StrictModel):
    """One zone: a simple polygon on the floor, in floor-frame metres."""

    id: str = Field(pattern=IDENTIFIER_PATTERN, description="Unique zone id.")
    type: ZoneType = Field(description="warning | protective | restricted | envelope.")
    polygon: list[tuple[float, float]] = Field(
        description="Vertices (x, y) in floor metres, in order; closing point optional."
    )
    manual_reset: bool = Field(
        False,
        description=(
            "A STOP caused by this zone stays latched until an explicit, authenticated reset "
            "after the zone is clear."
        ),
    )
    slow_speed_scale: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="Speed scale while a warning zone is occupied (default: safety setting).",
    )
    description: str = Field("", description="Free text for the safety officer.")

    @field_validator("polygon")
    @classmethod
    def _check_polygon(cls, ring: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if len(ring) > 1 and ring[0] == ring[-1]:
            ring = ring[:-1]
        if len(set(ring)) < 3:
            raise ValueError(f"needs at least 3 distinct points, got {len(set(ring))}")
        polygon = shapely.Polygon(ring)
        if not polygon.is_valid:
            raise ValueError(f"polygon is not valid: {explain_validity(polygon)}")
        if not polygon.exterior.is_simple:
            raise ValueError("polygon boundary is not simple (it crosses itself)")
        if polygon.area <= 0.0:
            raise ValueError("polygon has zero area")
        return ring

    def shape(self) -> shapely.Polygon:
        """The zone as a Shapely polygon in floor metres."""
        return shapely.Polygon(self.polygon)
