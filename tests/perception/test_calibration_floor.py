"""Floor plane calibration: exact synthetic cases, rendered ArUco/ChArUco targets, PETS09 truth."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from safetymon.cli.calibrate_cmd import charuco_floor_points, marker_floor_corners
from safetymon.perception.calibration.aruco import charuco_board, detect_charuco, detect_markers
from safetymon.perception.calibration.floor import (
    FloorFitError,
    fit_floor_from_points,
    fit_floor_from_target,
    homography_from_pose,
    pose_from_homography,
)
from safetymon.perception.calibration.model import CharucoTarget
from safetymon.perception.mapping import FloorMapper
from tests.conftest import SHARED_DATA
from tests.perception.test_calibration_synthetic import (
    DIST_TRUE,
    K_TRUE,
    cell_camera,
    square_texture_to_floor,
)

PETS_GT = SHARED_DATA / "mot15" / "PETS09-S2L1" / "gt" / "gt.txt"
FLOOR_GRID = np.array([[x, y] for x in np.linspace(0.0, 2.0, 5) for y in np.linspace(1.0, 3.5, 6)])


def true_mapping_error(mapper: FloorMapper, points_xy: np.ndarray = FLOOR_GRID) -> float:
    """Largest floor error (metres) of the mapper over true projections of floor points."""
    camera = cell_camera()
    pixels = camera.project(np.c_[points_xy, np.zeros(len(points_xy))])
    return float(np.abs(mapper.image_to_floor(pixels) - points_xy).max())


def test_points_fit_recovers_the_exact_mapping_and_pose() -> None:
    camera = cell_camera()
    floor = np.array([[0, 1], [2, 1], [2, 3.5], [0, 3.5], [1, 2], [0.5, 3], [1.5, 1.5]], float)
    pixels = camera.project(np.c_[floor, np.zeros(len(floor))])
    fit = fit_floor_from_points(pixels, floor, K_TRUE, DIST_TRUE)
    assert fit.rms_m < 1e-6 and fit.loo_rms_m is not None and fit.loo_rms_m < 1e-5
    mapper = FloorMapper(fit.homography, K_TRUE, DIST_TRUE, pose=fit.pose)
    assert true_mapping_error(mapper) < 1e-4  # well within a millimetre
    assert fit.pose is not None and fit.pose.source == "homography"
    assert fit.pose.camera_height_m == pytest.approx(2.5, abs=1e-4)
    assert np.allclose(fit.pose.rvec, camera.rvec, atol=1e-5)
    assert np.allclose(fit.pose.tvec, camera.tvec, atol=1e-4)


def test_points_without_intrinsics_miss_the_lens_distortion() -> None:
    camera = cell_camera()
    floor = np.array([[0, 1], [2, 1], [2, 3.5], [0, 3.5], [1, 2], [0.5, 3], [1.5, 1.5]], float)
    pixels = camera.project(np.c_[floor, np.zeros(len(floor))])
    fit = fit_floor_from_points(pixels, floor)
    assert fit.pose is None
    assert fit.rms_m > 1e-3  # a plain homography cannot absorb barrel distortion
    assert fit.loo_rms_m is not None and fit.loo_rms_m > fit.rms_m


def test_noisy_points_report_a_realistic_error() -> None:
    camera = cell_camera()
    rng = np.random.default_rng(3)
    floor = np.c_[rng.uniform(0, 2, 12), rng.uniform(1, 3.5, 12)]
    pixels = camera.project(np.c_[floor, np.zeros(12)]) + rng.normal(0, 1.0, (12, 2))
    fit = fit_floor_from_points(pixels, floor, K_TRUE, DIST_TRUE)
    mapper = FloorMapper(fit.homography, K_TRUE, DIST_TRUE)
    assert 1e-3 < fit.rms_m < 0.03
    assert fit.loo_rms_m is not None and fit.loo_rms_m > fit.rms_m
    assert true_mapping_error(mapper) < 0.05


@pytest.mark.parametrize(
    ("pixels", "floor", "message"),
    [
        ([[0, 0], [1, 0], [0, 1]], [[0, 0], [1, 0], [0, 1]], "need >= 4"),
        ([[0, 0], [10, 10], [20, 20], [30, 30]], [[0, 0], [1, 0], [0, 1], [1, 1]], "collinear"),
        ([[0, 0], [10, 0], [0, 10], [10, 10]], [[0, 0], [1, 1], [2, 2], [3, 3]], "collinear"),
        ([[0, 0], [10, 0], [0, np.nan], [10, 10]], [[0, 0], [1, 0], [0, 1], [1, 1]], "finite"),
        ([[0, 0], [10, 0], [0, 10]], [[0, 0], [1, 0], [0, 1], [1, 1]], "3 pixels but 4"),
    ],
)
def test_bad_point_sets_are_refused(pixels: list, floor: list, message: str) -> None:
    with pytest.raises(FloorFitError, match=message):
        fit_floor_from_points(np.array(pixels, float), np.array(floor, float))


def test_points_on_both_sides_of_the_horizon_are_refused() -> None:
    # w = v - 100: rows below 100 see the floor, rows above do not
    homography = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, -100.0]])
    pixels = np.array([[100, 200], [300, 250], [200, 400], [50, 20], [400, 300]], float)
    mapped = np.c_[pixels, np.ones(5)] @ homography.T
    floor = mapped[:, :2] / mapped[:, 2:]
    with pytest.raises(FloorFitError, match="both sides of the horizon"):
        fit_floor_from_points(pixels, floor)


def test_homography_decomposition_round_trip() -> None:
    camera = cell_camera()
    pose = pose_from_homography(camera.floor_homography(), K_TRUE)
    assert pose is not None and pose.camera_height_m == pytest.approx(2.5)
    rebuilt = homography_from_pose(pose, K_TRUE)
    truth = camera.floor_homography()
    assert np.allclose(rebuilt / rebuilt[2, 2], truth / truth[2, 2], rtol=1e-9)
    # H, -H and 3.7 H are one mapping and give one pose (camera above the floor)
    for same in (-camera.floor_homography(), 3.7 * camera.floor_homography()):
        other = pose_from_homography(same, K_TRUE)
        assert other is not None and other.camera_height_m == pytest.approx(2.5)
        assert np.allclose(other.rvec, pose.rvec, atol=1e-12)
        assert np.allclose(other.tvec, pose.tvec, atol=1e-12)
    assert pose_from_homography(-camera.floor_homography(), K_TRUE) == pose  # bit-identical
    # a mirrored floor frame (left-handed) has no pose once the floor side is known (the
    # image's bottom row); without it the handedness rule cannot tell a mirror from a sign
    width, height = camera.size
    bottom = np.c_[np.linspace(0, width - 1, 9), np.full(9, height - 1.0)]
    mirror = np.diag([1.0, -1.0, 1.0]) @ camera.floor_homography()
    for sign in (1.0, -1.0):
        assert pose_from_homography(sign * mirror, K_TRUE, bottom) is None
        found = pose_from_homography(sign * camera.floor_homography(), K_TRUE, bottom)
        assert found == pose


def aruco_texture(marker_id: int, cells_px: int = 40) -> np.ndarray:
    """DICT_4X4_50 marker with a one-cell white quiet zone (texture = marker + margin)."""
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    marker = cv2.aruco.generateImageMarker(dictionary, marker_id, 6 * cells_px)
    return np.pad(marker, cells_px, constant_values=255)


def test_aruco_markers_rendered_on_the_floor_give_the_floor_and_pose() -> None:
    camera = cell_camera()
    placements = [(3, 0.4, 1.6, 30.0), (7, 1.6, 2.6, -15.0)]  # id, x, y, yaw degrees
    side = 0.3  # marker side, metres; the quiet zone adds one cell (side/6) each side
    image = np.full((camera.size[1], camera.size[0]), 110, np.uint8)
    for marker_id, x, y, yaw in placements:
        texture = aruco_texture(marker_id)
        mapping = square_texture_to_floor(texture.shape[0], side * 8 / 6, (x, y), yaw)
        rendered = camera.render(texture, mapping, background=0)
        image = np.where(rendered > 0, rendered, image).astype(np.uint8)
    found = detect_markers(image, "DICT_4X4_50")
    assert set(found) == {3, 7}
    pixels = np.vstack([found[marker_id] for marker_id, *_ in placements])
    floor = np.vstack([marker_floor_corners(x, y, yaw, side) for _, x, y, yaw in placements])
    fit = fit_floor_from_target(pixels, floor, K_TRUE, DIST_TRUE)
    assert fit.reprojection_px is not None and fit.reprojection_px < 0.8
    assert fit.rms_m < 0.005
    assert fit.pose is not None and fit.pose.camera_height_m == pytest.approx(2.5, abs=0.05)
    mapper = FloorMapper(fit.homography, K_TRUE, DIST_TRUE, pose=fit.pose)
    assert true_mapping_error(mapper) < 0.02  # over the whole 2 m x 2.5 m area
    # a wrong yaw for one marker shows up as a large floor error
    wrong = np.vstack(
        [marker_floor_corners(0.4, 1.6, 120.0, side), marker_floor_corners(1.6, 2.6, -15, side)]
    )
    assert fit_floor_from_target(pixels, wrong, K_TRUE, DIST_TRUE).rms_m > 0.05


FLOOR_BOARD = CharucoTarget(
    squares_x=5, squares_y=7, square_size_m=0.3, marker_size_m=0.22, dictionary="DICT_6X6_250"
)


def render_charuco_floor(origin: tuple[float, float], yaw: float) -> np.ndarray:
    """The test camera's image of FLOOR_BOARD lying on the floor at origin, yaw (degrees)."""
    square_px = 60
    texture = charuco_board(FLOOR_BOARD).generateImage((5 * square_px, 7 * square_px))
    # texture pixel centre (c, r) → board metres (c + ½, r + ½)·s → floor (bx, −by), yaw, origin
    scale = FLOOR_BOARD.square_size_m / square_px
    angle = np.radians(yaw)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    mapping = np.eye(3)
    mapping[:2, :2] = rotation @ np.diag([scale, -scale])
    mapping[:2, 2] = origin + rotation @ np.diag([scale, -scale]) @ np.array([0.5, 0.5])
    return cell_camera().render(texture, mapping, background=255)


def test_charuco_board_rendered_on_the_floor() -> None:
    origin, yaw = (0.3, 3.4), -10.0
    board_points, pixels, _markers = detect_charuco(render_charuco_floor(origin, yaw), FLOOR_BOARD)
    assert len(pixels) == 24
    floor = charuco_floor_points(board_points, origin, yaw)
    fit = fit_floor_from_target(pixels, floor, K_TRUE, DIST_TRUE)
    assert fit.rms_m < 0.005
    assert fit.pose is not None and fit.pose.camera_height_m == pytest.approx(2.5, abs=0.03)
    mapper = FloorMapper(fit.homography, K_TRUE, DIST_TRUE, pose=fit.pose)
    assert true_mapping_error(mapper) < 0.01


def pets_rows(frames: int = 300) -> np.ndarray:
    """PETS09-S2L1 ground truth rows of frames 1..frames (frame, id, l, t, w, h, ..., x, y)."""
    rows = np.loadtxt(PETS_GT, delimiter=",")
    return rows[rows[:, 0] <= frames]


def test_pets09_ground_truth_points_fit_the_floor() -> None:
    rows = pets_rows()
    feet = np.c_[rows[:, 2] + rows[:, 4] / 2, rows[:, 3] + rows[:, 5]]
    world = rows[:, 7:9]
    # 8 spread-out rows: farthest-point sampling on the world positions
    chosen = [int(np.argmin(world[:, 0]))]
    for _ in range(7):
        distance = np.min(np.linalg.norm(world[:, None] - world[chosen][None], axis=2), axis=1)
        chosen.append(int(np.argmax(distance)))
    fit = fit_floor_from_points(feet[chosen], world[chosen])
    mapper = FloorMapper(fit.homography, floor_error_m=fit.rms_m)
    errors = np.linalg.norm(mapper.image_to_floor(feet) - world, axis=1)
    assert np.all(np.isfinite(errors))
    assert np.median(errors) < 0.3  # metres; box bottoms are hand-drawn
    assert np.percentile(errors, 95) < 1.0
    all_fit = fit_floor_from_points(feet, world)
    assert all_fit.rms_m < 0.5
