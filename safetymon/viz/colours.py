"""The colour table shared by the floor plan and the camera overlay.

Colours are RGB tuples of 0-255 integers; ``bgr`` converts for OpenCV and ``rgb01`` for
matplotlib. Zone fills are blended with ``FILL_ALPHA`` over what lies below them.
"""

from __future__ import annotations

from safetymon.config.zones import ZoneType

RGB = tuple[int, int, int]

ZONE_COLOURS: dict[ZoneType, RGB] = {
    ZoneType.PROTECTIVE: (220, 38, 38),  # red: a person inside stops the robots
    ZoneType.WARNING: (245, 158, 11),  # amber: a person inside slows the robots
    ZoneType.RESTRICTED: (124, 58, 237),  # purple: no robot link may enter
    ZoneType.ENVELOPE: (37, 99, 235),  # blue: a robot's permitted area
}
ROBOT_COLOUR: RGB = (15, 23, 42)
CAMERA_COLOUR: RGB = (75, 85, 99)
TRACK_COLOUR: RGB = (22, 163, 74)
GRID_COLOUR: RGB = (209, 213, 219)
FILL_ALPHA = 0.3
"""Opacity of zone fills (0 transparent, 1 opaque)."""


def zone_colour(zone_type: ZoneType) -> RGB:
    """The RGB colour of a zone type."""
    return ZONE_COLOURS[zone_type]


def bgr(colour: RGB) -> tuple[int, int, int]:
    """An RGB colour in OpenCV's channel order."""
    return colour[2], colour[1], colour[0]


def rgb01(colour: RGB) -> tuple[float, float, float]:
    """An RGB colour as matplotlib's 0-1 floats."""
    return colour[0] / 255.0, colour[1] / 255.0, colour[2] / 255.0


def blend(colour: RGB, below: RGB, alpha: float = FILL_ALPHA) -> tuple[float, float, float]:
    """``colour`` drawn with opacity ``alpha`` over ``below`` (RGB floats 0-255)."""
    r, g, b = (alpha * c + (1.0 - alpha) * u for c, u in zip(colour, below, strict=True))
    return r, g, b
