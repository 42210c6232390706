"""Detector scales from the calibration: synthetic cameras, the real PETS 2009 calibration, HOG."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from safetymon.config.cameras import HogConfig
from safetymon.config.loader import ConfigError, load_site_config
from safetymon.monitor.perception_setup import build_pipelines
from safetymon.perception import person_scale as ps
from safetymon.perception.calibration.floor import homography_from_pose, pose_from_rt
from safetymon.perception.calibration.tsai import TsaiFormatError, load_tsai
from safetymon.perception.detectors.base import DetectorError
from safetymon.perception.detectors.hog import PERSON_IN_WINDOW, HogDetector
from safetymon.perception.evaluation import (
    load_mot_ground_truth,
    match_boxes,
    scale_ground_truth,
    scale_homography,
)
from safetymon.perception.mapping import FloorMapper
from tests.conftest import REPO, SHARED_DATA

PETS = SHARED_DATA / "mot15" / "PETS09-S2L1"
TSAI = SHARED_DATA / "calibration" / "pets09" / "View_001.xml"
SIZE = (640, 480)


def synthetic_pose(pitch_deg: float, height_m: float = 4.0, yaw_deg: float = 25.0):
    """Floor → camera pose of a camera ``height_m`` above (1, 2), looking ``pitch_deg`` below
    the horizontal (90 = straight down), turned ``yaw_deg`` about z."""
    pitch, yaw = np.radians(pitch_deg), np.radians(yaw_deg)
    forward = np.array([np.cos(pitch) * np.cos(yaw), np.cos(pitch) * np.sin(yaw), -np.sin(pitch)])
    right = np.cross(forward, [0.0, 0.0, 1.0])
    if np.linalg.norm(right) < 1e-9:
        right = np.array([np.sin(yaw), -np.cos(yaw), 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.vstack([right, down, forward])  # rows: camera axes in floor coordinates
    centre = np.array([1.0, 2.0, height_m])
    return pose_from_rt(rotation, -rotation @ centre, "solvepnp"), rotation, centre


def k_matrix(focal: float = 700.0, centre: tuple[float, float] | None = None) -> np.ndarray:
    cx, cy = centre or ((SIZE[0] - 1) / 2, (SIZE[1] - 1) / 2)
    return np.array([[focal, 0.0, cx], [0.0, focal, cy], [0.0, 0.0, 1.0]])


def synthetic_mapper(pitch_deg: float, *, with_pose: bool = True, **kwargs) -> FloorMapper:
    pose, _rotation, _centre = synthetic_pose(pitch_deg, **kwargs)
    k = k_matrix()
    h = homography_from_pose(pose, k)
    if with_pose:
        return FloorMapper(h, k, np.zeros(5), pose=pose, image_size=SIZE)
    return FloorMapper(h, image_size=SIZE)


def exact_heights(pitch_deg: float, feet_uv: np.ndarray, h_m: float) -> np.ndarray:
    """Pixel heights of an ``h_m`` person on each foot pixel, by ray casting (no OpenCV)."""
    _pose, rotation, centre = synthetic_pose(pitch_deg)
    k = k_matrix()
    rays = (np.c_[feet_uv, np.ones(len(feet_uv))] @ np.linalg.inv(k).T) @ rotation
    t = -centre[2] / rays[:, 2]
    feet = centre + t[:, None] * rays
    heads = feet + np.array([0.0, 0.0, h_m])
    camera = (heads - centre) @ rotation.T
    head_v = k[1, 1] * camera[:, 1] / camera[:, 2] + k[1, 2]
    return feet_uv[:, 1] - head_v


def test_planner_heights_are_exact_on_a_known_camera() -> None:
    mapper = synthetic_mapper(40.0)
    plan = ps.plan_person_scale(mapper, band_px=20)
    assert plan.camera.source == "pose"
    rng = np.random.default_rng(3)
    feet = np.c_[rng.uniform(0, SIZE[0] - 1, 200), rng.uniform(300, SIZE[1] - 1, 200)]
    got = plan.expected_height_px(feet, mapper)
    for column, h in enumerate((1.0, 2.0)):
        np.testing.assert_allclose(got[:, column], exact_heights(40.0, feet, h), rtol=1e-6)
    # every band's range holds the exact heights of people anywhere in its foot rows
    for band in plan.bands:
        grid = np.stack(
            np.meshgrid(np.linspace(band.left, band.right - 1, 15),
                        np.linspace(band.top, band.bottom - 1, 5)), axis=-1,
        ).reshape(-1, 2)  # fmt: skip
        low, high = exact_heights(40.0, grid, 1.0), exact_heights(40.0, grid, 2.0)
        ok = np.isfinite(low) & (low > 0)
        assert band.min_height_px <= low[ok].min() * 1.02
        assert band.max_height_px >= high[ok].max() * 0.98
        assert band.min_height_px >= low[ok].min() * 0.9  # tight, not just a loose bound


def test_rows_above_the_horizon_see_no_floor() -> None:
    pitch = 10.0  # horizon at v = cy - f tan(pitch)
    plan = ps.plan_person_scale(synthetic_mapper(pitch), band_px=8)
    horizon = (SIZE[1] - 1) / 2 - 700.0 * np.tan(np.radians(pitch))
    assert plan.no_floor_rows and plan.no_floor_rows[0][0] == 0
    assert plan.no_floor_rows[0][1] > horizon  # rows at and above the horizon: no floor
    assert plan.bands[0].top >= horizon
    assert all(b.min_height_px > 0 for b in plan.bands)


@pytest.mark.parametrize("with_pose", [True, False])
def test_a_camera_with_no_floor_in_view_is_refused(with_pose: bool) -> None:
    # looking 35° above the horizontal: its floor homography maps the ray behind the camera
    pose, _r, _c = synthetic_pose(-35.0)
    k = k_matrix()
    h = homography_from_pose(pose, k)
    mapper = (
        FloorMapper(h, k, np.zeros(5), pose=pose, image_size=SIZE)
        if with_pose else FloorMapper(h, image_size=SIZE)
    )  # fmt: skip
    with pytest.raises(ps.PersonScaleError, match="floor"):
        ps.plan_person_scale(mapper)


def test_homography_only_estimate_matches_the_true_pose() -> None:
    mapper = synthetic_mapper(35.0, with_pose=False)
    camera = ps.camera_model(mapper)
    assert camera.source == "homography+right angles"
    assert camera.focal_px == pytest.approx(700.0, rel=1e-6)
    assert camera.height_m == pytest.approx(4.0, rel=1e-6)
    assert camera.tilt_deg == pytest.approx(55.0, abs=1e-4)
    with_height = ps.camera_model(mapper, camera_height_m=4.0)
    assert with_height.source == "homography+camera height"
    assert with_height.focal_px == pytest.approx(700.0, rel=1e-5)
    truth = ps.plan_person_scale(synthetic_mapper(35.0), band_px=20)
    estimate = ps.plan_person_scale(mapper, band_px=20)
    for a, b in zip(truth.bands, estimate.bands, strict=True):
        assert b.min_height_px == pytest.approx(a.min_height_px, rel=1e-4)


def test_a_near_top_down_camera_needs_its_height() -> None:
    mapper = synthetic_mapper(85.0, with_pose=False)  # 5° from straight down
    with pytest.raises(ps.PersonScaleError, match="camera_height_m"):
        ps.camera_model(mapper)
    camera = ps.camera_model(mapper, camera_height_m=4.0)
    assert camera.focal_px == pytest.approx(700.0, rel=1e-4)
    with pytest.raises(ps.PersonScaleError, match="camera_height_m"):
        ps.camera_model(mapper, camera_height_m=-1.0)


def test_an_off_centre_principal_point_is_flagged() -> None:
    pose, _r, _c = synthetic_pose(35.0)
    k = k_matrix(centre=(120.0, 400.0))  # far from the image centre
    mapper = FloorMapper(homography_from_pose(pose, k), image_size=SIZE)
    with pytest.raises(ps.PersonScaleError, match="disagree"):
        ps.camera_model(mapper)


# --- the real PETS 2009 calibration --------------------------------------------------------


@lru_cache(maxsize=1)
def tsai_mapper() -> FloorMapper:
    camera = load_tsai(TSAI)
    return FloorMapper(
        camera.floor_homography(), camera.camera_matrix, camera.dist_coeffs,
        pose=camera.pose, image_size=camera.image_size,
    )  # fmt: skip


def homography_mapper(size: tuple[int, int]) -> FloorMapper:
    data = yaml.safe_load((REPO / "calibration" / "pets09-view001.yaml").read_text())
    s = size[0] / 768.0
    h = scale_homography(np.asarray(data["floor_homography"], float), s, s)
    return FloorMapper(h, image_size=size)


def test_tsai_file_projects_ground_truth_onto_the_boxes() -> None:
    camera = load_tsai(TSAI)
    assert camera.image_size == (768, 576)
    assert camera.pose.camera_height_m == pytest.approx(7.07, abs=0.05)  # SOURCES: 5-7 m
    assert camera.fit_residual_px < 0.05
    rows = [r for rows in load_mot_ground_truth(PETS / "gt" / "gt.txt").values() for r in rows]
    world = np.array([r.world_xy for r in rows if r.considered])
    boxes = np.array([r.box_ltwh for r in rows if r.considered])
    feet = np.c_[boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3]]
    error = np.linalg.norm(camera.project(np.c_[world, np.zeros(len(world))]) - feet, axis=1)
    assert np.median(error) < 3.0  # SOURCES.md: median 2.2 px


def test_tsai_file_with_a_missing_value_is_refused(tmp_path: Path) -> None:
    text = TSAI.read_text().replace('kappa1="', 'kappa_one="')
    broken = tmp_path / "broken.xml"
    broken.write_text(text)
    with pytest.raises(TsaiFormatError, match="kappa1"):
        load_tsai(broken)


def gt_coverage(mapper: FloorMapper, scale: float) -> tuple[float, float]:
    """(fraction of GT box heights inside the 1-2 m range, median implied height m)."""
    rows = [
        r for rows in load_mot_ground_truth(PETS / "gt" / "gt.txt").values() for r in rows
        if r.considered
    ]  # fmt: skip
    camera = ps.camera_model(mapper)
    world = np.array([r.world_xy for r in rows])
    gt = np.array([r.box_ltwh[3] for r in rows]) * scale
    foot = camera.project(np.c_[world, np.zeros(len(world))])[:, 1]
    head = {h: camera.project(np.c_[world, np.full(len(world), h)])[:, 1] for h in (1.0, 2.0)}
    inside = (gt >= foot - head[1.0]) & (gt <= foot - head[2.0])
    return float(inside.mean()), float(np.median(gt / (foot - head[1.0])))


def test_pets_ground_truth_heights_fall_in_the_predicted_range() -> None:
    # measured: 100 % inside, median 1.78 m (pose) / 1.81 m (homography only), every size
    inside, median = gt_coverage(tsai_mapper(), 1.0)
    assert inside >= 0.98
    assert 1.65 <= median <= 1.9
    for size in ((768, 576), (480, 360), (320, 240)):
        mapper = homography_mapper(size)
        assert ps.camera_model(mapper).source == "homography+right angles"
        inside_h, median_h = gt_coverage(mapper, size[0] / 768.0)
        assert inside_h >= 0.98
        assert median_h == pytest.approx(median, rel=0.04)


def test_pets_homography_estimate_is_close_to_the_official_pose() -> None:
    official = ps.camera_model(tsai_mapper())
    estimate = ps.camera_model(homography_mapper((768, 576)))
    assert estimate.focal_px == pytest.approx(official.focal_px, rel=0.04)  # measured 1.9 %
    assert estimate.height_m == pytest.approx(official.height_m, rel=0.02)  # measured 0.6 %
    assert estimate.tilt_deg == pytest.approx(official.tilt_deg, abs=1.5)  # measured 0.5°


# --- crops and tiles -----------------------------------------------------------------------


def test_hog_crops_bring_the_smallest_person_to_the_window_within_the_budget() -> None:
    plan = ps.plan_person_scale(homography_mapper((320, 240)))
    unbounded = ps.hog_bands(plan, max_scan_mpx=100.0)
    window = 128 * PERSON_IN_WINDOW[3]
    for band in plan.bands:
        crop = next(c for c in unbounded.crops if c.foot_top <= band.top < c.foot_bottom)
        assert band.min_height_px * crop.upscale >= window * 0.999 or crop.upscale == 4.0
        assert crop.top <= max(0, band.top - band.max_height_px)  # the tallest fits above
    bounded = ps.hog_bands(plan, max_scan_mpx=0.5)
    assert bounded.scan_mpx <= 0.5
    assert bounded.notes  # the capped bands are named
    near = ps.hog_bands(ps.plan_person_scale(tsai_mapper()), max_scan_mpx=100.0)
    assert min(c.upscale for c in near.crops) < max(c.upscale for c in near.crops)  # split


def test_detector_tiles_cover_every_floor_person_at_the_minimum_size() -> None:
    mapper = tsai_mapper()
    plan = ps.plan_person_scale(mapper)
    tiles = ps.detector_tiles(plan, input_px=300, min_person_input_px=40.0)
    for band in plan.bands:
        feet = np.stack(
            np.meshgrid(np.linspace(band.left, band.right - 1, 9),
                        np.linspace(band.top, band.bottom - 1, 3)), axis=-1,
        ).reshape(-1, 2)  # fmt: skip
        heights = plan.expected_height_px(feet, mapper)
        m_per_px = np.array([np.linalg.norm(j, 2) for j in mapper.jacobian(feet)])
        for (u, v), (low, high), scale in zip(feet, heights, m_per_px, strict=True):
            if not (np.isfinite(low) and scale <= ps.MAX_M_PER_PX):
                continue  # out of the planned floor (beyond the range cut)
            left_px, right_px = max(0.0, u - high / 4), min(768.0, u + high / 4)
            top_px = max(0.0, v - high)
            holders = [
                width for left, top, width, height in tiles.tiles
                if left <= left_px and right_px <= left + width
                and top <= top_px and v <= top + height
            ]  # fmt: skip
            assert holders, (u, v)
            assert max(low * 300 / side for side in holders) >= 40.0 * 0.97, (u, v)


def test_detector_tiles_refuse_an_impossible_request() -> None:
    plan = ps.plan_person_scale(tsai_mapper())
    with pytest.raises(ps.PersonScaleError, match="input_px"):
        ps.detector_tiles(plan, input_px=300, min_person_input_px=150.0)


# --- HOG with a band plan ------------------------------------------------------------------


@lru_cache(maxsize=1)
def small_frames() -> dict[int, np.ndarray]:
    frames = {}
    for number in range(151, 301, 3):
        image = cv2.imread(str(PETS / "img1" / f"{number:06d}.jpg"))
        assert image is not None
        frames[number] = cv2.resize(image, (320, 240), interpolation=cv2.INTER_AREA)
    return frames


def recall(detector: HogDetector) -> float:
    truth = scale_ground_truth(load_mot_ground_truth(PETS / "gt" / "gt.txt"), 320 / 768, 240 / 576)
    found = total = 0
    for number, image in small_frames().items():
        boxes = np.array([d.box_ltwh for d in detector.detect(image)])
        match = match_boxes(boxes, truth[number])
        found += match.true_positives
        total += match.true_positives + match.false_negatives
    return found / total


def test_auto_scales_find_the_small_people_that_fixed_misses() -> None:
    cv2.setNumThreads(1)
    plan = ps.hog_bands(ps.plan_person_scale(homography_mapper((320, 240))))
    fixed = recall(HogDetector(HogConfig()))
    auto = recall(HogDetector(HogConfig(scales="auto"), band_plan=plan))
    # measured on frames 151-300 (every 3rd): fixed 0.00, auto ~0.6
    assert fixed < 0.1
    assert auto >= fixed + 0.3


def test_hog_refuses_a_frame_of_another_size_and_auto_without_a_plan() -> None:
    plan = ps.hog_bands(ps.plan_person_scale(homography_mapper((320, 240))))
    detector = HogDetector(HogConfig(scales="auto"), band_plan=plan)
    with pytest.raises(DetectorError, match="320x240"):
        detector.detect(np.zeros((576, 768, 3), np.uint8))
    with pytest.raises(DetectorError, match="band plan"):
        HogDetector(HogConfig(scales="auto"))


def test_build_pipelines_gives_each_camera_its_plan(tmp_path: Path) -> None:
    config = load_site_config(REPO / "zones" / "pets09-s2l1.yaml")
    detector = config.detector.model_copy(
        update={"kind": "hog", "hog": HogConfig(scales="auto")}
    )
    auto = config.model_copy(update={"detector": detector})
    pipelines = build_pipelines(auto, REPO / "zones")
    hog = pipelines["view001"].detector
    assert isinstance(hog, HogDetector) and hog.band_plan is not None
    assert hog.band_plan.image_size == (768, 576)
    # a camera whose homography has no image size cannot be planned: refused, naming it
    camera = config.cameras[0].model_copy(
        update={"calibration": None, "image_size": None,
                "floor_homography": homography_mapper((768, 576)).homography.tolist()}
    )  # fmt: skip
    broken = auto.model_copy(update={"cameras": [camera]})
    with pytest.raises(ConfigError, match=r"image_size"):
        build_pipelines(broken, REPO / "zones")
