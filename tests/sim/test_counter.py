"""The humanoid counter scene: its script through the real decision on ground truth, and its
rendering (the humanoid drawn on its capsules, never in front of a person)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import shapely

from safetymon.config.loader import load_site_config
from safetymon.config.site import SiteConfig
from safetymon.examples import example_path
from safetymon.monitor.robot_mask import DEFAULT_MARGIN_PX, silhouette
from safetymon.safety.decision import DecisionEngine
from safetymon.safety.inputs import CameraStatus, CycleInput, HumanBatch, RobotSnapshot
from safetymon.safety.site import compile_site
from safetymon.sim.counter import (
    CounterRenderer,
    CounterScene,
    HumanoidBody,
    counter_camera,
    start_pose,
)
from safetymon.sim.humanoid import WalkState, state_message
from safetymon.sim.render import LABEL_FIRST_PERSON, LABEL_ROBOT

SITE = example_path("demo-humanoid-counter.yaml")
DT_S = 0.02
SERVED_S = (31.5, 34.5)
"""Person 3 stands at the service point (scene seconds)."""


@pytest.fixture(scope="module")
def config() -> SiteConfig:
    return load_site_config(SITE)


@pytest.fixture(scope="module")
def scene(config: SiteConfig) -> CounterScene:
    return CounterScene.from_site(config)


@pytest.fixture(scope="module")
def body(config: SiteConfig) -> HumanoidBody:
    return HumanoidBody(config.robots[0], SITE.parent)


@dataclass(frozen=True)
class Cycle:
    time_s: float
    state: str
    reasons: tuple[str, ...]
    humanoid_scale: float


def in_view(config: SiteConfig, floor_xy: np.ndarray) -> bool:
    """Whether the camera sees a person's feet at ``floor_xy`` (floor frame, metres): only
    those can be detected, so a person first counts where they come into view."""
    camera = config.cameras[0]
    assert camera.floor_homography is not None and camera.image_size is not None
    u, v, w = np.linalg.inv(np.asarray(camera.floor_homography)) @ [*floor_xy, 1.0]
    width, height = camera.image_size
    return bool(w > 0 and 0 <= u / w < width and 0 <= v / w < height)


def ground_truth_run(
    config: SiteConfig, scene: CounterScene, body: HumanoidBody, frame_age_s: float
) -> list[Cycle]:
    """The script through the real decision engine: true people in the camera's view (0.3 m
    radius, 0.15 m uncertainty), the humanoid walking as permitted (one cycle late, as over
    the wire), the camera's frames ``frame_age_s`` old."""
    robot = config.robots[0]
    engine = DecisionEngine(compile_site(config, {config.cameras[0].id: 0.0}))
    memory = engine.initial_memory(0.0)
    walker = scene.walker(robot)
    walk = WalkState(0.0)
    permitted = 0.0
    cycles = []
    for step in range(round(scene.duration_s / DT_S)):
        time_s = step * DT_S
        walk = walker.step(walk, time_s, permitted)
        floor = body.model.capsules(state_message(walker.pose(walk), robot.id, step + 1))
        assert floor.vel_a is not None and floor.vel_b is not None
        snapshot = RobotSnapshot(
            robot.id, 0.02, floor.a, floor.b, floor.radius_m, floor.vel_a, floor.vel_b,
            base_xy=floor.base_xy, base_velocity=floor.base_velocity,
        )  # fmt: skip
        people = [p for p in scene.state_at(time_s, None).people if in_view(config, p.xy)]
        humans = HumanBatch.build(
            [p.track_id for p in people], [p.xy for p in people], [p.velocity for p in people],
            [0.3] * len(people), [0.15] * len(people),
        )  # fmt: skip
        camera = CameraStatus(config.cameras[0].id, frame_age_s)
        decision, memory = engine.step(CycleInput(time_s, humans, (snapshot,), (camera,)), memory)
        state = decision.state.name
        permitted = {"RUN": 1.0, "SLOW": decision.speed_scale}.get(state, 0.0)
        cycles.append(Cycle(time_s, state, tuple(decision.reason_names), walk.speed_scale))
    return cycles


def states_between(cycles: list[Cycle], start_s: float, end_s: float) -> set[str]:
    return {c.state for c in cycles if start_s <= c.time_s < end_s}


@pytest.mark.parametrize("frame_age_s", [0.1, 0.3, 0.55])
def test_the_script_runs_slows_stops_and_runs_again_on_ground_truth(
    config: SiteConfig, scene: CounterScene, body: HumanoidBody, frame_age_s: float
) -> None:
    """Up to the site's frame age limit (0.6 s): person 1 passes far away (RUN), person 2
    crosses the shop floor (SLOW, never STOP), person 3 comes to the counter (STOP) and
    leaves (RUN after the restart delay)."""
    assert config.cameras[0].max_frame_age_s > max(0.55, frame_age_s)
    cycles = ground_truth_run(config, scene, body, frame_age_s)
    restart = config.safety.restart_delay_s
    assert states_between(cycles, restart + 0.1, 11.0) == {"RUN"}  # person 1 is far away
    assert states_between(cycles, 13.0, 19.0) == {"SLOW"}  # person 2 on the shop floor
    assert "STOP" not in states_between(cycles, 11.0, 26.0)
    assert "RUN" in states_between(cycles, 22.0, 26.0)  # between the two
    served = [c for c in cycles if SERVED_S[0] <= c.time_s < SERVED_S[1]]
    assert {c.state for c in served} == {"STOP"}
    assert all("PROTECTIVE_ZONE" in c.reasons for c in served)
    assert served[-1].humanoid_scale == 0.0  # standing still
    assert states_between(cycles, 40.0, scene.duration_s) == {"RUN"}  # everyone gone
    slowed = [c.humanoid_scale for c in cycles if 15.0 <= c.time_s < 19.0]
    assert max(slowed) == pytest.approx(config.safety.warning_zone_speed_scale)


def test_everyone_leaves_and_the_script_is_laid_out_on_the_zones(
    config: SiteConfig, scene: CounterScene
) -> None:
    assert [p.track_id for p in scene.people] == [1, 2, 3]
    assert all(person.end_s < scene.duration_s - 5.0 for person in scene.people)
    staff = config.zone("staff-side").shape().bounds
    assert scene.table.y1 == staff[1] and scene.shelf.y1 == staff[3]  # counter, shelf
    x0, y0, x1, y1 = scene.loop.bounds()
    assert staff[0] < x0 and x1 < staff[2] and staff[1] < y0 and y1 < staff[3]
    service = config.zone("service-point").shape()
    person = scene.state_at(np.mean(SERVED_S), None).people
    assert len(person) == 1 and service.contains(shapely.Point(*person[0].xy))


def test_no_person_is_ever_hidden_behind_the_humanoids_mask(
    config: SiteConfig, scene: CounterScene, body: HumanoidBody
) -> None:
    """A detection mostly on the robot's silhouette is dropped as the robot: the script keeps
    every person's box well clear of the humanoid's silhouette wherever it walks."""
    camera = counter_camera()
    renderer = CounterRenderer(scene, camera, noise_sigma=0.0)
    walker = scene.walker(config.robots[0])
    walk = WalkState(0.0)
    for step in range(round(scene.duration_s * 5)):
        time_s = step / 5
        walk = walker.step(walk, time_s, 1.0)  # anywhere on its loop, at any time
        humanoid = body.capsules(walker.pose(walk))
        state = scene.state_at(time_s, humanoid)
        frame = renderer.render_with_truth(state)
        mask = silhouette(camera.project, frame.labels.shape, humanoid.link_a, humanoid.link_b,
                          humanoid.radius_m, DEFAULT_MARGIN_PX)  # fmt: skip
        for index, track_id in enumerate(frame.track_ids):
            rows, cols = np.nonzero(frame.labels == LABEL_FIRST_PERSON + index)
            if rows.size < 200:  # at the image's edge: too little of them to detect
                continue
            box = mask[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
            assert box.mean() < config.detector.robot_overlap_drop / 2, (time_s, track_id)


def test_the_humanoid_is_drawn_on_its_capsules_and_absent_from_the_reference(
    scene: CounterScene, body: HumanoidBody
) -> None:
    camera = counter_camera()
    renderer = CounterRenderer(scene, camera, noise_sigma=0.0)
    humanoid = body.capsules(start_pose(scene))
    frame = renderer.render_with_truth(scene.state_at(0.0, humanoid))
    drawn = frame.labels == LABEL_ROBOT
    assert drawn.sum() > 500  # the counter hides its legs, the rest is in view
    covered = renderer.robot_mask(scene.state_at(0.0, humanoid), margin_px=2)
    assert covered[drawn].all()
    reference = renderer.reference()
    changed = np.any(frame.image.astype(int) != reference.astype(int), axis=2)
    assert changed[drawn].mean() > 0.9 and not changed[~covered].any()
    empty = renderer.render(scene.state_at(0.0, None))
    np.testing.assert_array_equal(empty, reference)


def test_the_scene_needs_the_staff_side_and_the_zones(config: SiteConfig) -> None:
    robot = config.robots[0].model_copy(update={"permitted_zone": None})
    with pytest.raises(ValueError, match="permitted_zone"):
        CounterScene.from_site(config.model_copy(update={"robots": [robot]}))
    zones = [z for z in config.zones if z.id != "service-point"]
    with pytest.raises(ValueError, match="no protective zone"):
        CounterScene.from_site(config.model_copy(update={"zones": zones}))
    with pytest.raises(ValueError, match="no robot 'x'"):
        CounterScene.from_site(config, "x")
