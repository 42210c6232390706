"""The floor area a camera sees (its footprint) and whether its floor mapping is usable.

Frames: raw image pixels (u right, v down, pixel centres at integer coordinates) of an image
of ``image_size`` (width, height); undistorted pixels (lens model removed, same K); floor
metres (x, y; z up). The mapper's homography is already normalised (norm 1, ``w > 0`` on the
floor side; see ``safetymon.perception.mapping``).

The footprint is the part of the image that sees the floor, cut twice, and mapped to the
floor:

- at the horizon with a margin: only pixels at least ``horizon_margin_px`` undistorted pixels
  below the horizon line ``w = 0`` count (``w`` is linear in the pixel, so the distance to
  the line is ``w / |H[2, :2]|``);
- at a maximum useful range: beyond the image line parallel to the horizon past which some
  pixel spans more than ``max_m_per_px`` metres on the floor (largest singular value of
  d(x, y)/d(u, v), lens included), a foot point is too coarse to place anyone (a 3-pixel foot
  error is then > 1.5 m).

The cut image region (a half-plane of the undistorted image outline) maps to a floor polygon
through the homography (lines stay lines, the outline is sampled ``BORDER_SAMPLES`` times per
edge so lens distortion bends it).

A mapping is refused (``problems``) when: it is ill-conditioned (``reciprocal_condition`` on
pixel coordinates scaled to ~[0, 1] below ``min_reciprocal_condition``); no part of the image
sees the floor; every pixel that sees it is coarser than the range limit (not metres?); the
footprint reaches farther than ``max_distance_m`` from the floor origin; or, with the floor
side known from the image (bottom row), the floor frame comes out left-handed (``det H > 0``):
a mirrored floor frame or a camera that sees no floor at all (tilted up or upside down, its
"floor" is the ray's extension behind the camera) - both look the same in ``H``. Without an
image size only the conditioning and an affine mapping that puts the whole image plane above
the horizon can be checked.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import shapely

from safetymon.perception.calibration.floor import apply_homography, reciprocal_condition
from safetymon.perception.mapping import FloorMapper

BORDER_SAMPLES = 256
"""Points per image edge when the image outline is mapped to the floor."""
GRID_SAMPLES = 160
"""Samples along the longer image side when the pixel scale (m per pixel) is measured."""


@dataclass(frozen=True)
class FootprintLimits:
    """Where a footprint is cut and when a mapping is refused.

    Attributes:
        horizon_margin_px: pixels closer than this to the horizon line do not count (px).
        max_m_per_px: the far cut: a pixel spanning more floor than this is out of range (m).
        max_distance_m: a footprint point farther than this from the floor origin means the
            mapping is not in metres or is wrong (m).
        min_reciprocal_condition: below this ``reciprocal_condition`` the matrix is
            (nearly) singular.
    """

    horizon_margin_px: float = 5.0
    max_m_per_px: float = 0.5
    max_distance_m: float = 1000.0
    min_reciprocal_condition: float = 1e-6


@dataclass(frozen=True)
class FloorFootprint:
    """What one camera sees of the floor.

    Attributes:
        polygon: floor area seen (shapely Polygon/MultiPolygon, metres); empty when unknown
            (no image size) or none.
        image_size: (width, height) pixels it was computed for, or None.
        rows_px: (top, bottom) raw image rows of the part that sees floor, or None.
        far_edge: what cuts the footprint's far side: "image border", "horizon" (the margin)
            or "range" (the m-per-pixel limit); "" when there is no footprint.
        reach_m: farthest footprint point from ``reach_from``'s point (metres), or None.
        reach_from: "camera" (the camera's foot point, from its pose) or "bottom centre"
            (the floor point of the image's bottom-centre pixel).
        problems: why the mapping cannot be used (each a sentence); empty when usable.
        notes: what could not be checked.
        limits: the limits used.
    """

    polygon: shapely.Geometry
    image_size: tuple[int, int] | None
    rows_px: tuple[float, float] | None
    far_edge: str
    reach_m: float | None
    reach_from: str
    problems: tuple[str, ...]
    notes: tuple[str, ...]
    limits: FootprintLimits

    @property
    def area_m2(self) -> float:
        """Floor area seen, square metres."""
        return float(self.polygon.area)

    def describe(self) -> str:
        """One line: extent, area, rows that see floor, reach, what cuts the far side."""
        if self.polygon.is_empty or self.rows_px is None or self.image_size is None:
            return "footprint unknown" if self.image_size is None else "sees no usable floor"
        x0, y0, x1, y1 = self.polygon.bounds
        top, bottom = self.rows_px
        cut = {
            "image border": "far side: image border",
            "horizon": f"far side cut {self.limits.horizon_margin_px:g} px below the horizon",
            "range": f"far side cut where a pixel spans > {self.limits.max_m_per_px:g} m",
        }[self.far_edge]
        reach = ""
        if self.reach_m is not None:
            origin = "the camera" if self.reach_from == "camera" else "the bottom-centre pixel"
            reach = f", reaches {self.reach_m:.1f} m from {origin}"
        return (
            f"floor x {x0:.2f}..{x1:.2f} m, y {y0:.2f}..{y1:.2f} m, area {self.area_m2:.1f} m², "
            f"image rows {top:.0f}-{bottom:.0f} of {self.image_size[1]} see floor{reach}; {cut}"
        )


def floor_footprint(
    mapper: FloorMapper,
    image_size: tuple[int, int] | None = None,
    limits: FootprintLimits | None = None,
) -> FloorFootprint:
    """The footprint of ``mapper`` for images of ``image_size`` (default its own).

    See the module docstring for the cuts and the refusals. Never raises for a bad mapping:
    the reasons are in ``problems``.

    Raises:
        ValueError: ``image_size`` is under 2x2 pixels.
    """
    limits = limits or FootprintLimits()
    size = image_size if image_size is not None else mapper.image_size
    h = mapper.homography
    problems: list[str] = []
    ratio = reciprocal_condition(h, size)
    if ratio < limits.min_reciprocal_condition:
        problems.append(
            f"the floor homography is ill-conditioned (reciprocal condition {ratio:.1e} < "
            f"{limits.min_reciprocal_condition:g} on pixels scaled to [0, 1]): nearly singular, "
            "pixels map to absurd distances; refit it from points spread over the floor"
        )
        if size is not None:  # the other checks mean nothing for a (nearly) singular matrix
            return _empty(size, problems, limits)
    if size is None:
        return _without_size(mapper, problems, limits)
    width, height = size
    if width < 2 or height < 2:
        raise ValueError(f"image size must be at least 2x2 pixels, got {width}x{height}")
    if mapper.floor_side_rule == "image" and np.linalg.det(h) > 0:
        problems.append(
            "with the image's lower rows on the floor the floor frame comes out mirrored "
            "(left-handed): either the floor frame is mirrored (x, y, z up must be "
            "right-handed: negate or swap one floor axis of the points) or the image sees no "
            "floor at all (camera tilted up or upside down: all of it is above the horizon)"
        )
    slope = float(np.linalg.norm(h[2, :2]))
    horizon_w = limits.horizon_margin_px * slope
    grid = _grid(size)
    _mapped, w = apply_homography(h, mapper.undistort(grid))
    sees = w > horizon_w
    if not np.any(sees):
        problems.append(
            "no part of the image sees the floor: all of it lies at or above the horizon "
            f"(or within {limits.horizon_margin_px:g} px of it)"
        )
        return _empty(size, problems, limits)
    scale = np.linalg.svd(mapper.jacobian(grid[sees]), compute_uv=False)[:, 0]
    coarse = ~(scale <= limits.max_m_per_px)  # NaN (at the horizon) is coarse too
    if np.all(coarse):
        problems.append(
            f"every pixel that sees the floor spans more than {limits.max_m_per_px:g} m "
            f"(finest {np.nanmin(scale):.3g} m per pixel): the mapping is not in metres, or "
            "the camera is too far from its floor to place anyone"
        )
        return _empty(size, problems, limits)
    range_w = float(np.max(w[sees][coarse])) if np.any(coarse) else -np.inf
    cut = max(horizon_w, range_w)
    if range_w > horizon_w:
        far_edge = "range"
    elif np.any(~sees):
        far_edge = "horizon"
    else:
        far_edge = "image border"
    outline = mapper.undistort(_border(size))
    region = _clip_half_plane(outline, h[2], cut)
    if len(region) < 3:
        problems.append("no part of the image sees the floor within the range limit")
        return _empty(size, problems, limits)
    floor, _w = apply_homography(h, region)
    polygon = _polygon_part(shapely.make_valid(shapely.Polygon(floor)))
    farthest = float(np.max(np.linalg.norm(floor, axis=1)))
    if farthest > limits.max_distance_m:
        problems.append(
            f"the footprint reaches {farthest:.3g} m from the floor origin (more than "
            f"{limits.max_distance_m:g} m): the mapping is not in metres or is wrong"
        )
    rows = mapper.distort(region)[:, 1]
    rows_px = (float(max(np.nanmin(rows), 0.0)), float(min(np.nanmax(rows), height - 1.0)))
    reach_m, reach_from = _reach(mapper, size, floor)
    return FloorFootprint(
        polygon, tuple(size), rows_px, far_edge, reach_m, reach_from, tuple(problems), (),
        limits,
    )  # fmt: skip


def refusals(mapper: FloorMapper, limits: FootprintLimits | None = None) -> list[str]:
    """Why ``mapper`` cannot be used (``floor_footprint(...).problems``); empty if usable."""
    return list(floor_footprint(mapper, None, limits).problems)


def _without_size(
    mapper: FloorMapper, problems: list[str], limits: FootprintLimits
) -> FloorFootprint:
    h = mapper.homography
    # an affine mapping (no horizon): w has one sign over the whole image plane
    affine = float(np.linalg.norm(h[2, :2])) * 1e4 <= abs(float(h[2, 2]))
    if affine and h[2, 2] <= 0:
        problems.append(
            "no pixel sees the floor: this mapping has no horizon, and with a right-handed "
            "floor frame (x, y, z up; the rule without an image_size) the whole image lies "
            "on the far side; the floor frame is probably mirrored (negate or swap one floor "
            "axis)"
        )
    note = (
        "footprint unknown: no image_size (give cameras[].image_size); the floor side is taken "
        "from a right-handed floor frame, so a mirrored frame cannot be detected"
    )
    return FloorFootprint(
        shapely.Polygon(), None, None, "", None, "", tuple(problems), (note,), limits
    )


def _empty(size: tuple[int, int], problems: list[str], limits: FootprintLimits) -> FloorFootprint:
    return FloorFootprint(
        shapely.Polygon(), tuple(size), None, "", None, "", tuple(problems), (), limits
    )


def _grid(size: tuple[int, int]) -> np.ndarray:
    """Raw pixel centres (N, 2) on a grid of about GRID_SAMPLES along the longer side."""
    width, height = size
    step = max(1.0, max(width, height) / GRID_SAMPLES)
    u = np.unique(np.r_[np.arange(0.0, width - 1.0, step), width - 1.0])
    v = np.unique(np.r_[np.arange(0.0, height - 1.0, step), height - 1.0])
    uu, vv = np.meshgrid(u, v)
    return np.c_[uu.ravel(), vv.ravel()]


def _border(size: tuple[int, int]) -> np.ndarray:
    """The image outline (pixel centres of the outermost rows and columns), clockwise."""
    width, height = size
    u = np.linspace(0.0, width - 1.0, BORDER_SAMPLES)
    v = np.linspace(0.0, height - 1.0, BORDER_SAMPLES)
    top = np.c_[u, np.zeros_like(u)]
    right = np.c_[np.full_like(v, width - 1.0), v]
    bottom = np.c_[u[::-1], np.full_like(u, height - 1.0)]
    left = np.c_[np.zeros_like(v), v[::-1]]
    return np.vstack([top[:-1], right[:-1], bottom[:-1], left[:-1]])


def _clip_half_plane(ring: np.ndarray, line: np.ndarray, cut: float) -> np.ndarray:
    """The part of a closed ring (N, 2) where ``line @ (u, v, 1) >= cut`` (Sutherland-Hodgman).

    Non-finite ring points (an undistortion that failed) are dropped first.
    """
    ring = ring[np.all(np.isfinite(ring), axis=1)]
    if len(ring) == 0:
        return ring
    value = np.c_[ring, np.ones(len(ring))] @ line - cut
    kept: list[np.ndarray] = []
    for index in range(len(ring)):
        current, following = ring[index], ring[(index + 1) % len(ring)]
        a, b = value[index], value[(index + 1) % len(ring)]
        if a >= 0:
            kept.append(current)
        if (a >= 0) != (b >= 0):
            kept.append(current + (following - current) * (a / (a - b)))
    return np.asarray(kept).reshape(-1, 2)


def _polygon_part(geometry: shapely.Geometry) -> shapely.Geometry:
    """The polygonal part of a geometry (Polygon or MultiPolygon; empty Polygon if none)."""
    parts = [
        part
        for part in shapely.get_parts(geometry)
        if isinstance(part, shapely.Polygon | shapely.MultiPolygon) and not part.is_empty
    ]
    if not parts:
        return shapely.Polygon()
    return shapely.union_all(parts)


def _reach(
    mapper: FloorMapper, size: tuple[int, int], floor: np.ndarray
) -> tuple[float | None, str]:
    """Farthest footprint point from the camera's foot point (pose) or the bottom centre."""
    if mapper.pose is not None:
        rotation, _ = cv2.Rodrigues(np.asarray(mapper.pose.rvec, dtype=np.float64))
        origin = (-rotation.T @ np.asarray(mapper.pose.tvec, dtype=np.float64))[:2]
        source = "camera"
    else:
        width, height = size
        origin = mapper.image_to_floor(np.array([[(width - 1) / 2, height - 1.0]]))[0]
        source = "bottom centre"
    if not np.all(np.isfinite(origin)):
        return None, ""
    return float(np.max(np.linalg.norm(floor - origin, axis=1))), source
