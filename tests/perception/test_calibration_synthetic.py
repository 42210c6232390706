"""A synthetic pinhole camera with lens distortion looking at the floor, and checks of it.

Used by the calibration and mapping tests: it projects known floor points and renders
images of textures (ArUco markers, ChArUco boards) lying on the floor, distortion included,
so a calibration's result can be compared with the truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

K_TRUE = np.array([[600.0, 0.0, 322.0], [0.0, 598.0, 236.0], [0.0, 0.0, 1.0]])
DIST_TRUE = np.array([-0.12, 0.05, 0.0008, -0.0004, 0.0])
SIZE = (640, 480)


@dataclass(frozen=True)
class SyntheticCamera:
    """Floor → camera pose (rvec, tvec), K, distortion and image size (width, height)."""

    camera_matrix: np.ndarray
    dist_coeffs: np.ndarray
    rvec: np.ndarray
    tvec: np.ndarray
    size: tuple[int, int] = SIZE

    @property
    def rotation(self) -> np.ndarray:
        return cv2.Rodrigues(self.rvec)[0]

    @property
    def centre(self) -> np.ndarray:
        return -self.rotation.T @ self.tvec

    def project(self, points_xyz: np.ndarray) -> np.ndarray:
        """Floor-frame points (N, 3) → raw pixels (N, 2)."""
        points = np.asarray(points_xyz, dtype=np.float64).reshape(-1, 3)
        pixels, _ = cv2.projectPoints(
            points, self.rvec, self.tvec, self.camera_matrix, self.dist_coeffs
        )
        return pixels.reshape(-1, 2)

    def floor_homography(self) -> np.ndarray:
        """The true undistorted pixels → floor homography, w > 0 on the floor."""
        r = self.rotation
        forward = self.camera_matrix @ np.column_stack([r[:, 0], r[:, 1], self.tvec])
        return np.linalg.inv(forward)

    def render(
        self, texture: np.ndarray, texture_to_floor: np.ndarray, background: int = 110
    ) -> np.ndarray:
        """Image (grayscale, raw pixels) of a texture lying on the floor.

        ``texture_to_floor`` is the 3x3 map of texture pixels (column, row, 1) to floor
        (x, y, 1) metres. Each raw pixel is undistorted, sent to the floor through the true
        homography and looked up in the texture (bilinear).
        """
        width, height = self.size
        us, vs = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height))
        raw = np.c_[us.ravel(), vs.ravel()]
        criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-9)
        undistorted = cv2.undistortPointsIter(
            raw.reshape(-1, 1, 2), self.camera_matrix, self.dist_coeffs, None,
            self.camera_matrix, criteria,
        ).reshape(-1, 2)  # fmt: skip
        to_texture = np.linalg.inv(texture_to_floor) @ self.floor_homography()
        homogeneous = np.c_[undistorted, np.ones(len(undistorted))] @ to_texture.T
        texture_xy = homogeneous[:, :2] / homogeneous[:, 2:3]
        map_x = texture_xy[:, 0].reshape(height, width).astype(np.float32)
        map_y = texture_xy[:, 1].reshape(height, width).astype(np.float32)
        return cv2.remap(
            texture, map_x, map_y, cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT, borderValue=background,
        )  # fmt: skip


def look_at(
    centre: tuple[float, float, float],
    target: tuple[float, float, float],
    camera_matrix: np.ndarray = K_TRUE,
    dist_coeffs: np.ndarray = DIST_TRUE,
) -> SyntheticCamera:
    """A camera at ``centre`` (floor metres) looking at ``target``, image rows pointing down."""
    position, aim = np.asarray(centre, float), np.asarray(target, float)
    forward = (aim - position) / np.linalg.norm(aim - position)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.vstack([right, down, forward])
    rvec = cv2.Rodrigues(rotation)[0].ravel()
    return SyntheticCamera(camera_matrix, dist_coeffs, rvec, -rotation @ position)


def cell_camera() -> SyntheticCamera:
    """The default test camera: 2.5 m up, south of the cell, looking at (1, 2) on the floor."""
    return look_at((1.0, -0.5, 2.5), (1.0, 2.0, 0.0))


def square_texture_to_floor(
    pixels: int, side_m: float, centre_xy: tuple[float, float], yaw_deg: float
) -> np.ndarray:
    """Map of a square texture (pixels x pixels, top row = its +y edge) onto the floor.

    The texture's centre lands on ``centre_xy``; texture column → +x, row → −y of the
    square's own frame, rotated by yaw (degrees, counter-clockwise).
    """
    scale = side_m / pixels
    angle = np.radians(yaw_deg)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    half = side_m / 2 - scale / 2  # texture pixel centres lie half a pixel inside the edge
    local = np.array([[scale, 0.0, -half], [0.0, -scale, half], [0.0, 0.0, 1.0]])
    place = np.eye(3)
    place[:2, :2] = rotation
    place[:2, 2] = centre_xy
    return place @ local


def test_camera_projects_its_floor_homography_consistently() -> None:
    camera = cell_camera()
    assert np.allclose(camera.centre, [1.0, -0.5, 2.5])
    floor = np.array([[0.0, 1.0], [2.0, 3.0], [1.0, 2.0]])
    pixels = camera.project(np.c_[floor, np.zeros(3)])
    centre_pixel = pixels[2]
    assert np.allclose(centre_pixel, camera.camera_matrix[:2, 2], atol=1e-6)
    # undistorted pixels through the true homography give the floor back
    undistorted = cv2.undistortPointsIter(
        pixels.reshape(-1, 1, 2), K_TRUE, DIST_TRUE, None, K_TRUE,
        (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-12),
    ).reshape(-1, 2)  # fmt: skip
    mapped = np.c_[undistorted, np.ones(3)] @ camera.floor_homography().T
    assert np.all(mapped[:, 2] > 0)
    assert np.allclose(mapped[:, :2] / mapped[:, 2:], floor, atol=1e-6)


def test_render_puts_a_texture_where_the_camera_sees_it() -> None:
    camera = cell_camera()
    texture = np.zeros((100, 100), np.uint8)
    texture[:50, :] = 255  # the square's +y half is white
    image = camera.render(texture, square_texture_to_floor(100, 1.0, (1.0, 2.0), 0.0))
    north, south = camera.project(np.array([[1.0, 2.25, 0.0], [1.0, 1.75, 0.0]]))
    assert image[round(north[1]), round(north[0])] == 255
    assert image[round(south[1]), round(south[0])] == 0
    outside = camera.project(np.array([[2.5, 2.0, 0.0]]))[0]
    assert image[round(outside[1]), round(outside[0])] == 110
