"""The robot's silhouette in a camera image, so foreground detection does not see it as a person.

The robot's link capsules (floor frame, metres) come from its newest state; each capsule is
sampled on its surface, projected into the camera with any floor-frame → pixel projection
(a calibrated camera's `FloorMapper.project_points`, or the demo's `SimCamera.project`) and
filled as the convex hull of the projected samples, grown by a margin in pixels.

A robot whose state is stale or missing gives no mask: it may then show as foreground and
be taken for a person near the robot, which is the conservative side (STOP, never RUN).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from safetymon.safety.inputs import RobotSnapshot

Project = Callable[[np.ndarray], np.ndarray]
"""Floor-frame points (N, 3) metres → pixels (N, 2); NaN for points the camera cannot see."""

DEFAULT_MARGIN_PX = 6
"""Growth of the silhouette, pixels: covers the robot's motion between state and frame."""

_AXIS_SAMPLES = 5


def _sphere_directions() -> np.ndarray:
    """(26,) unit directions: the faces, edges and corners of a cube around a sample point."""
    grid = np.array(
        [
            (x, y, z)
            for x in (-1, 0, 1)
            for y in (-1, 0, 1)
            for z in (-1, 0, 1)
            if (x, y, z) != (0, 0, 0)
        ],
        dtype=np.float64,
    )
    return grid / np.linalg.norm(grid, axis=1, keepdims=True)


_DIRECTIONS = _sphere_directions()


def capsule_samples(a: np.ndarray, b: np.ndarray, radius_m: float) -> np.ndarray:
    """(K, 3) points on and around one capsule's surface (floor frame, metres).

    The radius is enlarged by 1/cos(22.5°) so that the hull of the 26 directions encloses
    the sphere at each axis sample.
    """
    t = np.linspace(0.0, 1.0, _AXIS_SAMPLES)[:, None]
    axis = a[None, :] * (1.0 - t) + b[None, :] * t
    grown = radius_m / math.cos(math.radians(22.5))
    return (axis[:, None, :] + grown * _DIRECTIONS[None, :, :]).reshape(-1, 3)


def silhouette(
    project: Project,
    shape: tuple[int, int],
    link_a: np.ndarray,
    link_b: np.ndarray,
    radius_m: np.ndarray,
    margin_px: int = DEFAULT_MARGIN_PX,
) -> np.ndarray:
    """(H, W) bool mask of the capsules as the camera sees them.

    Args:
        project: floor-frame → pixel projection of the camera.
        shape: image (height, width), pixels.
        link_a, link_b: (L, 3) capsule axis endpoints, floor frame, metres.
        radius_m: (L,) capsule radii, metres.
        margin_px: growth of the mask, pixels.
    """
    height, width = shape
    mask = np.zeros((height, width), np.uint8)
    for a, b, radius in zip(
        np.asarray(link_a, np.float64), np.asarray(link_b, np.float64),
        np.asarray(radius_m, np.float64), strict=True,
    ):  # fmt: skip
        uv = np.asarray(project(capsule_samples(a, b, float(radius))), dtype=np.float64)
        uv = uv[np.all(np.isfinite(uv), axis=1)]
        if len(uv) < 3:
            continue  # behind the camera: nothing to hide in this image
        # far outside the image the hull is meaningless for int32 drawing: clip generously
        uv = np.clip(uv, -4.0 * width, 5.0 * width)
        hull = cv2.convexHull(np.round(uv).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 255)
    if margin_px > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin_px + 1,) * 2)
        mask = cv2.dilate(mask, kernel)
    return mask > 0


class RobotMasker:
    """Per camera: the pixels of every robot with a usable state, for the foreground detector.

    Args:
        project: the camera's floor-frame → pixel projection.
        robots: returns the robots' newest snapshots now (the monitor's robot store).
        margin_px: growth of the silhouette, pixels.
    """

    def __init__(
        self,
        project: Project,
        robots: Callable[[], tuple[RobotSnapshot, ...]],
        margin_px: int = DEFAULT_MARGIN_PX,
    ) -> None:
        self._project = project
        self._robots = robots
        self.margin_px = margin_px

    def __call__(self, shape: tuple[int, int]) -> np.ndarray | None:
        """The mask for a frame of ``shape`` (height, width), or None when no robot is known."""
        masks = [
            silhouette(self._project, shape, r.link_a, r.link_b, r.link_radius_m, self.margin_px)
            for r in self._robots()
            if r.problem() is None and math.isfinite(r.age_s)
        ]
        if not masks:
            return None
        return np.logical_or.reduce(masks)
