"""Any scale and sign of a floor homography is one mapping; unusable mappings are refused.

The head-height camera is the case a new user hit: 1.6 m up, looking level, horizon in
mid-image, ``cv2.findHomography`` returns ``H[2, 2] = 1``, i.e. ``w > 0`` at the top-left
pixel (sky) and ``w < 0`` on the floor.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import shapely

from safetymon.perception.calibration.floor import (
    homography_from_pose,
    normalise_homography,
    pose_from_homography,
    pose_from_rt,
)
from safetymon.perception.calibration.model import CameraPose
from safetymon.perception.floor_footprint import floor_footprint
from safetymon.perception.mapping import FloorMapper

SIZE = (640, 480)
K = np.array([[500.0, 0.0, 319.5], [0.0, 500.0, 239.5], [0.0, 0.0, 1.0]])


def pose_looking(
    centre: tuple[float, float, float], forward: tuple[float, float, float]
) -> CameraPose:
    """Floor → camera pose of a camera at ``centre`` (m) looking along ``forward``, rows down."""
    ahead = np.asarray(forward, float) / np.linalg.norm(forward)
    right = np.cross(ahead, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(ahead, right)
    rotation = np.vstack([right, down, ahead])
    return pose_from_rt(rotation, -rotation @ np.asarray(centre, float), "solvepnp")


def project(pose: CameraPose, floor_xy: np.ndarray) -> np.ndarray:
    """Floor points (N, 2) → pixels (N, 2) through the pose and K (no distortion)."""
    points = np.c_[floor_xy, np.zeros(len(floor_xy))]
    pixels, _ = cv2.projectPoints(points, np.array(pose.rvec), np.array(pose.tvec), K, None)
    return pixels.reshape(-1, 2)


HEAD_HEIGHT = pose_looking((0.0, 0.0, 1.6), (0.0, 1.0, 0.0))
FLOOR = np.array([[x, y] for x in np.linspace(-4, 4, 9) for y in np.linspace(2.5, 25, 10)])


def in_image(pixels: np.ndarray) -> np.ndarray:
    """Which pixels (N, 2) lie inside the image."""
    return np.all((pixels >= 0) & (pixels <= np.array(SIZE) - 1), axis=1)


def fitted_head_height_homography() -> tuple[np.ndarray, np.ndarray]:
    """``cv2.findHomography`` of the head-height camera's floor points: (H, their pixels)."""
    pixels = project(HEAD_HEIGHT, FLOOR)
    inside = in_image(pixels)
    homography, _ = cv2.findHomography(pixels[inside], FLOOR[inside], 0)
    return homography, pixels[inside]


def test_head_height_camera_fit_with_w_below_zero_maps_feet_correctly() -> None:
    homography, pixels = fitted_head_height_homography()
    # the premise: OpenCV's scale puts w < 0 on the floor (and w > 0 on the sky)
    w = np.c_[pixels, np.ones(len(pixels))] @ homography[2]
    assert np.all(w < 0)
    truth = FLOOR[in_image(project(HEAD_HEIGHT, FLOOR))]
    for size in (SIZE, None):  # floor side from the bottom row, or from handedness
        mapper = FloorMapper(homography, image_size=size)
        assert np.abs(mapper.image_to_floor(pixels) - truth).max() < 1e-4  # metres
        # the sky (above the horizon at v = 239.5) has no floor point
        assert np.all(np.isnan(mapper.image_to_floor(np.array([[320.0, 100.0], [5.0, 230.0]]))))
        # a person standing 6 m ahead: box bottom on the floor, placed there
        xy, uncertainty, _radius = mapper.footprint(
            np.r_[project(HEAD_HEIGHT, np.array([[0.0, 6.0]]))[0] - [20.0, 120.0], 40.0, 120.0]
        )
        assert xy == pytest.approx([0.0, 6.0], abs=1e-4) and np.isfinite(uncertainty)


def test_h_minus_h_and_scaled_h_are_one_mapping() -> None:
    homography = homography_from_pose(HEAD_HEIGHT, K)
    mapper = FloorMapper(homography, K, np.zeros(5), image_size=SIZE)
    negated = FloorMapper(-homography, K, np.zeros(5), image_size=SIZE)
    scaled = FloorMapper(3.7 * homography, K, np.zeros(5), image_size=SIZE)
    assert np.array_equal(negated.homography, mapper.homography)  # bit-identical
    assert np.allclose(scaled.homography, mapper.homography, rtol=1e-14, atol=1e-17)
    assert np.linalg.norm(mapper.homography) == pytest.approx(1.0)
    grid = np.array([[u, v] for u in range(0, 640, 37) for v in range(0, 480, 29)], float)
    base = mapper.image_to_floor(grid)
    assert np.isnan(base).any() and np.isfinite(base).any()  # both sides of the horizon
    assert np.array_equal(negated.image_to_floor(grid), base, equal_nan=True)
    assert np.allclose(scaled.image_to_floor(grid), base, rtol=1e-12, equal_nan=True)
    # the pose decomposes the same for every form (camera 1.6 m above the floor)
    poses = [pose_from_homography(h, K) for h in (homography, -homography, 3.7 * homography)]
    assert all(p is not None and p.camera_height_m == pytest.approx(1.6) for p in poses)
    assert poses[0] == poses[1]
    assert np.allclose(poses[0].rvec, poses[2].rvec) and np.allclose(poses[0].tvec, poses[2].tvec)
    assert np.allclose(poses[0].rvec, HEAD_HEIGHT.rvec, atol=1e-9)


def test_floor_side_rules_agree_for_a_real_camera_and_disagree_for_a_mirror() -> None:
    homography = homography_from_pose(HEAD_HEIGHT, K)
    bottom = np.c_[np.linspace(0, 639, 9), np.full(9, 479.0)]
    by_image = normalise_homography(-homography, bottom)
    by_handedness = normalise_homography(-homography)
    assert np.array_equal(by_image, by_handedness)
    assert np.linalg.det(by_image) < 0  # right-handed floor frame, camera above it
    mirror = np.diag([-1.0, 1.0, 1.0]) @ homography  # floor x negated: left-handed frame
    assert np.array_equal(normalise_homography(mirror, bottom), -normalise_homography(mirror))


def test_footprint_of_the_head_height_camera() -> None:
    homography, _pixels = fitted_head_height_homography()
    footprint = floor_footprint(FloorMapper(homography, image_size=SIZE))
    assert footprint.problems == ()
    top, bottom = footprint.rows_px
    assert bottom == 479.0
    assert 239.5 + 5 <= top < 300  # cut below the horizon (v = 239.5)
    assert footprint.far_edge == "range"  # pixels near the horizon span > 0.5 m
    # every floor point the image sees within the range limit is inside the footprint
    inside = FLOOR[FLOOR[:, 1] <= 10.0]
    pixels = project(HEAD_HEIGHT, inside)
    seen = in_image(pixels)
    assert seen.sum() > 10
    assert footprint.polygon.buffer(1e-6).contains(shapely.MultiPoint(inside[seen]))
    # nearest seen floor: where the bottom row meets the floor, 1.6 m * 500 / 240 ahead
    y0 = footprint.polygon.bounds[1]
    assert y0 == pytest.approx(1.6 * 500 / 239.5, rel=1e-3)
    assert "image rows" in footprint.describe() and "0.5 m" in footprint.describe()


def test_footprint_refuses_a_sky_only_and_an_ill_conditioned_mapping() -> None:
    # tilted up 30 degrees: the horizon is below the image (v = 239.5 + 500 tan 30 deg)
    tilted = pose_looking((0.0, 0.0, 1.6), (0.0, 1.0, np.tan(np.radians(30))))
    sky = homography_from_pose(tilted, K)
    corners = np.array([[0, 0], [639, 0], [0, 479], [639, 479]], float)
    w = np.c_[corners, np.ones(4)] @ sky[2]
    assert np.all(w < 0)  # no pixel of the image sees the floor
    problems = floor_footprint(FloorMapper(sky, image_size=SIZE)).problems
    assert len(problems) == 1 and "mirrored" in problems[0] and "sees no floor" in problems[0]
    # with intrinsics the pose says the same: no camera above the floor sees it that way
    bottom = np.c_[np.linspace(0, 639, 9), np.full(9, 479.0)]
    assert pose_from_homography(sky, K, bottom) is None

    good = homography_from_pose(HEAD_HEIGHT, K)
    scale = np.diag([640.0, 640.0, 1.0])
    u, s, vt = np.linalg.svd(good @ scale)
    nearly = u @ np.diag([s[0], s[1], s[0] * 1e-8]) @ vt @ np.linalg.inv(scale)
    footprint = floor_footprint(FloorMapper(nearly, image_size=SIZE))
    assert len(footprint.problems) == 1 and "ill-conditioned" in footprint.problems[0]
    with pytest.raises(ValueError, match="singular"):
        FloorMapper(u @ np.diag([s[0], s[1], 0.0]) @ vt @ np.linalg.inv(scale))


def test_a_mapping_in_millimetres_is_refused() -> None:
    millimetres = np.diag([1000.0, 1000.0, 1.0]) @ homography_from_pose(HEAD_HEIGHT, K)
    problems = floor_footprint(FloorMapper(millimetres, image_size=SIZE)).problems
    assert any("not in metres" in problem for problem in problems)
