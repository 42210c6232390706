"""What a site puts on the floor besides its zones: camera footprints and centres, robots.

Frames: floor metres (x, y; z up) unless stated; image pixels (u right, v down, pixel
centres at integer coordinates) for camera images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import shapely

from safetymon.config.site import SiteConfig
from safetymon.config.zones import ZoneConfig
from safetymon.perception.floor_footprint import floor_footprint
from safetymon.perception.mapping import FloorMapper
from safetymon.viz.reach import Reach, robot_reach


def drawing_order(zones: Sequence[ZoneConfig]) -> list[ZoneConfig]:
    """Zones from largest to smallest area (ties: file order): nested ones stay visible."""
    return sorted(zones, key=lambda zone: -zone.shape().area)


def camera_footprint(mapper: FloorMapper, image_size: tuple[int, int]) -> shapely.Geometry:
    """The floor area (metres) a camera sees: ``floor_footprint(mapper, image_size).polygon``.

    The image outline mapped to the floor, cut a margin below the horizon and where a pixel
    spans more than the range limit (see ``safetymon.perception.floor_footprint``).

    Returns:
        A Polygon or MultiPolygon, empty when the camera sees no usable floor.
    """
    return floor_footprint(mapper, image_size).polygon


def polygon_part(geometry: shapely.Geometry) -> shapely.Geometry:
    """The polygonal part of a geometry (Polygon or MultiPolygon; empty Polygon if none)."""
    parts = [
        part
        for part in shapely.get_parts(geometry)
        if isinstance(part, shapely.Polygon | shapely.MultiPolygon) and not part.is_empty
    ]
    if not parts:
        return shapely.Polygon()
    return shapely.union_all(parts)


@dataclass(frozen=True)
class CameraMark:
    """One camera on the floor plan.

    Attributes:
        id: camera id.
        centre_m: (x, y, z) of the camera centre in floor metres, or None without a pose.
        footprint: floor area seen (Polygon/MultiPolygon, metres), or None when the image
            size is unknown.
        near_point_m: floor point of the bottom-centre pixel (where the footprint's label
            goes), or None.
        note: what is missing, for the legend ("" when nothing is).
    """

    id: str
    centre_m: tuple[float, float, float] | None
    footprint: shapely.Geometry | None
    near_point_m: tuple[float, float] | None
    note: str


@dataclass(frozen=True)
class RobotMark:
    """One robot on the floor plan: base origin (metres, from ``base_pose``) and reach."""

    id: str
    base_m: tuple[float, float]
    reach: Reach
    permitted_zone: str | None


def camera_centre(mapper: FloorMapper) -> tuple[float, float, float] | None:
    """Camera centre ``-Rᵀ t`` in floor metres from the mapper's pose, or None without one."""
    if mapper.pose is None:
        return None
    rotation, _ = cv2.Rodrigues(np.asarray(mapper.pose.rvec, dtype=np.float64))
    centre = -rotation.T @ np.asarray(mapper.pose.tvec, dtype=np.float64)
    return float(centre[0]), float(centre[1]), float(centre[2])


def camera_marks(
    config: SiteConfig,
    base_dir: Path,
    image_sizes: Mapping[str, tuple[int, int]] | None = None,
) -> list[CameraMark]:
    """Every camera's centre and footprint.

    The image size comes from ``image_sizes[camera id]`` if given, else from the camera's
    calibration (``image_size``); without either the footprint is unknown.

    Raises:
        ConfigError: a camera's calibration file is missing or invalid.
        ValueError: an image size in ``image_sizes`` differs from the calibration's.
    """
    marks: list[CameraMark] = []
    sizes = dict(image_sizes or {})
    for camera in config.cameras:
        mapper = FloorMapper.from_camera_config(camera, base_dir)
        size = sizes.get(camera.id, mapper.image_size)
        if size is not None and mapper.image_size is not None and size != mapper.image_size:
            raise ValueError(
                f"camera {camera.id}: image size {size[0]}x{size[1]} differs from its "
                f"calibration's image_size {mapper.image_size[0]}x{mapper.image_size[1]}"
            )
        centre = camera_centre(mapper)
        footprint = near = None
        notes = []
        if size is None:
            notes.append("footprint unknown (no image size)")
        else:
            footprint = camera_footprint(mapper, size)
            bottom = mapper.image_to_floor(np.array([[(size[0] - 1) / 2, size[1] - 1.0]]))[0]
            if np.all(np.isfinite(bottom)):
                near = (float(bottom[0]), float(bottom[1]))
            if footprint.is_empty:
                notes.append("sees no floor")
        if centre is None:
            notes.append("position unknown (no pose)")
        marks.append(CameraMark(camera.id, centre, footprint, near, "; ".join(notes)))
    return marks


def robot_marks(config: SiteConfig, base_dir: Path) -> list[RobotMark]:
    """Every robot's configured base origin and reach bound.

    Raises:
        ValueError: a robot's URDF cannot be read (the message names robot and path).
    """
    marks = []
    for index, robot in enumerate(config.robots):
        try:
            reach = robot_reach(robot, base_dir)
        except ValueError as error:
            raise ValueError(f"robots[{index}] ({robot.id}).{error}") from None
        base = (robot.base_pose.x_m, robot.base_pose.y_m)
        marks.append(RobotMark(robot.id, base, reach, robot.permitted_zone))
    return marks
