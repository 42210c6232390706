"""Zones projected into camera images: a real PETS09 frame and a distorting synthetic lens."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from safetymon.config.loader import load_site_config, parse_site_config
from safetymon.config.zones import ZoneConfig
from safetymon.perception.calibration.model import load_calibration
from safetymon.perception.mapping import FloorMapper
from safetymon.viz.colours import zone_colour
from safetymon.viz.overlay import camera_mapper, draw_zones_on_image, project_zones
from tests.perception.test_calibration_synthetic import K_TRUE, cell_camera, look_at
from tests.viz.helpers import PETS_FRAMES, REPO, calibrated_site

PETS_SITE = REPO / "zones" / "pets09-s2l1.yaml"
PETS_CALIBRATION = REPO / "calibration" / "pets09-view001.yaml"


def pets_site_with_zone_at(points: list[tuple[float, float]]):
    data = {
        "site": "pets-check",
        "cameras": [{"id": "view001", "source": 0, "calibration": str(PETS_CALIBRATION)}],
        "zones": [{"id": "check", "type": "protective", "polygon": points}],
    }
    return parse_site_config(data, "pets-check.yaml")


def test_pets_zone_vertices_land_on_the_ground_truth_pixels() -> None:
    """A zone through three calibration points: its corners are drawn at their pixels."""
    truth = load_calibration(PETS_CALIBRATION).floor_points
    chosen = [truth[3], truth[6], truth[7]]  # (372, 247), (411, 331), (660, 292): a triangle
    config = pets_site_with_zone_at([(p.x, p.y) for p in chosen])
    mapper = camera_mapper(config, "view001", REPO)
    (zone,) = project_zones(mapper, config.zones, (768, 576))
    assert zone.visible and zone.label_px is not None
    outline = np.vstack(zone.edges)
    for point in chosen:
        distance = np.hypot(*(outline - [point.u, point.v]).T).min()
        assert distance < 3.0, (point, distance)  # the floor fit's error is ~0.04 m


def test_pets_overlay_on_a_real_frame_tints_the_zones() -> None:
    frame = cv2.imread(str(PETS_FRAMES / "000001.jpg"))
    assert frame is not None and frame.shape == (576, 768, 3)
    config = load_site_config(PETS_SITE)
    drawn = draw_zones_on_image(frame, config, "view001", PETS_SITE.parent)
    assert drawn.shape == frame.shape and not np.array_equal(drawn, frame)
    mapper = camera_mapper(config, "view001", PETS_SITE.parent)
    # pixels well inside the plaza (protective, red) get redder; the grass far below does not
    inside = mapper.floor_to_image(np.array([[-8.0, -3.0], [-9.0, -2.0], [-7.0, -4.0]]))
    for u, v in inside:
        before, after = frame[round(v), round(u)].astype(int), drawn[round(v), round(u)].astype(int)
        red = np.array(zone_colour(config.zone("plaza").type)[::-1])
        assert np.abs(after - red).sum() < np.abs(before - red).sum()
    assert np.array_equal(drawn[500:, :], frame[500:, :])


def test_distorted_lens_bends_the_zone_edges_as_the_camera_does(tmp_path: Path) -> None:
    config = calibrated_site(tmp_path)
    camera = cell_camera()
    mapper = camera_mapper(config, "cam1", tmp_path)
    wide = ZoneConfig(
        id="wide", type="protective", polygon=[(-0.4, 0.9), (2.4, 0.9), (2.4, 3.0), (-0.4, 3.0)]
    )
    zones = {z.id: z for z in project_zones(mapper, [*config.zones, wide], camera.size)}
    near = zones["wide"]
    # every densified edge point is where the real camera sees a floor point of that edge
    polygon = wide.polygon
    corners = np.array([*polygon, polygon[0]])
    floor = np.vstack([np.linspace(a, b, 4000) for a, b in itertools.pairwise(corners)])
    truth = camera.project(np.c_[floor, np.zeros(len(floor))])
    outline = np.vstack(near.edges)
    gaps = [np.hypot(*(truth - p).T).min() for p in outline]
    assert max(gaps) < 0.3  # pixels (the fitted floor has ~1 mm error)
    # the edges really bend: the image of the edge x = -0.4 is no straight line
    a, b, middle = camera.project(np.array([[-0.4, 0.9, 0], [-0.4, 3.0, 0], [-0.4, 1.95, 0]]))
    direction, offset = (b - a) / np.hypot(*(b - a)), middle - a
    assert abs(direction[0] * offset[1] - direction[1] * offset[0]) > 1.0
    # the far zone runs past the horizon's cut and behind the image border: clipped, finite
    far = zones["far"]
    assert far.visible
    rings = np.vstack(far.fill)
    assert np.all(np.isfinite(rings))
    width, height = camera.size
    assert rings[:, 0].min() > -2 and rings[:, 0].max() < width + 1
    assert rings[:, 1].min() > -2 and rings[:, 1].max() < height + 1


def test_zone_behind_a_camera_near_the_horizon_is_not_visible() -> None:
    camera = look_at((0.0, 0.0, 1.5), (0.0, 10.0, 0.6), dist_coeffs=np.zeros(5))
    mapper = FloorMapper(camera.floor_homography(), K_TRUE, np.zeros(5), image_size=camera.size)
    identity = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    behind = [[-1, -5], [1, -5], [1, -1], [-1, -1]]
    ahead = [[-1, 3], [1, 3], [1, 500], [-1, 500]]
    config = parse_site_config(
        {
            "site": "horizon",
            "cameras": [{"id": "c", "source": 0, "floor_homography": identity}],
            "zones": [
                {"id": "behind", "type": "warning", "polygon": behind},
                {"id": "ahead", "type": "protective", "polygon": ahead},
            ],
        }
    )
    zones = {z.id: z for z in project_zones(mapper, config.zones, camera.size)}
    assert not zones["behind"].visible and zones["behind"].label_px is None
    assert zones["ahead"].visible
    horizon_v = camera.project(np.array([[0.0, 1e6, 0.0]]))[0, 1]
    rings = np.vstack(zones["ahead"].fill)
    assert np.all(np.isfinite(rings)) and rings[:, 1].min() > horizon_v - 1


def test_frame_size_differing_from_the_calibration_is_refused(tmp_path: Path) -> None:
    config = calibrated_site(tmp_path)
    frame = np.zeros((600, 800, 3), np.uint8)
    with pytest.raises(ValueError, match=r"800x600 .* 640x480"):
        draw_zones_on_image(frame, config, "cam1", tmp_path)
    with pytest.raises(KeyError, match="its cameras: cam1"):
        draw_zones_on_image(frame, config, "cam9", tmp_path)
