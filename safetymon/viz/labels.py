"""Where a zone's id goes on the plan: inside the zone, clear of the other labels.

Greedy placement in pixel space: each zone tries, in turn, the point of its area not
covered by zones drawn above it that lies farthest from that area's edges, the same for the
whole zone, then points just inside the middle of each edge. The first candidate whose text
box lies inside the zone and overlaps no earlier label or obstacle wins; failing that, the
first that overlaps nothing; failing that, the first.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np
import shapely
import shapely.ops

Box = tuple[float, float, float, float]  # (x0, y0, x1, y1) in one pixel frame


def _overlaps(box: Box, others: Sequence[Box]) -> bool:
    return any(box[0] < o[2] and o[0] < box[2] and box[1] < o[3] and o[1] < box[3] for o in others)


def _largest(geometry: shapely.Geometry) -> shapely.Polygon | None:
    parts = [p for p in shapely.get_parts(geometry) if isinstance(p, shapely.Polygon)]
    parts = [p for p in parts if not p.is_empty and p.area > 0]
    return max(parts, key=lambda p: p.area) if parts else None


def candidates(
    zone_px: shapely.Polygon, above_px: Sequence[shapely.Polygon], inset_px: float
) -> list[tuple[float, float]]:
    """Candidate label centres (pixels) for one zone, best first.

    Args:
        zone_px: the zone in pixel coordinates.
        above_px: zones drawn above it, in pixel coordinates.
        inset_px: how far inside an edge the edge candidates sit (half the text height).
    """
    points: list[tuple[float, float]] = []
    if above_px:
        free = _largest(shapely.difference(zone_px, shapely.union_all(list(above_px))))
        if free is not None:
            point = shapely.ops.polylabel(free, tolerance=1.0)
            points.append((point.x, point.y))
    point = shapely.ops.polylabel(zone_px, tolerance=1.0)
    points.append((point.x, point.y))
    ring = np.asarray(zone_px.exterior.coords)
    sign = 1.0 if zone_px.exterior.is_ccw else -1.0
    for a, b in itertools.pairwise(ring):
        edge = b - a
        length = float(np.hypot(*edge))
        if length <= 0:
            continue
        normal = sign * np.array([-edge[1], edge[0]]) / length  # points into the polygon
        middle = (a + b) / 2 + normal * inset_px
        points.append((float(middle[0]), float(middle[1])))
    return points


def place(
    zone_px: shapely.Polygon,
    above_px: Sequence[shapely.Polygon],
    measure: Callable[[tuple[float, float]], Box],
    taken: Sequence[Box],
    inset_px: float,
) -> tuple[tuple[float, float], Box]:
    """The chosen label centre (pixels) and its text box.

    ``measure(centre)`` gives the text box when the text is centred there.
    """
    options = [(point, measure(point)) for point in candidates(zone_px, above_px, inset_px)]
    inside = zone_px.buffer(0.5)
    for point, box in options:
        if not _overlaps(box, taken) and inside.contains(shapely.box(*box)):
            return point, box
    for point, box in options:
        if not _overlaps(box, taken):
            return point, box
    return options[0]
