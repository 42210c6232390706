"""FloorMapper: round trips, horizon, 3-D projection, footprints, loading from site files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from safetymon.config.cameras import CameraConfig
from safetymon.config.loader import ConfigError
from safetymon.perception.calibration.floor import fit_floor_from_points, pose_from_homography
from safetymon.perception.calibration.model import (
    CameraCalibration,
    now_utc,
    save_calibration,
)
from safetymon.perception.mapping import FloorMapper, FootprintParams
from tests.perception.test_calibration_synthetic import (
    DIST_TRUE,
    K_TRUE,
    cell_camera,
    look_at,
)


def true_mapper() -> FloorMapper:
    camera = cell_camera()
    return FloorMapper(
        camera.floor_homography(), K_TRUE, DIST_TRUE,
        pose=pose_from_homography(camera.floor_homography(), K_TRUE), image_size=camera.size,
    )  # fmt: skip


def test_image_floor_round_trip_with_distortion() -> None:
    camera, mapper = cell_camera(), true_mapper()
    rng = np.random.default_rng(1)
    floor = np.c_[rng.uniform(-0.5, 2.5, 200), rng.uniform(0.8, 4.0, 200)]
    pixels = camera.project(np.c_[floor, np.zeros(200)])
    assert np.abs(mapper.image_to_floor(pixels) - floor).max() < 1e-5  # metres
    assert np.abs(mapper.floor_to_image(floor) - pixels).max() < 1e-3  # pixels
    assert np.abs(mapper.project_points(np.c_[floor, np.zeros(200)]) - pixels).max() < 1e-9


def test_project_points_in_3d_matches_the_camera_and_z0_round_trips() -> None:
    camera, mapper = cell_camera(), true_mapper()
    points = np.array([[1.0, 2.0, 0.0], [1.0, 2.0, 1.2], [0.3, 1.5, 0.8], [1.8, 3.0, 2.0]])
    assert np.allclose(mapper.project_points(points), camera.project(points), atol=1e-9)
    at_floor = mapper.project_points(np.c_[points[:, :2], np.zeros(4)])
    assert np.allclose(mapper.image_to_floor(at_floor), points[:, :2], atol=1e-6)
    # a 3-D point above a floor point projects higher in the image (smaller v)
    assert mapper.project_points(points)[1, 1] < at_floor[1, 1]


def test_points_behind_the_camera_and_above_the_horizon_are_nan() -> None:
    # a camera looking almost horizontally: the horizon crosses the image
    camera = look_at((0.0, 0.0, 1.5), (0.0, 10.0, 0.6), dist_coeffs=np.zeros(5))
    mapper = FloorMapper(
        camera.floor_homography(), K_TRUE, np.zeros(5),
        pose=pose_from_homography(camera.floor_homography(), K_TRUE),
    )  # fmt: skip
    horizon_v = float(camera.project(np.array([[0.0, 1e6, 0.0]]))[0, 1])
    assert 0 < horizon_v < 480
    pixels = np.array([[320, horizon_v + 20], [320, horizon_v - 20], [100, 5], [np.nan, 300]])
    floor = mapper.image_to_floor(pixels)
    assert np.all(np.isfinite(floor[0])) and floor[0, 1] > 10  # far, but on the floor
    assert np.all(np.isnan(floor[1:]))
    behind = mapper.floor_to_image(np.array([[0.0, -3.0], [0.0, 3.0]]))
    assert np.all(np.isnan(behind[0])) and np.all(np.isfinite(behind[1]))
    projected = mapper.project_points(np.array([[0.0, -2.0, 1.0], [0.0, 5.0, 1.0]]))
    assert np.all(np.isnan(projected[0])) and np.all(np.isfinite(projected[1]))


def test_project_points_without_pose_is_refused() -> None:
    mapper = FloorMapper(cell_camera().floor_homography())
    with pytest.raises(RuntimeError, match="camera pose unknown"):
        mapper.project_points(np.zeros((1, 3)))


def box_at(mapper: FloorMapper, x: float, y: float, height_m: float = 1.7) -> np.ndarray:
    """The box (l, t, w, h) of a 0.5 m wide, 1.7 m tall person standing at (x, y)."""
    corners = np.array(
        [[x - 0.25, y, 0], [x + 0.25, y, 0], [x - 0.25, y, height_m], [x + 0.25, y, height_m]]
    )
    pixels = mapper.project_points(corners)
    left, right = pixels[:, 0].min(), pixels[:, 0].max()
    top = pixels[:, 1].min()
    bottom = mapper.project_points(np.array([[x, y, 0.0]]))[0, 1]
    return np.array([left, top, right - left, bottom - top])


def test_footprint_of_a_person() -> None:
    mapper = true_mapper()
    near_xy, near_sigma, near_radius = mapper.footprint(box_at(mapper, 1.0, 1.0))
    far_xy, far_sigma, far_radius = mapper.footprint(box_at(mapper, 1.0, 3.5))
    assert np.allclose(near_xy, [1.0, 1.0], atol=0.02)
    assert np.allclose(far_xy, [1.0, 3.5], atol=0.05)
    # the same few pixels cover more floor further away
    assert 0.005 < near_sigma < far_sigma < 0.5
    # the box's width comes from the head and shoulders, nearer the camera than the feet, so
    # the radius errs large (safe side) on a close, high camera; at the feet it is exact
    assert 0.24 < far_radius < near_radius <= mapper.params.max_radius_m
    _, _, feet_radius = mapper.footprint(box_at(mapper, 1.0, 1.0, height_m=0.01))
    assert feet_radius == pytest.approx(0.25, abs=0.01)
    # the calibration's own error adds in quadrature
    worse = FloorMapper(mapper.homography, K_TRUE, DIST_TRUE, floor_error_m=0.1, pose=mapper.pose)
    _, sigma, _ = worse.footprint(box_at(mapper, 1.0, 1.0))
    assert sigma == pytest.approx(np.hypot(0.1, near_sigma), rel=1e-6)


def test_footprint_uncertainty_follows_the_jacobian() -> None:
    mapper = true_mapper()
    box = box_at(mapper, 1.0, 2.0)
    foot = mapper.foot_points(box[None])
    jac = mapper.jacobian(foot)[0]
    sigma_px = max(3.0, 0.02 * box[3])
    expected = sigma_px * np.sqrt(np.linalg.eigvalsh(jac @ jac.T).max())
    _, sigma, _ = mapper.footprint(box)
    assert sigma == pytest.approx(expected, rel=1e-9)
    # the numeric Jacobian matches a finite step of the mapping
    step = mapper.image_to_floor(foot + np.array([0.0, 2.0])) - mapper.image_to_floor(foot)
    assert np.allclose(step[0], jac @ [0.0, 2.0], atol=1e-4)


def test_a_detectors_measured_foot_sigma_replaces_the_default() -> None:
    mapper = true_mapper()
    box = box_at(mapper, 1.0, 2.0)
    boxes = np.vstack([box, box, box])
    jac = mapper.jacobian(mapper.foot_points(box[None]))[0]
    stretch = np.sqrt(np.linalg.eigvalsh(jac @ jac.T).max())
    measured = np.array([np.nan, 0.1 * box[3], 1.0])  # none, 10 % of the height, under 3 px
    _, sigma, _ = mapper.footprints(boxes, None, measured)
    assert sigma[0] == pytest.approx(max(3.0, 0.02 * box[3]) * stretch, rel=1e-9)
    assert sigma[1] == pytest.approx(0.1 * box[3] * stretch, rel=1e-9)
    assert sigma[2] == pytest.approx(3.0 * stretch, rel=1e-9)  # the floor of 3 px holds
    with pytest.raises(ValueError, match="2 values for 3 boxes"):
        mapper.footprints(boxes, None, measured[:2])


def test_radius_is_clamped() -> None:
    mapper = true_mapper()
    params = mapper.params
    tiny = np.array([300.0, 200.0, 2.0, 40.0])
    wide = np.array([100.0, 100.0, 400.0, 200.0])
    xy, _, radius = mapper.footprints(np.vstack([tiny, wide]))
    assert radius[0] == params.min_radius_m and radius[1] == params.max_radius_m
    assert np.all(np.isfinite(xy))


def test_box_above_the_horizon_is_a_fault_not_a_position() -> None:
    camera = look_at((0.0, 0.0, 1.5), (0.0, 10.0, 0.6), dist_coeffs=np.zeros(5))
    mapper = FloorMapper(camera.floor_homography(), K_TRUE, np.zeros(5))
    xy, sigma, radius = mapper.footprint(np.array([300.0, 0.0, 40.0, 20.0]))
    assert np.all(np.isnan(xy)) and sigma == np.inf and radius == mapper.params.max_radius_m


def test_ankle_keypoints_replace_the_box_bottom() -> None:
    mapper = true_mapper()
    box = box_at(mapper, 1.0, 2.0)
    keypoints = np.full((17, 3), np.nan)
    ankles = mapper.project_points(np.array([[1.1, 2.2, 0.0], [0.9, 2.2, 0.0]]))
    keypoints[15, :2], keypoints[16, :2] = ankles
    keypoints[15, 2], keypoints[16, 2] = 0.9, 0.8
    xy, _, _ = mapper.footprint(box, keypoints)
    assert np.allclose(xy, [1.0, 2.2], atol=0.01)
    keypoints[15, 2] = 0.1  # unsure left ankle: only the right one counts
    xy, _, _ = mapper.footprint(box, keypoints)
    assert np.allclose(xy, [0.9, 2.2], atol=0.01)
    keypoints[16, 2] = 0.1  # neither: back to the box bottom
    xy, _, _ = mapper.footprint(box, keypoints)
    assert np.allclose(xy, [1.0, 2.0], atol=0.02)
    with pytest.raises(ValueError, match="keypoints must have shape"):
        mapper.footprints(box[None], np.zeros((1, 5, 3)))


def test_mapper_rejects_bad_matrices() -> None:
    with pytest.raises(ValueError, match="finite non-zero 3x3"):
        FloorMapper(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="finite non-zero 3x3"):
        FloorMapper(np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match=r"singular \(rank < 3\)"):
        FloorMapper([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match="go together"):
        FloorMapper(np.eye(3), K_TRUE)
    with pytest.raises(ValueError, match="floor_error_m"):
        FloorMapper(np.eye(3), floor_error_m=float("nan"))
    FootprintParams()  # defaults construct


# --- from_camera_config ------------------------------------------------------------------


def write_calibration(path: Path, with_floor: bool = True) -> CameraCalibration:
    camera = cell_camera()
    floor = np.array([[0, 1], [2, 1], [2, 3.5], [0, 3.5], [1, 2], [0.5, 3]], float)
    fit = fit_floor_from_points(camera.project(np.c_[floor, np.zeros(6)]), floor, K_TRUE, DIST_TRUE)
    calibration = CameraCalibration(
        camera="cam1", created=now_utc(), method="chessboard+points", image_size=camera.size,
        camera_matrix=K_TRUE.tolist(), dist_coeffs=DIST_TRUE.tolist(), rms=0.2,
        floor_method="points" if with_floor else None,
        floor_homography=fit.homography.tolist() if with_floor else None,
        floor_error_m=0.02 if with_floor else None, floor_loo_error_m=0.03 if with_floor else None,
        pose=fit.pose if with_floor else None,
    )  # fmt: skip
    save_calibration(calibration, path)
    return calibration


def test_from_camera_config_resolves_a_relative_calibration(tmp_path: Path) -> None:
    write_calibration(tmp_path / "calibration" / "cam1.yaml")
    config = CameraConfig(id="cam1", source=0, calibration="calibration/cam1.yaml")
    mapper = FloorMapper.from_camera_config(config, tmp_path)
    assert mapper.floor_error_m == pytest.approx(0.03)  # the larger of RMS and leave-one-out
    assert mapper.image_size == (640, 480)
    camera = cell_camera()
    floor = np.array([[0.5, 1.5], [1.5, 2.5]])
    pixels = camera.project(np.c_[floor, np.zeros(2)])
    assert np.allclose(mapper.image_to_floor(pixels), floor, atol=1e-4)
    assert np.allclose(mapper.project_points(np.c_[floor, [1.0, 1.0]]),
                       camera.project(np.c_[floor, [1.0, 1.0]]), atol=0.05)  # fmt: skip


def test_from_camera_config_homography_only_and_combined(tmp_path: Path) -> None:
    plain = CameraConfig(
        id="cam1", source=0, floor_homography=[[0.01, 0, -2], [0, -0.01, 3.55], [0, 0, 1]]
    )
    mapper = FloorMapper.from_camera_config(plain, tmp_path)
    assert mapper.camera_matrix is None and mapper.pose is None
    assert np.allclose(mapper.image_to_floor(np.array([[200.0, 355.0]])), [[0.0, 0.0]])
    # intrinsics from a file, homography from the site file: pose decomposed from both
    write_calibration(tmp_path / "intrinsics.yaml", with_floor=False)
    combined = CameraConfig(
        id="cam1", source=0, calibration=str(tmp_path / "intrinsics.yaml"),
        floor_homography=cell_camera().floor_homography().tolist(),
    )  # fmt: skip
    mapper = FloorMapper.from_camera_config(combined, Path("/nonexistent"))
    assert mapper.pose is not None and mapper.pose.camera_height_m == pytest.approx(2.5)


def test_from_camera_config_refusals_name_file_and_field(tmp_path: Path) -> None:
    missing = CameraConfig(id="cam1", source=0, calibration="calibration/cam1.yaml")
    with pytest.raises(ConfigError) as caught:
        FloorMapper.from_camera_config(missing, tmp_path)
    text = str(caught.value)
    assert str(tmp_path / "calibration" / "cam1.yaml") in text
    assert "cannot read calibration file" in text and "cameras[cam1].calibration" in text

    path = tmp_path / "calibration" / "cam1.yaml"
    write_calibration(path)
    data = yaml.safe_load(path.read_text())
    data["camera_matrix"][0][0] = -5.0
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(
        ConfigError, match=r"cam1.yaml: camera_matrix: focal lengths fx, fy must be"
    ):
        FloorMapper.from_camera_config(missing, tmp_path)

    write_calibration(path, with_floor=False)
    with pytest.raises(ConfigError, match=r"cam1.yaml: floor_homography: missing"):
        FloorMapper.from_camera_config(missing, tmp_path)

    write_calibration(path)
    both = CameraConfig(
        id="cam1",
        source=0,
        calibration="calibration/cam1.yaml",
        floor_homography=np.eye(3).tolist(),
    )
    with pytest.raises(ConfigError, match="keep one of them"):
        FloorMapper.from_camera_config(both, tmp_path)


def test_image_size_from_the_site_file_and_agreement_with_the_calibration(tmp_path: Path) -> None:
    homography = [[0.01, 0, -2], [0, -0.01, 3.55], [0, 0, 1]]
    sized = CameraConfig(id="cam1", source=0, floor_homography=homography, image_size=(640, 480))
    assert FloorMapper.from_camera_config(sized, tmp_path).image_size == (640, 480)
    unsized = CameraConfig(id="cam1", source=0, floor_homography=homography)
    assert FloorMapper.from_camera_config(unsized, tmp_path).image_size is None
    write_calibration(tmp_path / "cam1.yaml")  # made at 640x480
    agreeing = CameraConfig(id="cam1", source=0, calibration="cam1.yaml", image_size=(640, 480))
    assert FloorMapper.from_camera_config(agreeing, tmp_path).image_size == (640, 480)
    other = CameraConfig(id="cam1", source=0, calibration="cam1.yaml", image_size=(1280, 720))
    with pytest.raises(ConfigError) as caught:
        FloorMapper.from_camera_config(other, tmp_path)
    text = str(caught.value)
    assert "cam1.yaml: image_size: cameras[cam1].image_size is [1280, 720]" in text
    assert "calibration was made at [640, 480]" in text


@pytest.mark.parametrize("size", [(0, 480), (640, -1), (8, 8)])
def test_image_size_must_be_a_real_frame_size(size: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="image_size"):
        CameraConfig(id="cam1", source=0, floor_homography=np.eye(3).tolist(), image_size=size)
