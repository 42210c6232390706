"""Floor plans of every example site: to scale, colours where the zones are, deterministic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely

from safetymon.config.loader import load_site_config, parse_site_config
from safetymon.config.zones import ZoneType
from safetymon.viz.colours import (
    CAMERA_COLOUR,
    FILL_ALPHA,
    ROBOT_COLOUR,
    ZONE_COLOURS,
    blend,
    zone_colour,
)
from safetymon.viz.plan import PlanRenderer, draw_tracks, render_plan, save_plan
from safetymon.viz.reach import robot_reach
from safetymon.viz.scene import camera_marks
from tests.conftest import with_published_robots
from tests.perception.test_calibration_synthetic import cell_camera
from tests.viz.helpers import REPO, calibrated_site

SITES = sorted(  # site files; zones/ also holds the example verification plan
    p for p in (REPO / "zones").glob("*.yaml") if p.name != "verification-plan.yaml"
)
WHITE = (255, 255, 255)


def test_every_zone_type_has_a_colour() -> None:
    assert set(ZONE_COLOURS) == set(ZoneType)
    assert len(set(ZONE_COLOURS.values())) == len(ZoneType)


def expected_colour(plan, config, xy: tuple[float, float]) -> tuple[float, float, float]:
    """White paper with each zone containing ``xy`` blended on in the plan's drawing order."""
    colour: tuple[float, float, float] = WHITE
    for zone_id in plan.zone_order:
        zone = config.zone(zone_id)
        if zone.shape().contains(shapely.Point(xy)):
            colour = blend(zone_colour(zone.type), colour, FILL_ALPHA)
    return colour


@pytest.mark.parametrize("site", SITES, ids=lambda p: p.stem)
def test_plan_is_to_scale_with_zone_colours_where_the_zones_are(site: Path) -> None:
    config = load_site_config(site)
    plan = render_plan(
        config, site.parent, size_px=(1000, 700), show_robots=False, show_cameras=False
    )
    assert plan.image.shape == (700, 1000, 3) and plan.image.dtype == np.uint8
    assert plan.image.std() > 10  # not blank
    assert plan.zone_order and set(plan.zone_order) == {zone.id for zone in config.zones}
    scale = plan.transform.scale_px_per_m
    rgb = plan.image[:, :, ::-1].astype(float)
    checked = 0
    for zone in config.zones:
        shape = zone.shape()
        # points well inside the zone, off the grid lines, the zone edges and the labels
        x0, y0, x1, y1 = shape.bounds
        xs, ys = np.meshgrid(np.linspace(x0, x1, 15), np.linspace(y0, y1, 15))
        edges = shapely.union_all([z.shape().boundary for z in config.zones])
        for x, y in zip(xs.ravel(), ys.ravel(), strict=True):
            point = shapely.Point(x, y)
            if not shape.contains(point) or edges.distance(point) * scale < 4:
                continue
            step = plan.grid_step_m
            if (
                min(abs(x / step - round(x / step)), abs(y / step - round(y / step))) * step * scale
                < 3
            ):
                continue
            col, row = plan.transform.to_pixels(np.array([[x, y]]))[0]
            if any(
                b[0] - 3 <= col <= b[2] + 3 and b[1] - 3 <= row <= b[3] + 3
                for b in plan.label_boxes_px.values()
            ):
                continue
            got = rgb[round(row), round(col)]
            want = np.array(expected_colour(plan, config, (x, y)))
            assert np.abs(got - want).max() <= 3, (zone.id, (x, y), got, want)
            checked += 1
    assert checked >= 10 * len(config.zones)


@pytest.mark.parametrize("site", SITES, ids=lambda p: p.stem)
def test_full_plan_renders_and_the_extent_covers_zones_and_robots(
    site: Path, tmp_path: Path
) -> None:
    if "kind: urdf" in site.read_text():  # the URDF examples name robots/<file>.urdf
        site = with_published_robots(site, tmp_path)
    config = load_site_config(site)
    plan = render_plan(config, site.parent)
    assert plan.image.shape == (900, 1200, 3)
    x0, y0, x1, y1 = plan.extent_m
    for zone in config.zones:
        zx0, zy0, zx1, zy1 = zone.shape().bounds
        assert x0 < zx0 and y0 < zy0 and zx1 < x1 and zy1 < y1
    for robot in plan.robots:
        col, row = plan.transform.to_pixels(np.array([robot.base_m]))[0]
        assert np.abs(plan.image[round(row), round(col)][::-1] - ROBOT_COLOUR).max() <= 10


def test_saved_plan_is_byte_for_byte_reproducible(tmp_path: Path) -> None:
    site = REPO / "zones" / "demo-cell.yaml"
    config = load_site_config(site)
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    save_plan(first, config, site.parent, image_sizes={"cam1": (640, 480)})
    save_plan(second, load_site_config(site), site.parent, image_sizes={"cam1": (640, 480)})
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_camera_centre_and_footprint_of_a_calibrated_camera(tmp_path: Path) -> None:
    config = calibrated_site(tmp_path)
    (mark,) = camera_marks(config, tmp_path)
    assert mark.centre_m == pytest.approx((1.0, -0.5, 2.5), abs=0.01)
    assert mark.note == ""
    # floor points the synthetic camera sees inside its image are in the footprint, and
    # points it sees outside are not (away from the border and the horizon cut)
    camera = cell_camera()
    rng = np.random.default_rng(3)
    floor = np.c_[rng.uniform(-4, 6, 4000), rng.uniform(-1, 12, 4000)]
    pixels = camera.project(np.c_[floor, np.zeros(len(floor))])
    width, height = camera.size
    inside = (
        (pixels[:, 0] > 3)
        & (pixels[:, 0] < width - 4)
        & (pixels[:, 1] > 3)
        & (pixels[:, 1] < height - 4)
    )
    outside = (
        (pixels[:, 0] < -3)
        | (pixels[:, 0] > width + 2)
        | (pixels[:, 1] < -3)
        | (pixels[:, 1] > height + 2)
    )
    contained = shapely.contains_xy(mark.footprint, floor[:, 0], floor[:, 1])
    assert inside.sum() > 200 and outside.sum() > 200
    assert contained[inside].all()
    assert not contained[outside].any()
    plan = render_plan(config, tmp_path)
    col, row = plan.transform.to_pixels(np.array([[1.0, -0.5]]))[0]
    assert np.abs(plan.image[round(row), round(col)][::-1] - CAMERA_COLOUR).max() <= 10


def test_a_camera_without_image_size_or_pose_says_so(tmp_path: Path) -> None:
    site = REPO / "zones" / "warehouse-aisle.yaml"
    marks = camera_marks(load_site_config(site), site.parent)
    assert [m.footprint for m in marks] == [None, None]
    assert all("footprint unknown" in m.note and "no pose" in m.note for m in marks)
    with pytest.raises(ValueError, match=r"800x600 differs from its calibration's .* 640x480"):
        camera_marks(calibrated_site(tmp_path), tmp_path, {"cam1": (800, 600)})


def test_dh_reach_bound_and_its_circle(tmp_path: Path) -> None:
    robots = [
        {
            "id": "arm",
            "max_speed_mps": 1.0,
            "stopping": {"deceleration_mps2": 3.0},
            "link_radius_m": 0.05,
            "base_pose": {"x_m": 1.0, "y_m": 2.0},
            "geometry": {
                "kind": "dh",
                "joints": [
                    {"d_m": 0.4, "alpha_rad": 1.5708},
                    {"a_m": 0.5},
                    {"a_m": 0.4, "radius_m": 0.08},
                ],
            },
        }
    ]
    config = calibrated_site(tmp_path, robots)
    reach = robot_reach(config.robots[0], tmp_path)
    assert reach.radius_m == pytest.approx(0.4 + 0.5 + 0.4 + 0.08)
    plan = render_plan(config, tmp_path, show_cameras=False)
    (mark,) = plan.robots
    assert mark.base_m == (1.0, 2.0)
    # the extent holds the whole reach disc
    x0, y0, x1, y1 = plan.extent_m
    assert x0 < 1.0 - 1.38 and x1 > 1.0 + 1.38 and y0 < 2.0 - 1.38 and y1 > 2.0 + 1.38
    # the dotted circle: robot-coloured pixels lie at the reach radius around the base
    dark = np.all(np.abs(plan.image[:, :, ::-1].astype(int) - ROBOT_COLOUR) < 40, axis=2)
    rows, cols = np.nonzero(dark)
    floor = plan.transform.to_floor(np.c_[cols, rows])
    distance = np.hypot(floor[:, 0] - 1.0, floor[:, 1] - 2.0)
    ring = np.abs(distance - 1.38) < 2.5 / plan.transform.scale_px_per_m
    assert ring.sum() > 50


def test_unknown_urdf_is_refused_with_robot_and_path(tmp_path: Path) -> None:
    robots = [
        {
            "id": "arm",
            "max_speed_mps": 1.0,
            "stopping": {"deceleration_mps2": 3.0},
            "geometry": {"kind": "urdf", "path": "missing.urdf"},
        }
    ]
    config = calibrated_site(tmp_path, robots)
    with pytest.raises(ValueError, match=r"robots\[0\] \(arm\)\.geometry\.path: cannot read URDF"):
        render_plan(config, tmp_path)


def test_tracks_are_drawn_where_they_are_and_bad_tracks_refused() -> None:
    site = REPO / "zones" / "service-counter.yaml"
    renderer = PlanRenderer(load_site_config(site), site.parent, track_legend=True)
    empty = renderer.render()
    image = renderer.render(np.array([[1.5, -0.75, 0.3], [0.5, 0.8, 0.25]]), ["7", "9"])
    assert np.array_equal(empty, renderer.base.image)
    changed = np.any(image != empty, axis=2)
    for x, y, r in [(1.5, -0.75, 0.3), (0.5, 0.8, 0.25)]:
        col, row = renderer.base.transform.to_pixels(np.array([[x, y]]))[0]
        assert image[round(row), round(col)][1] > image[round(row), round(col)][2]  # green
        # nothing changes far outside the disc except the label to its right
        far = renderer.base.transform.to_pixels(np.array([[x - 3 * r, y]]))[0]
        assert not changed[round(far[1]), round(far[0])]
    with pytest.raises(ValueError, match=r"tracks\[1\]"):
        draw_tracks(empty.copy(), renderer.base.transform, np.array([[0, 0, 0.3], [np.nan, 0, 1]]))
    with pytest.raises(ValueError, match="shape"):
        draw_tracks(empty.copy(), renderer.base.transform, np.zeros((2, 2)))


def test_plan_refuses_a_tiny_size() -> None:
    site = REPO / "zones" / "demo-cell.yaml"
    with pytest.raises(ValueError, match="too small"):
        render_plan(load_site_config(site), site.parent, size_px=(100, 80))


def test_site_without_zones_or_robots_still_has_an_extent() -> None:
    homography = [[0.01, 0, -3], [0, -0.01, 4], [0, 0, 1]]
    camera = {"id": "c", "source": 0, "floor_homography": homography}
    config = parse_site_config({"site": "bare", "cameras": [camera]})
    plan = render_plan(config, ".", image_sizes={"c": (640, 480)})
    x0, y0, x1, y1 = plan.extent_m
    assert x0 < -3 and x1 > 3.4 and y0 < -0.8 and y1 > 4  # the whole camera view
