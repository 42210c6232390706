"""Message + config → floor capsules: base pose, velocities, geometry mismatches."""

from __future__ import annotations

import math

import numpy as np
import pytest

from safetymon.robot.geometry import RobotModel
from safetymon.robot.messages import MessageError, RobotStateMessage
from tests.robot.helpers import UR5_ROWS, links_message, robot

UR5 = {"kind": "dh", "joints": UR5_ROWS}


def joints_message(q: np.ndarray, q_dot: np.ndarray | None = None, **extra: object) -> dict:
    joints: dict = {"positions": q.tolist()}
    if q_dot is not None:
        joints["velocities"] = q_dot.tolist()
    return {
        "schema": "safetymon.robot_state/1",
        "robot_id": "arm1",
        "sequence": 1,
        "capture_time_s": 1.0,
        "joints": joints,
        **extra,
    }


def floor(model: RobotModel, data: dict):
    return model.capsules(RobotStateMessage.model_validate(data))


def test_base_pose_of_a_mobile_robot_moves_the_capsules() -> None:
    model = RobotModel(robot())
    base = {"x_m": 2.0, "y_m": 1.0, "yaw_rad": math.pi / 2, "z_m": 0.1}
    moved = floor(model, links_message(1, 1.0, base=base))
    np.testing.assert_allclose(moved.b[1], [2.0, 1.5, 0.9], atol=1e-12)
    np.testing.assert_allclose(moved.a[0], [2.0, 1.0, 0.1], atol=1e-12)
    at_origin = floor(model, links_message(1, 1.0))
    np.testing.assert_allclose(at_origin.b[1], [0.5, 0.0, 0.8])
    # the forearm tip's local velocity (0, 0.5, 0) turns with the base
    assert moved.vel_b is None  # base pose without base velocity: unknown, must difference
    still = {**base, "vx_mps": 0.0, "vy_mps": 0.0, "yaw_rate_radps": 0.0}
    turned = floor(model, links_message(1, 1.0, base=still))
    np.testing.assert_allclose(turned.vel_b[1], [-0.5, 0.0, 0.0], atol=1e-12)


def test_configured_base_pose_is_used_without_message_base() -> None:
    model = RobotModel(robot(base_pose={"x_m": 1.0, "y_m": 0.75, "yaw_rad": math.pi}))
    capsules = floor(model, links_message(1, 1.0))
    np.testing.assert_allclose(capsules.b[1], [0.5, 0.75, 0.8], atol=1e-12)
    np.testing.assert_allclose(capsules.vel_b[1], [0.0, -0.5, 0.0], atol=1e-12)
    np.testing.assert_allclose(capsules.radius_m, [0.08, 0.08])


def test_joint_velocities_match_finite_difference_of_positions() -> None:
    model = RobotModel(robot(geometry=UR5, base_pose={"x_m": 1.0, "y_m": 0.5, "yaw_rad": 0.3}))
    q0 = np.array([0.2, -1.1, 0.9, -0.4, 1.3, 0.5])
    q_dot = np.array([0.5, -0.3, 0.8, 1.0, -0.6, 2.0])
    analytic = floor(model, joints_message(q0, q_dot))
    dt = 1e-5
    later = floor(model, joints_message(q0 + q_dot * dt))
    earlier = floor(model, joints_message(q0 - q_dot * dt))
    np.testing.assert_allclose(analytic.vel_a, (later.a - earlier.a) / (2 * dt), atol=1e-6)
    np.testing.assert_allclose(analytic.vel_b, (later.b - earlier.b) / (2 * dt), atol=1e-6)
    assert np.max(np.linalg.norm(analytic.vel_b, axis=1)) > 0.5  # not trivially zero


def test_velocity_at_a_joint_limit_uses_the_inside_side() -> None:
    rows = [{"a_m": 0.6, "min": -1.0, "max": 1.0}, {"a_m": 0.4}]
    model = RobotModel(robot(geometry={"kind": "dh", "joints": rows}))
    q = np.array([1.0, 0.0])
    capsules = floor(model, joints_message(q, np.array([0.5, 0.0])))
    expected_tip = 0.5 * 1.0 * np.array([-math.sin(1.0), math.cos(1.0), 0.0])  # ω × r
    np.testing.assert_allclose(capsules.vel_b[1], expected_tip, atol=1e-4)


def test_base_twist_matches_moving_the_base() -> None:
    model = RobotModel(robot())
    pose = np.array([1.0, 2.0, 0.4])  # x, y, yaw
    twist = np.array([0.3, -0.2, 0.7])  # vx, vy, yaw rate
    base = {"x_m": pose[0], "y_m": pose[1], "yaw_rad": pose[2]}
    velocity = {"vx_mps": twist[0], "vy_mps": twist[1], "yaw_rate_radps": twist[2]}
    analytic = floor(model, links_message(1, 1.0, base={**base, **velocity}))
    dt = 1e-6
    ahead = pose + twist * dt
    moved = floor(
        model, links_message(1, 1.0, base={"x_m": ahead[0], "y_m": ahead[1], "yaw_rad": ahead[2]})
    )
    here = floor(model, links_message(1, 1.0, base=base))
    local_tip = np.array([0.0, 0.5, 0.0])  # the message's own forearm tip velocity
    rotation = np.array(
        [[math.cos(pose[2]), -math.sin(pose[2]), 0], [math.sin(pose[2]), math.cos(pose[2]), 0],
         [0, 0, 1]]
    )  # fmt: skip
    np.testing.assert_allclose(
        analytic.vel_b[1], (moved.b[1] - here.b[1]) / dt + rotation @ local_tip, atol=1e-5
    )
    np.testing.assert_allclose(analytic.vel_a[0], [0.3, -0.2, 0.0], atol=1e-12)


@pytest.mark.parametrize(
    ("config", "data", "needle"),
    [
        ({}, joints_message(np.zeros(6)), "geometry is capsules"),
        ({"geometry": UR5}, links_message(1, 1.0), "geometry is dh"),
        ({"geometry": UR5}, joints_message(np.zeros(5)), "expected 6 joint positions, got 5"),
        ({"geometry": {"kind": "capsules", "links": 3}}, links_message(1, 1.0), "configured 3"),
    ],
)
def test_messages_that_do_not_fit_the_geometry(config: dict, data: dict, needle: str) -> None:
    model = RobotModel(robot(**config))
    with pytest.raises(MessageError, match=needle) as caught:
        floor(model, data)
    assert caught.value.kind == "geometry"
