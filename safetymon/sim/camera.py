"""A pinhole camera for the simulated work cell (no lens distortion).

Frames: the floor frame is metres with x east, y north, z up (the site's frame). The camera
frame follows OpenCV: x right, y down, z forward (optical axis), metres. Pixels are (u, v)
with u to the right and v down, the centre of the top-left pixel at (0, 0).

Example:
    >>> cam = SimCamera.look_at((1.0, -4.0, 3.5), (1.0, 0.5, 0.0), hfov_rad=1.3)
    >>> uv = cam.project([[1.0, 0.5, 0.0]])  # the look-at point lands on the principal point
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

#: A forward axis closer than this (|cos|) to vertical uses north as the image "up" hint.
_VERTICAL_COS = 0.999


def _finite_vector(value: Any, name: str, size: int) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    if array.shape != (size,) or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be {size} finite numbers, got {value!r}")
    return array


@dataclass(frozen=True)
class SimCamera:
    """An ideal pinhole camera placed in the floor frame.

    Attributes:
        position: (3,) camera centre in the floor frame, metres.
        rotation: (3, 3) rotation floor frame → camera frame (rows: camera x, y, z axes
            expressed in floor coordinates).
        focal_px: focal length in pixels (square pixels).
        image_size: (width, height) in pixels.
    """

    position: np.ndarray
    rotation: np.ndarray
    focal_px: float
    image_size: tuple[int, int] = (640, 480)
    _K: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        position = _finite_vector(self.position, "position", 3)
        rotation = np.asarray(self.rotation, dtype=np.float64)
        if rotation.shape != (3, 3) or not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-9):
            raise ValueError(f"rotation must be a 3x3 rotation matrix, got {self.rotation!r}")
        if not (math.isfinite(self.focal_px) and self.focal_px > 0):
            raise ValueError(f"focal_px must be a positive finite number, got {self.focal_px!r}")
        width, height = self.image_size
        if int(width) != width or int(height) != height or width < 2 or height < 2:
            raise ValueError(f"image_size must be two integers >= 2, got {self.image_size!r}")
        object.__setattr__(self, "position", position)
        object.__setattr__(self, "rotation", rotation)
        object.__setattr__(self, "image_size", (int(width), int(height)))
        K = np.array(
            [
                [self.focal_px, 0.0, (width - 1) / 2.0],
                [0.0, self.focal_px, (height - 1) / 2.0],
                [0.0, 0.0, 1.0],
            ]
        )
        object.__setattr__(self, "_K", K)

    @classmethod
    def look_at(
        cls,
        position: Any,
        target: Any,
        hfov_rad: float,
        image_size: tuple[int, int] = (640, 480),
    ) -> SimCamera:
        """A camera at ``position`` (floor metres) whose optical axis passes through ``target``.

        The image's horizontal field of view is ``hfov_rad`` radians. Image "up" is the floor
        frame's +z (north, +y, when the camera looks straight down).
        """
        eye = _finite_vector(position, "position", 3)
        aim = _finite_vector(target, "target", 3)
        if not (math.isfinite(hfov_rad) and 0.0 < hfov_rad < math.pi):
            raise ValueError(f"hfov_rad must be in (0, pi), got {hfov_rad!r}")
        forward = aim - eye
        norm = float(np.linalg.norm(forward))
        if norm < 1e-9:
            raise ValueError(f"target must differ from position, got {target!r}")
        forward /= norm
        up = np.array([0.0, 0.0, 1.0])
        if abs(float(forward @ up)) > _VERTICAL_COS:
            up = np.array([0.0, 1.0, 0.0])
        right = np.cross(forward, up)
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        rotation = np.stack([right, down, forward])
        focal = (image_size[0] / 2.0) / math.tan(hfov_rad / 2.0)
        return cls(eye, rotation, focal, image_size)

    # ------------------------------------------------------------------ parameters
    @property
    def camera_matrix(self) -> np.ndarray:
        """(3, 3) intrinsic matrix K in pixels (principal point at the image centre)."""
        return self._K.copy()

    @property
    def tvec(self) -> np.ndarray:
        """(3,) translation floor → camera frame: x_cam = R · x_floor + t, metres."""
        return -self.rotation @ self.position

    @property
    def rvec(self) -> np.ndarray:
        """(3,) Rodrigues rotation vector of ``rotation`` (radians), as OpenCV uses it."""
        vector, _ = cv2.Rodrigues(self.rotation)
        return vector.reshape(3)

    # ------------------------------------------------------------------ mapping
    def to_camera(self, xyz: Any) -> np.ndarray:
        """(N, 3) floor-frame points (metres) → (N, 3) camera-frame points (metres)."""
        points = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
        return (points - self.position) @ self.rotation.T

    def depth(self, xyz: Any) -> np.ndarray:
        """(N,) distance along the optical axis of floor-frame points, metres (> 0: in front)."""
        points = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
        return (points - self.position) @ self.rotation[2]

    def project(self, xyz: Any) -> np.ndarray:
        """(N, 3) floor-frame points (metres) → (N, 2) pixels (u right, v down).

        Points at or behind the camera plane come back as NaN.
        """
        cam = self.to_camera(xyz)
        z = cam[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = self._K[0, 0] * cam[:, 0] / z + self._K[0, 2]
            v = self._K[1, 1] * cam[:, 1] / z + self._K[1, 2]
        uv = np.stack([u, v], axis=1)
        uv[z <= 1e-9] = np.nan
        return uv

    def floor_to_pixel_homography(self) -> np.ndarray:
        """(3, 3) homography floor (x, y, 1) metres → pixel (u, v, 1), scaled so [2, 2] = 1."""
        r = self.rotation
        matrix = self._K @ np.column_stack([r[:, 0], r[:, 1], self.tvec])
        if abs(matrix[2, 2]) < 1e-12:
            raise ValueError("the floor origin lies in the camera plane; no normalised homography")
        return matrix / matrix[2, 2]

    def floor_homography(self) -> np.ndarray:
        """(3, 3) homography pixel (u, v, 1) → floor (x, y, 1) metres, w > 0 on the floor.

        Scaled so |[2, 2]| = 1 (by a positive factor, so w keeps its sign: [2, 2] is -1 when
        the top-left pixel is above the horizon). This is the site file's
        ``floor_homography`` for a camera without lens distortion.
        """
        r = self.rotation
        forward = self._K @ np.column_stack([r[:, 0], r[:, 1], self.tvec])  # w = z_cam
        inverse = np.linalg.inv(forward)
        scale = abs(inverse[2, 2])
        return inverse / (scale if scale > 1e-12 else np.linalg.norm(inverse))

    def pixel_to_floor(self, uv: Any) -> np.ndarray:
        """(N, 2) pixels → (N, 2) floor points (metres) where their rays meet z = 0.

        Pixels whose ray does not go down to the floor (at or above the horizon) are NaN.
        """
        pixels = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        rays = self.rays(pixels)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = -self.position[2] / rays[:, 2]
        floor = self.position[:2] + rays[:, :2] * scale[:, None]
        floor[~(scale > 0)] = np.nan
        return floor

    def rays(self, uv: Any) -> np.ndarray:
        """(N, 2) pixels → (N, 3) unit ray directions in the floor frame."""
        pixels = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        cam = np.column_stack(
            [
                (pixels[:, 0] - self._K[0, 2]) / self._K[0, 0],
                (pixels[:, 1] - self._K[1, 2]) / self._K[1, 1],
                np.ones(len(pixels)),
            ]
        )
        world = cam @ self.rotation
        return world / np.linalg.norm(world, axis=1, keepdims=True)

    def to_calibration_dict(self) -> dict[str, Any]:
        """Plain-data calibration (lists of floats), for the calibration file format.

        Keys: ``camera_matrix`` (3x3, pixels), ``dist_coeffs`` (5 zeros), ``rvec`` and
        ``tvec`` (floor → camera, radians / metres, OpenCV convention), ``image_size``
        ([width, height] pixels), ``floor_homography`` (3x3, pixel → floor metres).
        """
        return {
            "camera_matrix": self.camera_matrix.tolist(),
            "dist_coeffs": [0.0] * 5,
            "rvec": self.rvec.tolist(),
            "tvec": self.tvec.tolist(),
            "image_size": list(self.image_size),
            "floor_homography": self.floor_homography().tolist(),
        }
