"""The demo cell renderer: determinism, ground truth, foreground against the reference."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import shapely

from safetymon.config.loader import load_site_config
from safetymon.sim.cell import DemoScene, SceneState, demo_camera
from safetymon.sim.people import Appearance, PersonPose, body
from safetymon.sim.render import (
    LABEL_ROBOT,
    LABEL_TABLE,
    CellRenderer,
    capsule_mask,
    write_video,
)
from tests.conftest import REPO

THRESHOLD = 25  # grey levels: a plain foreground threshold, well above the sensor noise


@pytest.fixture(scope="module")
def scene() -> DemoScene:
    return DemoScene.from_site(load_site_config(REPO / "zones" / "demo-cell.yaml"))


@pytest.fixture(scope="module")
def renderer(scene: DemoScene) -> CellRenderer:
    return CellRenderer(scene, demo_camera(), seed=1)


def _foreground(frame: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(H, W) bool: a plain absdiff + threshold foreground, as a simple detector would."""
    difference = cv2.absdiff(frame, reference).max(axis=2)
    return difference > THRESHOLD


def _floor_of(renderer: CellRenderer, u: float, v: float) -> np.ndarray:
    homography = np.array(renderer.camera.to_calibration_dict()["floor_homography"])
    return cv2.perspectiveTransform(np.array([[[u, v]]], np.float64), homography).reshape(2)


def _around_people(renderer: CellRenderer, state: SceneState, labels: np.ndarray) -> np.ndarray:
    """(H, W) bool: people's pixels grown by 3 px, and the floor within 0.5 m of each."""
    around = cv2.dilate((labels >= 10).astype(np.uint8), np.ones((7, 7), np.uint8))
    angles = np.linspace(0.0, 2.0 * math.pi, 32, endpoint=False)
    for pose in state.people:
        disc = np.column_stack([pose.xy[0] + 0.5 * np.cos(angles),
                                pose.xy[1] + 0.5 * np.sin(angles), np.zeros(32)])  # fmt: skip
        uv = np.round(renderer.camera.project(disc)).astype(np.int32)
        cv2.fillConvexPoly(around, uv, 1)
    return around > 0


def _person_state(scene: DemoScene, *poses: PersonPose) -> SceneState:
    base = scene.state_at(0.0)
    return SceneState(1.25, tuple(poses), base.arm_phase_rad, base.arm)


def _pose(xy: tuple[float, float], heading: float, phase: float, stride: float) -> PersonPose:
    return PersonPose(9, np.array(xy), np.zeros(2), heading, phase, stride, Appearance.varied(4))


def test_frames_are_deterministic_bgr_images(scene: DemoScene, renderer: CellRenderer) -> None:
    state = scene.state_at(14.0, 1.3, 0.3)
    first = renderer.render(state)
    assert first.shape == (480, 640, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, renderer.render(state))
    twin = CellRenderer(scene, demo_camera(), seed=1)
    np.testing.assert_array_equal(first, twin.render(state))
    np.testing.assert_array_equal(renderer.reference(), twin.reference())
    # noise makes consecutive frames differ, a little
    other = renderer.render(scene.state_at(0.5))
    still = renderer.render(scene.state_at(0.55))
    assert np.any(other != still)


def test_empty_cell_shows_no_foreground(scene: DemoScene, renderer: CellRenderer) -> None:
    reference = renderer.reference()
    for time_s in (0.0, 0.5, 1.0, 8.7):  # nobody in the scene; the arm at rest
        state = scene.state_at(time_s)
        assert state.people == ()
        assert not np.any(_foreground(renderer.render(state), reference))


@pytest.mark.parametrize("time_s", [5.0, 11.0, 14.0, 19.0, 27.5])
def test_foreground_is_the_person(scene: DemoScene, renderer: CellRenderer, time_s: float) -> None:
    state = scene.state_at(time_s)  # arm at rest, as in the reference
    frame = renderer.render_with_truth(state)
    foreground = _foreground(frame.image, renderer.reference())
    people = frame.labels >= 10
    assert people.sum() > 500
    # found: nearly all of the people's pixels differ from the reference
    assert (foreground & people).sum() >= 0.9 * people.sum()
    # nothing else: the rest lies around them (anti-aliased edges, soft floor shadow)
    assert not np.any(foreground & ~_around_people(renderer, state, frame.labels))
    # the largest blob after a little clean-up is the person
    blobs = cv2.morphologyEx(foreground.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3)))
    _, labels, stats, _ = cv2.connectedComponentsWithStats(blobs)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    blob = labels == largest
    assert (blob & people).sum() / (blob | people).sum() > 0.7


def test_moving_arm_differs_only_around_person_and_arm(
    scene: DemoScene, renderer: CellRenderer
) -> None:
    state = scene.state_at(14.0, arm_phase_rad=1.1)
    frame = renderer.render_with_truth(state)
    foreground = _foreground(frame.image, renderer.reference())
    rest = scene.state_at(0.0)
    arm_then_and_now = renderer.robot_mask(state, margin_px=3) | renderer.robot_mask(rest, 3)
    people = _around_people(renderer, state, frame.labels)
    assert not np.any(foreground & ~(arm_then_and_now | people))
    assert np.any(foreground & renderer.robot_mask(state))
    # against a reference without the robot, the arm itself is foreground
    bare = _foreground(frame.image, renderer.reference(with_robot=False))
    arm_now = frame.labels == LABEL_ROBOT
    assert (bare & arm_now).sum() >= 0.9 * arm_now.sum()


def test_robot_mask_is_the_decisions_capsules(scene: DemoScene, renderer: CellRenderer) -> None:
    state = scene.state_at(3.0, arm_phase_rad=2.0)
    frame = renderer.render_with_truth(state)
    mask = renderer.robot_mask(state)
    arm = state.arm
    same = capsule_mask(renderer.camera, arm.link_a, arm.link_b, arm.radius_m)
    np.testing.assert_array_equal(mask, same)
    drawn = frame.labels == LABEL_ROBOT
    assert drawn.sum() > 200
    grown = renderer.robot_mask(state, margin_px=1)
    assert np.all(grown[drawn])  # every drawn arm pixel is inside the mask
    assert grown.sum() < 1.3 * drawn.sum() + 400


def _lowest_point(renderer: CellRenderer, mask: np.ndarray) -> np.ndarray:
    """Floor point (metres) of the lowest row of a mask, read as if it lay on the floor."""
    rows, cols = np.nonzero(mask)
    lowest = rows.max()
    return _floor_of(renderer, float(cols[rows == lowest].mean()), float(lowest))


def _sole_error(renderer: CellRenderer, pose: PersonPose, floor: np.ndarray) -> float:
    """How far ``floor`` is from the person's soles, less the error a lifted foot explains.

    A sole lifted by z0 (swing foot) seen from camera height H at horizontal distance D
    lands up to z0·D/(H − z0) farther out when read through the floor homography.
    """
    camera = renderer.camera
    errors = []
    for foot in body(pose).feet:
        sole = shapely.Polygon(foot.polygon)
        reach = float(np.max(np.linalg.norm(foot.polygon - camera.position[:2], axis=1)))
        lift = foot.z0_m * reach / (camera.position[2] - foot.z0_m)
        errors.append(sole.distance(shapely.Point(floor)) - lift)
    return min(errors)


# person 2 walking in full view (the passers-by cut the warning zone's corners at the lower
# corners of the image, never in full view)
@pytest.mark.parametrize("time_s", [11.5, 11.75, 12.0, 12.25, 12.5, 17.5, 17.75, 18.0, 18.25, 18.5])
def test_lowest_pixel_of_a_person_maps_to_its_feet(
    scene: DemoScene, renderer: CellRenderer, time_s: float
) -> None:
    """The lowest visible pixel of a walking person maps back onto one of its soles."""
    state = scene.state_at(time_s)
    frame = renderer.render_with_truth(state)
    checked = 0
    for pose in state.people:
        mask = frame.person_mask(pose.track_id)
        rows, cols = np.nonzero(mask)
        if rows.max() >= 479 or cols.min() <= 0 or cols.max() >= 639:
            continue  # partly out of view
        floor = _lowest_point(renderer, mask)
        assert _sole_error(renderer, pose, floor) < 0.05, (pose.track_id, floor, pose.xy)
        # and the body centre is at most half a step and a foot length away
        assert np.linalg.norm(floor - pose.xy) < 0.5
        checked += 1
    assert checked >= 1


@pytest.mark.parametrize("heading", np.linspace(0.0, 2 * math.pi, 8, endpoint=False))
@pytest.mark.parametrize("xy", [(-0.5, 0.2), (2.5, -0.8), (1.0, 2.3)])
def test_standing_person_foot_point_is_on_the_floor_at_its_position(
    scene: DemoScene, renderer: CellRenderer, heading: float, xy: tuple[float, float]
) -> None:
    pose = _pose(xy, float(heading), 0.0, 0.0)
    frame = renderer.render_with_truth(_person_state(scene, pose))
    floor = _lowest_point(renderer, frame.person_mask(9))
    soles = [shapely.Polygon(foot.polygon) for foot in body(pose).feet]
    assert all(foot.z0_m == pytest.approx(0.0, abs=1e-12) for foot in body(pose).feet)
    assert min(sole.distance(shapely.Point(floor)) for sole in soles) < 0.05
    # within a foot's length (0.19 m ahead of the ankle) and the hip width of the centre
    assert np.linalg.norm(floor - pose.xy) < 0.25


def test_table_hides_the_feet_of_a_person_behind_it(
    scene: DemoScene, renderer: CellRenderer
) -> None:
    pose = _pose((1.0, 1.45), -math.pi / 2, 0.0, 0.0)  # just north of the table, facing it
    frame = renderer.render_with_truth(_person_state(scene, pose))
    for foot in body(pose).feet:
        centre = np.append(foot.polygon.mean(axis=0), 0.0)
        u, v = np.round(renderer.camera.project([centre])[0]).astype(int)
        assert frame.labels[v, u] == LABEL_TABLE
    rows, _ = np.nonzero(frame.person_mask(9))
    assert rows.size > 300  # the upper body still shows above the table


def test_person_near_or_behind_the_camera_does_not_break(
    scene: DemoScene, renderer: CellRenderer
) -> None:
    for xy in [(1.0, -2.6), (1.0, -2.9), (1.0, -2.3), (-4.0, 5.0)]:
        image = renderer.render(_person_state(scene, _pose(xy, 0.0, 1.0, 1.0)))
        assert image.shape == (480, 640, 3)


def test_renderer_refuses_bad_settings(scene: DemoScene) -> None:
    with pytest.raises(ValueError, match="noise_sigma"):
        CellRenderer(scene, demo_camera(), noise_sigma=-1.0)
    from safetymon.sim.camera import SimCamera

    outside = SimCamera.look_at((20.0, 0.0, 3.0), (1.0, 0.0, 0.0), 1.2)
    with pytest.raises(ValueError, match="outside the room"):
        CellRenderer(scene, outside)


def test_write_video_round_trip(
    scene: DemoScene, renderer: CellRenderer, tmp_path: Path
) -> None:
    frames = [renderer.render(scene.state_at(10.0 + 0.1 * k)) for k in range(6)]
    path = tmp_path / "demo.avi"
    assert write_video(path, frames, fps=10.0) == 6
    capture = cv2.VideoCapture(str(path))
    read = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        read.append(image)
    capture.release()
    assert len(read) == 6 and read[0].shape == (480, 640, 3)
    assert np.mean(cv2.absdiff(read[3], frames[3])) < 6  # MJPG is lossy, but close
    with pytest.raises(ValueError, match="extension"):
        write_video(tmp_path / "demo.gif", frames, fps=10.0)
    with pytest.raises(ValueError, match="frame 1"):
        write_video(tmp_path / "bad.avi", [frames[0], frames[1][:100]], fps=10.0)
