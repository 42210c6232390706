"""The simulated pinhole camera: projection, floor homography, calibration dict."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from safetymon.config.cameras import CameraConfig
from safetymon.config.loader import load_site_config
from safetymon.sim.camera import SimCamera
from safetymon.sim.cell import demo_camera
from tests.conftest import REPO

#: horizontal field of view giving a focal length of exactly 500 px at 640 px width
HFOV_500 = 2.0 * math.atan(320.0 / 500.0)


def test_top_down_projection_by_hand() -> None:
    cam = SimCamera.look_at((1.0, 2.0, 5.0), (1.0, 2.0, 0.0), HFOV_500)
    assert cam.focal_px == pytest.approx(500.0)
    uv = cam.project([[1.0, 2.0, 0.0], [2.0, 2.0, 0.0], [1.0, 3.0, 1.0]])
    # below the camera: principal point; 1 m east at 5 m depth: +100 px to the right;
    # 1 m north at 4 m depth: 125 px up (north is up in a top-down view)
    np.testing.assert_allclose(uv, [[319.5, 239.5], [419.5, 239.5], [319.5, 114.5]], atol=1e-9)


def test_oblique_projection_by_hand() -> None:
    cam = SimCamera.look_at((0.0, 0.0, 2.0), (0.0, 2.0, 0.0), HFOV_500)
    uv = cam.project([[1.0, 2.0, 0.0], [0.0, 1.0, 0.0]])
    # (1, 2, 0): 1 m right of the axis at depth 2*sqrt(2); (0, 1, 0): camera y = 1/sqrt(2),
    # depth 3/sqrt(2), so v = 239.5 + 500/3
    np.testing.assert_allclose(
        uv, [[319.5 + 500.0 / (2.0 * math.sqrt(2.0)), 239.5], [319.5, 239.5 + 500.0 / 3.0]],
        atol=1e-9,
    )  # fmt: skip
    assert np.all(np.isnan(cam.project([[0.0, -1.0, 2.0]])))  # behind the camera


def test_matches_opencv_project_points() -> None:
    cam = demo_camera()
    data = cam.to_calibration_dict()
    rng = np.random.default_rng(3)
    points = rng.uniform([-2.0, -1.5, 0.0], [4.0, 3.0, 2.0], (200, 3))
    expected, _ = cv2.projectPoints(
        points, np.array(data["rvec"]), np.array(data["tvec"]),
        np.array(data["camera_matrix"]), np.array(data["dist_coeffs"]),
    )  # fmt: skip
    np.testing.assert_allclose(cam.project(points), expected.reshape(-1, 2), atol=1e-8)
    rotation, _ = cv2.Rodrigues(np.array(data["rvec"]))
    np.testing.assert_allclose(rotation, cam.rotation, atol=1e-12)


@pytest.mark.parametrize(
    "camera",
    [demo_camera(), SimCamera.look_at((1.0, 2.0, 5.0), (1.0, 2.0, 0.0), HFOV_500),
     SimCamera.look_at((-3.0, 4.0, 2.5), (1.0, 0.0, 0.0), 1.2, (800, 600))],
    ids=["demo", "top-down", "corner"],
)  # fmt: skip
def test_floor_homography_round_trip(camera: SimCamera) -> None:
    rng = np.random.default_rng(5)
    width, height = camera.image_size
    pixels = rng.uniform([0.0, 0.0], [width - 1.0, height - 1.0], (500, 2))
    floor = camera.pixel_to_floor(pixels)
    visible = np.all(np.isfinite(floor), axis=1)
    assert visible.sum() > 100
    back = camera.project(np.column_stack([floor[visible], np.zeros(visible.sum())]))
    np.testing.assert_allclose(back, pixels[visible], atol=1e-7)
    mapped = cv2.perspectiveTransform(
        pixels[visible].reshape(-1, 1, 2), camera.floor_homography()
    ).reshape(-1, 2)
    np.testing.assert_allclose(mapped, floor[visible], atol=1e-7)
    assert abs(camera.floor_homography()[2, 2]) == 1.0
    # w > 0 on the floor, whichever side of the horizon the top-left pixel is
    w = np.c_[pixels[visible], np.ones(visible.sum())] @ camera.floor_homography()[2]
    assert np.all(w > 0)


def test_demo_camera_sees_the_whole_demo_cell() -> None:
    site = load_site_config(REPO / "zones" / "demo-cell.yaml")
    cam = demo_camera()
    for zone in site.zones:
        uv = cam.project([(x, y, 0.0) for x, y in zone.polygon])
        assert np.all((uv >= 0) & (uv <= (639, 479))), zone.id
        heads = cam.project([(x, y, 1.85) for x, y in zone.polygon])  # a tall person's head
        assert np.all(heads[:, 1] >= 0), zone.id


def test_calibration_dict_is_plain_data_and_a_valid_site_homography() -> None:
    data = demo_camera().to_calibration_dict()
    assert set(data) == {"camera_matrix", "dist_coeffs", "rvec", "tvec", "image_size",
                         "floor_homography"}  # fmt: skip
    assert json.loads(json.dumps(data)) == data
    assert data["image_size"] == [640, 480] and data["dist_coeffs"] == [0.0] * 5
    config = CameraConfig(id="cam1", source=0, floor_homography=data["floor_homography"])
    assert config.floor_homography == data["floor_homography"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"position": (0.0, 0.0, math.nan), "target": (0, 0, 0), "hfov_rad": 1.0}, "position"),
        ({"position": (1.0, 1.0, 1.0), "target": (1.0, 1.0, 1.0), "hfov_rad": 1.0}, "target"),
        ({"position": (0.0, 0.0, 3.0), "target": (0.0, 1.0), "hfov_rad": 1.0}, "target"),
        ({"position": (0.0, 0.0, 3.0), "target": (0, 1, 0), "hfov_rad": 0.0}, "hfov_rad"),
        ({"position": (0.0, 0.0, 3.0), "target": (0, 1, 0), "hfov_rad": 4.0}, "hfov_rad"),
    ],
)
def test_look_at_refuses_bad_input(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        SimCamera.look_at(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"focal_px": -5.0}, "focal_px"),
        ({"focal_px": math.inf}, "focal_px"),
        ({"rotation": np.diag([1.0, 1.0, 2.0])}, "rotation"),
        ({"image_size": (640, 0)}, "image_size"),
    ],
)
def test_constructor_refuses_bad_input(kwargs: dict, field: str) -> None:
    arguments = {"position": np.zeros(3), "rotation": np.eye(3), "focal_px": 500.0}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=field):
        SimCamera(**arguments)
