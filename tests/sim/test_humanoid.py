"""The demo humanoid: its own URDF, its gait, its speed-scaled walk and its messages."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import shapely

from safetymon.config.loader import load_site_config
from safetymon.config.robots import RobotConfig
from safetymon.config.site import SiteConfig
from safetymon.examples import example_path
from safetymon.robot.geometry import RobotModel
from safetymon.robot.kinematics import UrdfChain
from safetymon.sim.counter import CounterScene
from safetymon.sim.humanoid import (
    JOINT_NAMES,
    PELVIS_HEIGHT_M,
    GaitModel,
    HumanoidWalker,
    PatrolLoop,
    WalkState,
    pose_from_json,
    pose_json,
    state_message,
)

SITE = example_path("demo-humanoid-counter.yaml")
DT_S = 0.01


@pytest.fixture(scope="module")
def config() -> SiteConfig:
    return load_site_config(SITE)


@pytest.fixture(scope="module")
def robot(config: SiteConfig) -> RobotConfig:
    return config.robots[0]


@pytest.fixture(scope="module")
def model(robot: RobotConfig) -> RobotModel:
    return RobotModel(robot, SITE.parent)


@pytest.fixture(scope="module")
def walker(config: SiteConfig, robot: RobotConfig) -> HumanoidWalker:
    return CounterScene.from_site(config).walker(robot)


def walk(
    walker: HumanoidWalker, seconds: float, scale: float, state: WalkState | None = None
) -> list[WalkState]:
    """States every DT_S while ramping toward ``scale``."""
    state = state or WalkState(0.0)
    states = []
    for _ in range(round(seconds / DT_S)):
        state = walker.step(state, state.time_s + DT_S, scale)
        states.append(state)
    return states


def test_the_urdf_is_a_1_32_m_humanoid_of_primitive_shapes(model: RobotModel) -> None:
    chain = model.chain
    assert isinstance(chain, UrdfChain)
    assert chain.names == list(JOINT_NAMES) and chain.mesh_shapes == 0
    a, b = chain.capsules(GaitModel().joints(0.0, 0.0))
    radius = np.r_[chain.radius_m, chain.radius_m]
    z = np.r_[a[:, 2], b[:, 2]]
    # standing: head top 1.32 m above the soles, the pelvis 0.67 m up; the sole capsules
    # reach a few centimetres below the soles (a capsule around a box)
    assert (z + radius).max() == pytest.approx(1.32 - PELVIS_HEIGHT_M, abs=0.005)
    assert -PELVIS_HEIGHT_M - 0.03 <= (z - radius).min() <= -PELVIS_HEIGHT_M
    assert np.ptp(np.r_[a[:, 1], b[:, 1]]) < 0.5  # shoulders and arms: a slim humanoid
    frames = chain.capsule_frames
    assert len(frames) == len(chain.radius_m)
    assert {f.split(":")[1].rsplit("/")[0] for f in frames if f.startswith("collision:")} >= {
        "pelvis", "torso", "head", "l_thigh", "r_shin", "l_foot", "r_upper_arm", "l_forearm"
    }  # fmt: skip


def test_standing_is_the_same_pose_at_every_phase_and_symmetric() -> None:
    gait = GaitModel()
    stand = gait.joints(0.0, 0.0)
    for phase in np.linspace(0.0, 2 * math.pi, 9):
        np.testing.assert_array_equal(gait.joints(float(phase), 0.0), stand)
    index = {name: i for i, name in enumerate(JOINT_NAMES)}
    for joint in ("hip_pitch", "knee", "ankle_pitch", "shoulder_pitch", "elbow"):
        assert stand[index[f"l_{joint}"]] == stand[index[f"r_{joint}"]]
    assert stand[index["l_hip_pitch"]] == 0.0 and stand[index["torso_yaw"]] == 0.0
    assert stand[index["l_shoulder_roll"]] == -stand[index["r_shoulder_roll"]] > 0.0


@pytest.mark.parametrize("amplitude", [0.0, 0.3, 1.0])
def test_the_gait_stays_within_the_joint_limits(model: RobotModel, amplitude: float) -> None:
    gait = GaitModel()
    for phase in np.linspace(0.0, 4 * math.pi, 97):
        model.chain.check(gait.joints(float(phase), amplitude))  # raises outside a limit


def _fastest_link(model: RobotModel, walker: HumanoidWalker, scale: float) -> float:
    fastest = 0.0
    lap_s = walker.loop.perimeter_m / (walker.gait.walk_speed_mps * scale)
    for sequence, state in enumerate(walk(walker, min(lap_s, 30.0), scale), start=1):
        capsules = model.capsules(state_message(walker.pose(state), "humanoid1", sequence))
        assert capsules.vel_a is not None and capsules.vel_b is not None
        speeds = np.linalg.norm(np.vstack([capsules.vel_a, capsules.vel_b]), axis=1)
        fastest = max(fastest, float(speeds.max()))
    return fastest


def test_the_fastest_link_stays_below_the_configured_speed_and_slows_with_the_scale(
    model: RobotModel, walker: HumanoidWalker, robot: RobotConfig
) -> None:
    """S_p counts ``max_speed_mps`` as the fastest link: the walk (a swinging foot, base
    speed included) must not exceed it, and SLOW's scale must slow the links as much."""
    full = _fastest_link(model, walker, 1.0)
    assert walker.gait.walk_speed_mps < full <= robot.max_speed_mps
    slow = _fastest_link(model, walker, 0.3)
    assert slow <= 0.3 * full


def test_every_link_stays_inside_the_staff_side_on_the_whole_loop(
    config: SiteConfig, model: RobotModel, walker: HumanoidWalker, robot: RobotConfig
) -> None:
    """The robot's envelope zone holds its links (a breach would be a STOP)."""
    assert robot.permitted_zone is not None
    zone = config.zone(robot.permitted_zone).shape()
    lap_s = walker.loop.perimeter_m / walker.gait.walk_speed_mps
    for sequence, state in enumerate(walk(walker, lap_s + 1.0, 1.0)[::5], start=1):
        capsules = model.capsules(state_message(walker.pose(state), robot.id, sequence))
        for a, b, r in zip(capsules.a, capsules.b, capsules.radius_m, strict=True):
            footprint = shapely.LineString([a[:2], b[:2]]).buffer(r + robot.uncertainty_m)
            assert zone.contains(footprint), (state.time_s, a, b, r)


def test_the_walk_ramps_at_bounded_rates_and_stands_still_on_stop(
    walker: HumanoidWalker, robot: RobotConfig
) -> None:
    going = walk(walker, 3.0, 1.0)
    scales = np.array([s.speed_scale for s in going])
    assert np.all(np.diff(scales) <= walker.speed_up_per_s * DT_S + 1e-12)
    assert scales[-1] == 1.0
    pose = walker.pose(going[-1])
    assert pose.base_speed_mps == pytest.approx(walker.gait.walk_speed_mps)
    # braking at the configured base deceleration: standing within v / a_b
    assert robot.stability is not None
    deceleration = robot.stability.base_stopping.deceleration_mps2
    assert deceleration is not None
    stopping = walk(walker, 2.0, 0.0, going[-1])
    stop_s = walker.gait.walk_speed_mps / deceleration
    standing = [s for s in stopping if s.speed_scale == 0.0]
    assert standing and standing[0].time_s - going[-1].time_s <= stop_s + 2 * DT_S
    still = walker.pose(stopping[-1])
    assert still.base_speed_mps == 0.0 and still.yaw_rate_radps == 0.0
    assert not np.any(still.velocities)
    np.testing.assert_allclose(still.positions, walker.gait.joints(0.0, 0.0))  # both feet down
    assert stopping[-1].path_m == stopping[len(stopping) // 2].path_m  # it stays put
    slowed = walk(walker, 2.0, 0.3, going[-1])
    assert slowed[-1].speed_scale == pytest.approx(0.3)
    assert walker.pose(slowed[-1]).base_speed_mps == pytest.approx(0.3 * 0.4)


def test_joint_velocities_are_the_time_derivative_of_the_positions(
    walker: HumanoidWalker,
) -> None:
    states = walk(walker, 2.0, 1.0)  # the scale still rising: both terms of q-dot count
    checked = 0
    for before, now, after in zip(states[:-2], states[1:-1], states[2:], strict=True):
        if not before.speed_scale < now.speed_scale < after.speed_scale < 1.0:
            continue
        numeric = (walker.pose(after).positions - walker.pose(before).positions) / (2 * DT_S)
        np.testing.assert_allclose(walker.pose(now).velocities, numeric, atol=0.05)
        checked += 1
    assert checked > 10  # the rising stretch was really sampled


def test_the_patrol_loop_is_continuous_and_walked_forward() -> None:
    loop = PatrolLoop(1.5, 5.6, 1.9, 0.3)
    step = 0.01
    previous, _, _ = loop.at(0.0)
    for s in np.arange(step, 2 * loop.perimeter_m, step):
        point, heading, _ = loop.at(float(s))
        moved = point - previous
        assert np.linalg.norm(moved) == pytest.approx(step, rel=0.01)
        assert np.dot(moved / np.linalg.norm(moved), [math.cos(heading), math.sin(heading)]) > 0.99
        previous = point
    assert loop.bounds() == pytest.approx((1.2, 5.6, 3.7, 6.2))
    with pytest.raises(ValueError, match="must be > 0"):
        PatrolLoop(0.0, 0.0, 0.0, 0.3)


def test_pose_messages_round_trip_and_refuse_garbage(walker: HumanoidWalker) -> None:
    pose = walker.pose(walk(walker, 1.5, 1.0)[-1])
    back = pose_from_json(pose_json(pose))
    assert (back.time_s, back.x_m, back.yaw_rad, back.speed_scale) == (
        pose.time_s, pose.x_m, pose.yaw_rad, pose.speed_scale)  # fmt: skip
    np.testing.assert_array_equal(back.positions, pose.positions)
    scalars = ("time_s", "x_m", "y_m", "z_m", "yaw_rad", "vx_mps", "vy_mps", "yaw_rate_radps",
               "speed_scale")  # every field, so that two swapped ones fail
    assert [getattr(back, name) for name in scalars] == [getattr(pose, name) for name in scalars]
    assert len(set(round(getattr(pose, name), 9) for name in scalars)) > 4  # distinct values
    np.testing.assert_array_equal(back.velocities, pose.velocities)
    good = json.loads(pose_json(pose))
    for bad in (b"not json", json.dumps({**good, "x": None}).encode(),
                json.dumps({k: v for k, v in good.items() if k != "yaw"}).encode(),
                json.dumps({**good, "q": good["q"][:-1]}).encode(),
                pose_json(pose).replace(b'"vx": ', b'"vx": NaN, "_": ')):  # fmt: skip
        with pytest.raises(ValueError):
            pose_from_json(bad)
    message = state_message(pose, "humanoid1", 7)
    assert message.joints is not None and len(message.joints.positions) == len(JOINT_NAMES)
    assert message.base is not None and message.base.has_velocity
    assert message.capture_time_s == pose.time_s
