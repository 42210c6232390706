"""A site's zones projected into one camera's image, for checking them on a real photo.

Frames: floor metres (x, y; z = 0) → raw image pixels (u right, v down, pixel centres at
integer coordinates) through the camera's ``FloorMapper.floor_to_image`` (inverse floor
homography, then the lens model). Each zone is first cut to the floor area the image sees
(``camera_footprint``: the image border mapped to the floor, cut a margin below the horizon
and at the range limit, see ``safetymon.perception.floor_footprint``), so nothing behind the
camera or beyond the horizon is projected; its edges are then subdivided
until every projected step is at most ``MAX_STEP_PX`` long, so lens distortion bends them as
it bends the floor.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import shapely

from safetymon.config.site import SiteConfig
from safetymon.config.zones import ZoneConfig, ZoneType
from safetymon.perception.mapping import FloorMapper
from safetymon.viz import labels
from safetymon.viz.colours import FILL_ALPHA, bgr, zone_colour
from safetymon.viz.scene import camera_footprint, drawing_order, polygon_part

MAX_STEP_PX = 3.0
MAX_SUBDIVISIONS = 16
SHIFT = 4  # sub-pixel bits of cv2 drawing coordinates
FONT, FONT_SCALE, FONT_THICKNESS = cv2.FONT_HERSHEY_SIMPLEX, 0.6, 2


@dataclass(frozen=True)
class ProjectedZone:
    """One zone as the camera sees it (pixels of the raw image).

    Attributes:
        id, type: the zone's id and type.
        fill: closed pixel rings (each (K, 2)) of the zone's visible part; empty when the
            camera does not see the zone.
        edges: pixel polylines (each (K, 2)) of the zone's own edges where visible.
        label_px: (u, v) where the id is written, or None when not visible.
    """

    id: str
    type: ZoneType
    fill: tuple[np.ndarray, ...]
    edges: tuple[np.ndarray, ...]
    label_px: tuple[float, float] | None

    @property
    def visible(self) -> bool:
        """Whether any part of the zone is in the image."""
        return bool(self.fill)


def densify(mapper: FloorMapper, ring_m: np.ndarray, closed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Subdivide a floor polyline (N, 2) metres until projected steps are <= MAX_STEP_PX.

    Returns the floor points (M, 2) and their pixels (M, 2); a step whose end does not
    project (NaN) is not subdivided further.
    """
    points = np.asarray(ring_m, dtype=np.float64).reshape(-1, 2)
    if closed:
        points = np.vstack([points, points[:1]])
    pixels = mapper.floor_to_image(points)
    for _ in range(MAX_SUBDIVISIONS):
        step = np.linalg.norm(np.diff(pixels, axis=0), axis=1)
        split = np.flatnonzero(step > MAX_STEP_PX)  # NaN steps compare False
        if split.size == 0:
            break
        middle = (points[split] + points[split + 1]) / 2
        points = np.insert(points, split + 1, middle, axis=0)
        pixels = np.insert(pixels, split + 1, mapper.floor_to_image(middle), axis=0)
    return points, pixels


def project_zone(
    mapper: FloorMapper, zone: ZoneConfig, footprint: shapely.Geometry
) -> ProjectedZone:
    """The pixels of one zone's visible part in a camera image (see ``ProjectedZone``)."""
    shape = zone.shape()
    visible = shapely.intersection(shape, footprint)
    rings: list[np.ndarray] = []
    for part in shapely.get_parts(visible):
        if not isinstance(part, shapely.Polygon) or part.is_empty or part.area <= 0:
            continue
        for ring in [part.exterior, *part.interiors]:
            _, pixels = densify(mapper, np.asarray(ring.coords)[:-1], closed=True)
            pixels = pixels[np.all(np.isfinite(pixels), axis=1)]
            if len(pixels) < 3:
                continue
            rings.append(pixels)
    edges: list[np.ndarray] = []
    if rings:
        inside_view = footprint.buffer(1e-9)
        floor, pixels = densify(mapper, np.asarray(zone.polygon), closed=True)
        seen = shapely.contains_xy(inside_view, floor[:, 0], floor[:, 1])
        seen &= np.all(np.isfinite(pixels), axis=1)
        for run in _runs(seen):
            if len(run) >= 2:
                edges.append(pixels[run])
    return ProjectedZone(zone.id, zone.type, tuple(rings), tuple(edges), None)


def _runs(mask: np.ndarray) -> list[np.ndarray]:
    """Index arrays of the consecutive True stretches of a boolean vector."""
    padded = np.r_[False, mask, False].astype(np.int8)
    starts = np.flatnonzero(np.diff(padded) == 1)
    ends = np.flatnonzero(np.diff(padded) == -1)
    return [np.arange(s, e) for s, e in zip(starts, ends, strict=True)]


def camera_mapper(config: SiteConfig, camera_id: str, base_dir: Path | str) -> FloorMapper:
    """The floor mapper of the camera ``camera_id``.

    Raises:
        KeyError: no such camera (the message lists the site's camera ids).
        ConfigError: its calibration file is missing or invalid.
    """
    for camera in config.cameras:
        if camera.id == camera_id:
            return FloorMapper.from_camera_config(camera, Path(base_dir))
    ids = ", ".join(camera.id for camera in config.cameras)
    raise KeyError(f"no camera {camera_id!r} in site {config.site!r}; its cameras: {ids}")


def check_frame_size(mapper: FloorMapper, image: np.ndarray, camera_id: str) -> None:
    """Refuse a frame whose size differs from the calibration's ``image_size`` (ValueError)."""
    height, width = image.shape[:2]
    problem = mapper.frame_size_problem(width, height)
    if problem is not None:
        raise ValueError(
            f"camera {camera_id}: {problem}: use a frame of that camera at that resolution"
        )


def project_zones(
    mapper: FloorMapper, zones: list[ZoneConfig], image_size: tuple[int, int]
) -> list[ProjectedZone]:
    """Every zone in drawing order (largest first) as seen in an image of ``image_size``."""
    footprint = camera_footprint(mapper, image_size)
    projected = [project_zone(mapper, zone, footprint) for zone in drawing_order(zones)]
    return place_labels(projected)


def _pixel_shape(zone: ProjectedZone) -> shapely.Geometry:
    """The zone's visible part as a pixel-space polygon (holes ignored)."""
    return polygon_part(
        shapely.make_valid(shapely.MultiPolygon([shapely.Polygon(r) for r in zone.fill]))
    )


def _text_box(text: str, centre: tuple[float, float]) -> labels.Box:
    (width, height), _ = cv2.getTextSize(text, FONT, FONT_SCALE, FONT_THICKNESS)
    half_w, half_h = width / 2 + 2, height / 2 + 3
    return centre[0] - half_w, centre[1] - half_h, centre[0] + half_w, centre[1] + half_h


def place_labels(projected: list[ProjectedZone]) -> list[ProjectedZone]:
    """Each visible zone with ``label_px`` set (``labels.place``; smallest zones first)."""
    shapes = [_pixel_shape(zone) if zone.visible else None for zone in projected]
    taken: list[labels.Box] = []
    result = list(projected)
    for index in reversed(range(len(projected))):
        zone, shape = projected[index], shapes[index]
        part = None if shape is None else _largest_polygon(shape)
        if part is None:
            continue
        above = [s for s in shapes[index + 1 :] if s is not None and not s.is_empty]

        def measure(point: tuple[float, float], text: str = zone.id) -> labels.Box:
            return _text_box(text, point)

        box = measure((0.0, 0.0))
        point, box = labels.place(part, above, measure, taken, (box[3] - box[1]) / 2 + 2)
        taken.append(box)
        result[index] = replace(zone, label_px=point)
    return result


def _largest_polygon(shape: shapely.Geometry) -> shapely.Polygon | None:
    parts = [p for p in shapely.get_parts(shape) if isinstance(p, shapely.Polygon) and p.area > 0]
    return max(parts, key=lambda p: p.area) if parts else None


def draw_projected(
    image: np.ndarray, projected: list[ProjectedZone], alpha: float = FILL_ALPHA
) -> np.ndarray:
    """Draw projected zones on a copy of a BGR image: translucent fills, edges, ids."""
    result = image.copy()
    scale = float(1 << SHIFT)
    for zone in projected:
        if not zone.visible:
            continue
        colour = bgr(zone_colour(zone.type))
        mask = np.zeros(result.shape[:2], np.uint8)
        contours = [np.round(ring * scale).astype(np.int32) for ring in zone.fill]
        cv2.fillPoly(mask, contours, 255, cv2.LINE_AA, SHIFT)
        weight = mask.astype(np.float32)[:, :, None] * (alpha / 255.0)
        blended = result * (1.0 - weight) + np.array(colour, np.float32) * weight
        result = np.round(blended).astype(np.uint8)
        lines = [np.round(edge * scale).astype(np.int32) for edge in zone.edges]
        cv2.polylines(result, lines, False, colour, 2, cv2.LINE_AA, SHIFT)
    for zone in projected:
        if zone.label_px is None:
            continue
        _put_label(result, zone.id, zone.label_px, bgr(zone_colour(zone.type)))
    return result


def _put_label(
    image: np.ndarray, text: str, centre: tuple[float, float], colour: tuple[int, int, int]
) -> None:
    (width, height), _ = cv2.getTextSize(text, FONT, FONT_SCALE, FONT_THICKNESS)
    origin = (round(centre[0] - width / 2), round(centre[1] + height / 2))
    white = (255, 255, 255)
    cv2.putText(image, text, origin, FONT, FONT_SCALE, white, FONT_THICKNESS + 3, cv2.LINE_AA)
    cv2.putText(image, text, origin, FONT, FONT_SCALE, colour, FONT_THICKNESS, cv2.LINE_AA)


def draw_zones_on_image(
    image: np.ndarray,
    config: SiteConfig,
    camera_id: str,
    base_dir: Path | str,
    *,
    alpha: float = FILL_ALPHA,
) -> np.ndarray:
    """The site's zones drawn on a copy of a frame (BGR uint8) of camera ``camera_id``.

    Raises:
        KeyError: unknown camera id (the message lists the ids).
        ConfigError: the camera's calibration file is missing or invalid.
        ValueError: the frame size differs from the calibration's ``image_size``, or the
            image is not a BGR uint8 array.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a BGR uint8 image, got shape {image.shape} {image.dtype}")
    mapper = camera_mapper(config, camera_id, base_dir)
    check_frame_size(mapper, image, camera_id)
    height, width = image.shape[:2]
    return draw_projected(image, project_zones(mapper, config.zones, (width, height)), alpha)
