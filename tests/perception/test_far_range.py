"""Far range: unplaceable detections that can only be people beyond it are not faults.

A level street camera at about head height (640x480, 1.1 m up, horizon at row 263, focal
554 px: the camera the TUD-Campus ground truth's box heights give), and the real detection
the default detector made on TUD-Campus frame 69: a 12x38 px box whose bottom is 10 px above
that horizon.
"""

from __future__ import annotations

import numpy as np
import pytest

from safetymon.config.cameras import CameraConfig
from safetymon.monitor.camera_pipeline import CameraPipeline
from safetymon.monitor.perception_setup import camera_far_limit
from safetymon.perception.detectors.base import Detection
from safetymon.perception.evaluation import GroundTruthBox, load_mot_ground_truth
from safetymon.perception.far_range import far_limit
from safetymon.perception.mapping import FloorMapper
from safetymon.perception.new_user_site import HeightFloorEstimate, estimate_floor_from_heights
from safetymon.perception.person_scale import camera_model
from tests.conftest import SHARED_DATA

SIZE = (640, 480)
STREET = HeightFloorEstimate(
    horizon_row_px=263.0,
    camera_height_m=1.1,
    focal_px=554.0,
    principal_u_px=319.5,
    fit_rms_px=0.0,
    person_height_m=1.7,
)
FAR_FALSE_BOX = (464.0, 215.0, 12.0, 38.0)
"""ssdlite on TUD-Campus frame 69 (replay frame 68): nothing a person on the floor can make."""


def street_mapper(image_size: tuple[int, int] | None = SIZE) -> FloorMapper:
    """Image → floor (X right, Z ahead, metres) of the street camera, sign as inverted."""
    return FloorMapper(np.linalg.inv(STREET.floor_to_image()), image_size=image_size)


def person_box(x_m: float, z_m: float, height_m: float) -> tuple[float, float, float, float]:
    """The box (ltwh px) of an upright person ``height_m`` tall standing at (x, z)."""
    foot = STREET.horizon_row_px + STREET.focal_px * STREET.camera_height_m / z_m
    head = STREET.horizon_row_px + STREET.focal_px * (STREET.camera_height_m - height_m) / z_m
    centre = STREET.principal_u_px + STREET.focal_px * x_m / z_m
    width = 0.4 * (foot - head)
    return (centre - width / 2, head, width, foot - head)


def pipeline(with_far_limit: bool) -> CameraPipeline:
    mapper = street_mapper()
    limit = far_limit(mapper, camera_model(mapper)) if with_far_limit else None

    class Nothing:
        def detect(self, frame, ignore_mask=None):  # pragma: no cover - place() only
            return []

    return CameraPipeline("street", Nothing(), mapper, far_limit=limit)


def detections(*boxes: tuple[float, float, float, float]) -> tuple[Detection, ...]:
    return tuple(Detection(box, 0.8, "person") for box in boxes)


def test_far_limit_of_a_head_height_camera_lies_just_under_its_horizon() -> None:
    mapper = street_mapper()
    limit = far_limit(mapper, camera_model(mapper))
    assert np.all(np.isfinite(limit.rows_px))
    # one pixel spans 0.5 m where Z^2 / (f C) = 0.5: Z = 17.5 m, 35 px under the horizon
    # (a little deeper at the sides, where the worst direction is across)
    assert limit.rows_px == pytest.approx(263 + 554 * 1.1 / np.sqrt(0.5 * 554 * 1.1), abs=4)
    # the tallest (2.0 m) person standing there: 2.0 * f / Z px
    assert np.median(limit.tallest_px) == pytest.approx(2.0 * 554 / 17.5, rel=0.1)


def test_a_small_box_above_the_horizon_is_beyond_range_not_a_fault() -> None:
    result = pipeline(True).place(detections(FAR_FALSE_BOX), 0.0)
    assert result.fault is None and result.beyond_range == (0,)
    assert result.observations == ()
    # without a far limit the same frame is a fault (the strict rule)
    strict = pipeline(False).place(detections(FAR_FALSE_BOX), 0.0)
    assert strict.fault is not None and "cannot be placed" in strict.fault


def test_a_box_too_tall_for_a_far_person_stays_a_fault() -> None:
    # bottom above the horizon but 150 px tall: a near person whose feet are hidden?
    near = (300.0, 100.0, 60.0, 150.0)
    result = pipeline(True).place(detections(near, FAR_FALSE_BOX), 0.0)
    assert result.beyond_range == (1,)
    assert result.fault is not None and "1 detection(s) cannot be placed" in result.fault
    assert "[300, 100, 60, 150]" in result.fault


def test_people_on_the_floor_are_placed_whatever_their_distance() -> None:
    boxes = [
        person_box(x, z, h) for x, z, h in [(0.5, 3.0, 1.0), (-1.0, 8.0, 2.0), (2.0, 15.0, 1.7)]
    ]
    result = pipeline(True).place(detections(*boxes), 0.0)
    assert result.fault is None and result.beyond_range == ()
    placed = np.array([o.xy for o in result.observations])
    assert placed == pytest.approx(np.array([[0.5, 3.0], [-1.0, 8.0], [2.0, 15.0]]), abs=1e-6)


def test_a_person_past_the_far_limit_is_never_taller_than_the_limit_allows() -> None:
    mapper = street_mapper()
    limit = far_limit(mapper, camera_model(mapper))
    for z in (18.0, 30.0, 80.0):
        for height in (1.0, 1.5, 2.0):
            box = np.array([person_box(0.0, z, height)])
            box[0, 1] -= box[0, 3] * 0.1 + 40.0  # foot point 40+ px too high: above the horizon
            assert limit.beyond(box)[0], (z, height)


def test_camera_far_limit_needs_a_camera_model() -> None:
    camera = CameraConfig(
        id="street", source="0", floor_homography=np.linalg.inv(STREET.floor_to_image()).tolist()
    )
    assert camera_far_limit(camera, street_mapper(None)) is None  # no image size: strict rule
    assert camera_far_limit(camera, street_mapper()) is not None


def test_box_heights_of_a_known_level_camera_give_it_back() -> None:
    rng = np.random.default_rng(3)
    truth = {}
    for frame in range(1, 41):
        rows = []
        for track in range(4):
            x, z = rng.uniform(-3, 3), rng.uniform(3, 15)
            box = person_box(x, z, 1.7)
            rows.append(_row(track, box))
        truth[frame] = rows
    estimate, feet = estimate_floor_from_heights(truth, None, SIZE, person_height_m=1.7)
    assert len(feet.world) == 160
    assert estimate.horizon_row_px == pytest.approx(263.0, abs=1e-6)
    assert estimate.camera_height_m == pytest.approx(1.1, abs=1e-6)
    assert estimate.fit_rms_px < 1e-6
    assert estimate.focal_px == pytest.approx(554.3, abs=0.1)  # assumed: 60° over 640 px
    # the depth ahead comes back up to the focal length's ratio (554.3 / 554)
    true_depth = 554.0 * 1.1 / (feet.pixels[:, 1] - 263.0)
    assert feet.world[:, 1] == pytest.approx(true_depth * 554.3 / 554.0, rel=1e-3)


def test_tud_campus_gives_a_head_height_camera() -> None:
    truth = load_mot_ground_truth(SHARED_DATA / "mot15" / "TUD-Campus" / "gt" / "gt.txt")
    estimate, feet = estimate_floor_from_heights(truth, None, SIZE)
    assert 250 < estimate.horizon_row_px < 275  # about head height: row 263 of 480
    assert 0.9 < estimate.camera_height_m < 1.4 and estimate.fit_rms_px < 8
    assert len(feet.world) >= 350 and np.all(feet.world[:, 1] > 0)
    # every real person's box is placeable: nobody is taken for beyond range
    mapper = FloorMapper(np.linalg.inv(estimate.floor_to_image()), image_size=SIZE)
    boxes = np.array([r.box_ltwh for rows in truth.values() for r in rows])
    assert np.all(np.isfinite(mapper.image_to_floor(boxes[:, :2] + boxes[:, 2:] * [0.5, 1.0])))
    assert not np.any(far_limit(mapper, camera_model(mapper)).beyond(boxes))


def _row(track: int, box: tuple[float, float, float, float]) -> GroundTruthBox:
    return GroundTruthBox(track, box, (float("nan"), float("nan")), True)
