"""The ``ros2`` input against real DDS: rosbags' CDR bytes, two processes on loopback.

Needs ``cyclonedds`` and ``rosbags`` (the dev extra): skipped without them, failed with
``SAFETYMON_REQUIRE_OPTIONAL=1`` (CI). DDS stays on loopback (``loopback_only``) on a random
domain id per test run, so parallel runs on one host do not hear each other.
"""

from __future__ import annotations

import importlib.util
import json
import math
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from safetymon.config.robots import RobotConfig
from safetymon.robot.store import RobotStateStore
from tests.conftest import require_optional
from tests.robot.helpers import UR5_ROWS
from tests.robot.test_receivers import wait_for

HAVE_DDS = all(importlib.util.find_spec(name) for name in ("cyclonedds", "rosbags"))
PUBLISHER = Path(__file__).with_name("ros2_rosbags_publisher.py")
DOMAIN = random.SystemRandom().randrange(100, 230)
NAMES = [f"ur_joint{i}" for i in range(1, 7)]
LIMITED = [{**row, "min": -3.0, "max": 3.0} for row in UR5_ROWS]


@pytest.fixture(autouse=True)
def _needs_dds() -> None:
    require_optional(HAVE_DDS, "Python packages cyclonedds and rosbags (pip install -e .[dev])")


def _robot(**state_input: Any) -> RobotConfig:
    return RobotConfig.model_validate({
        "id": "arm1", "max_speed_mps": 1.0, "stopping": {"deceleration_mps2": 4.0},
        "max_state_age_s": 0.2, "base_pose": {"x_m": 1.0, "y_m": 0.5},
        "geometry": {"kind": "dh", "joints": LIMITED},
        "state_input": {
            "kind": "ros2", "domain_id": DOMAIN, "loopback_only": True, "joint_names": NAMES,
            "clock": "shared_realtime", "qos": {"reliability": "reliable", "depth": 100},
            **state_input,
        },
    })  # fmt: skip


# -- (a) the IDL types against rosbags' CDR ---------------------------------------------------
def _typestore() -> Any:
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_HUMBLE)


def test_joint_state_cdr_is_rosbags_cdr_both_ways() -> None:
    from safetymon.robot.ros2_types import Header_, JointState_, Time_

    store = _typestore()
    t = store.types
    theirs = t["sensor_msgs/msg/JointState"](
        header=t["std_msgs/msg/Header"](
            stamp=t["builtin_interfaces/msg/Time"](sec=1_700_000_000, nanosec=123_456_789),
            frame_id="base_link",
        ),
        name=["shoulder", "elbow", "wrist"],
        position=np.array([0.5, -1.25, 3.0e-9]),
        velocity=np.array([0.1, 0.0, -2.5]),
        effort=np.array([1.0, 2.0, 3.0]),
    )
    raw = bytes(store.serialize_cdr(theirs, "sensor_msgs/msg/JointState"))
    ours = JointState_.deserialize(raw)
    assert ours.header.stamp == Time_(1_700_000_000, 123_456_789)
    assert ours.header.frame_id == "base_link"
    assert ours.name == ["shoulder", "elbow", "wrist"]
    assert ours.position == [0.5, -1.25, 3.0e-9] and ours.velocity == [0.1, 0.0, -2.5]
    assert ours.effort == [1.0, 2.0, 3.0]
    mine = JointState_(
        header=Header_(stamp=Time_(7, 8), frame_id="x"), name=["a"], position=[math.pi]
    )
    back = store.deserialize_cdr(mine.serialize(), "sensor_msgs/msg/JointState")
    assert (back.header.stamp.sec, back.header.stamp.nanosec, back.header.frame_id) == (7, 8, "x")
    assert back.name == ["a"] and back.position.tolist() == [math.pi]
    assert back.velocity.size == 0 and back.effort.size == 0
    assert JointState_.__idl_typename__ == "sensor_msgs::msg::dds_::JointState_"


def test_odometry_and_pose_stamped_cdr_are_rosbags_cdr() -> None:
    from safetymon.robot import ros2_types as types

    store = _typestore()
    t = store.types
    g = "geometry_msgs/msg/"
    pose = t[g + "Pose"](
        position=t[g + "Point"](x=1.5, y=-2.0, z=0.25),
        orientation=t[g + "Quaternion"](x=0.0, y=0.0, z=0.6, w=0.8),
    )
    covariance = np.arange(36, dtype=np.float64)
    twist = t[g + "Twist"](
        linear=t[g + "Vector3"](x=0.3, y=0.1, z=0.0),
        angular=t[g + "Vector3"](x=0.0, y=0.0, z=-0.2),
    )
    header = t["std_msgs/msg/Header"](
        stamp=t["builtin_interfaces/msg/Time"](sec=3, nanosec=4), frame_id="odom"
    )
    odometry = t["nav_msgs/msg/Odometry"](
        header=header, child_frame_id="base_link",
        pose=t[g + "PoseWithCovariance"](pose=pose, covariance=covariance),
        twist=t[g + "TwistWithCovariance"](twist=twist, covariance=-covariance),
    )  # fmt: skip
    raw = bytes(store.serialize_cdr(odometry, "nav_msgs/msg/Odometry"))
    ours = types.Odometry_.deserialize(raw)
    assert ours.child_frame_id == "base_link" and ours.header.frame_id == "odom"
    assert (ours.pose.pose.position.x, ours.pose.pose.position.y) == (1.5, -2.0)
    assert (ours.pose.pose.orientation.z, ours.pose.pose.orientation.w) == (0.6, 0.8)
    assert list(ours.pose.covariance) == covariance.tolist()
    assert list(ours.twist.covariance) == (-covariance).tolist()
    assert (ours.twist.twist.linear.x, ours.twist.twist.angular.z) == (0.3, -0.2)
    assert ours.serialize() == raw  # byte for byte what ROS 2 sends
    stamped = t[g + "PoseStamped"](header=header, pose=pose)
    raw = bytes(store.serialize_cdr(stamped, "geometry_msgs/msg/PoseStamped"))
    assert types.PoseStamped_.deserialize(raw).serialize() == raw
    assert types.Odometry_.__idl_typename__ == "nav_msgs::msg::dds_::Odometry_"
    assert types.dds_topic("/joint_states") == "rt/joint_states" == types.dds_topic("joint_states")


# -- (b) two processes on loopback ------------------------------------------------------------
def _publish(tmp_path: Path, plan: list[dict[str, Any]]) -> subprocess.CompletedProcess:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    return subprocess.run(
        [sys.executable, str(PUBLISHER), str(DOMAIN), str(path)],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2],
    )  # fmt: skip


def _joints(offset_s: float, position: list[float] | None = None, **extra: Any) -> dict:
    return {"topic": "joints", "stamp_offset_s": offset_s, "name": NAMES,
            "position": position or [0.1] * 6, **extra}  # fmt: skip


def test_rosbags_publisher_in_another_process_feeds_the_store(tmp_path: Path) -> None:
    from safetymon.robot.ros2_input import Ros2StateReceiver

    robot = _robot(base_topic=None)
    store = RobotStateStore([robot])
    plan = [  # stamped when sent, 20 ms apart
        _joints(0.0, velocity=[0.0] * 6),
        _joints(0.0, [0.2] * 6, velocity=[0.5] * 6),
        _joints(-0.03),  # ~10 ms older than the last accepted stamp
        _joints(0.0, [0.1, float("nan"), 0.1, 0.1, 0.1, 0.1]),
        _joints(0.0, [0.1, 0.1, 3.5, 0.1, 0.1, 0.1]),  # joint 3 beyond its 3.0 rad limit
        _joints(0.0, name=[*NAMES[:5], "gripper"]),  # an unknown name
        _joints(0.0, [0.1] * 5, name=NAMES[:5]),  # a joint missing
        _joints(0.0, [0.1] * 5, pause_s=0.5),  # six names, five positions
        _joints(-0.3),  # after the last accepted, but 300 ms old on arrival: stale
        _joints(0.05),  # 50 ms ahead of this host's clock
        _joints(0.0, [0.3] * 6, name=list(reversed(NAMES)), velocity=[0.0] * 6),  # any order
    ]
    with Ros2StateReceiver(store, robot.state_input, "arm1") as receiver:
        result = _publish(tmp_path, plan)
        assert result.returncode == 0, result.stdout + result.stderr
        wait_for(lambda: sum(store.counters().per_robot["arm1"].values()) >= len(plan), 10)
        assert receiver.alive
    counts = store.counters().per_robot["arm1"]
    assert counts == {
        "accepted": 3, "out_of_order": 1, "non_finite": 1, "geometry": 1, "joint_names": 3,
        "too_old": 1, "from_future": 1,
    }, counts  # fmt: skip
    snapshot = store.snapshot("arm1", time.monotonic())
    assert snapshot.fault is None and snapshot.link_a.shape == (6, 3)
    assert snapshot.link_a[0, :2] == pytest.approx([1.0, 0.5])  # the configured fixed base


def test_odometry_places_the_base_and_a_stale_base_is_refused(tmp_path: Path) -> None:
    from safetymon.robot.ros2_input import Ros2StateReceiver

    robot = _robot(odom_pose={"x_m": 2.0, "y_m": 1.0, "yaw_rad": math.pi / 2})
    store = RobotStateStore([robot])
    plan = [
        _joints(0.0),  # no base pose yet
        {"topic": "odom", "stamp_offset_s": 0.0, "x": 0.5, "y": 0.0, "yaw": 0.0, "vx": 1.0},
        _joints(0.0, velocity=[0.0] * 6),
        {"topic": "odom", "stamp_offset_s": -0.5, "x": 9.0},  # older than the last base pose
        {"topic": "odom", "stamp_offset_s": 0.0, "x": float("nan"), "pause_s": 0.5},
        _joints(0.0),  # the newest base pose arrived 0.5 s before: too old to go with it
    ]
    with Ros2StateReceiver(store, robot.state_input, "arm1"):
        result = _publish(tmp_path, plan)
        assert result.returncode == 0, result.stdout + result.stderr
        wait_for(lambda: sum(store.counters().per_robot["arm1"].values()) >= len(plan) - 1, 10)
    counts = store.counters().per_robot["arm1"]
    assert counts == {"accepted": 1, "too_old": 2, "out_of_order": 1, "non_finite": 1}, counts
    snapshot = store.snapshot("arm1", time.monotonic())
    # odometry frame at (2, 1) turned 90°: base at odom (0.5, 0) is floor (2, 1.5), heading +y
    assert snapshot.link_a[0, :2] == pytest.approx([2.0, 1.5])
    # base moving 1 m/s forward (base frame) = +y on the floor; joints still
    assert snapshot.link_vel_a[0] == pytest.approx([0.0, 1.0, 0.0], abs=1e-9)


# -- robot-sim --ros2 → the receiver, with a sender restart ------------------------------------
def _site(repo: Path, tmp_path: Path) -> Path:
    data = yaml.safe_load((repo / "zones" / "demo-cell.yaml").read_text())
    data["robots"][0]["geometry"] = {"kind": "dh", "joints": LIMITED}
    data["robots"][0]["state_input"] = {
        "kind": "ros2", "domain_id": DOMAIN, "loopback_only": True, "joint_names": NAMES,
        "clock": "shared_realtime",
    }  # fmt: skip
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _sim(site: Path, duration_s: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "safetymon", "robot-sim", "--config", str(site), "--duration",
         str(duration_s), "--rate", "100"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.mark.slow  # two robot-sim processes: about 15 s
def test_robot_sim_ros2_reaches_the_store_and_a_restart_is_a_new_session(
    repo: Path, tmp_path: Path
) -> None:
    from safetymon.config.loader import load_site_config
    from safetymon.robot.ros2_input import Ros2StateReceiver

    site = _site(repo, tmp_path)
    config = load_site_config(site)
    robot = config.robots[0]
    store = RobotStateStore(config.robots, site.parent)
    with Ros2StateReceiver(store, robot.state_input, robot.id):
        first = _sim(site, 1.5)
        wait_for(lambda: store.counters().accepted >= 20 or first.poll() is not None, 30)
        snapshot = store.snapshot(robot.id, time.monotonic())
        assert snapshot.fault is None and snapshot.age_s < robot.max_state_age_s
        # the sim's base: the configured base_pose, via Odometry on rt/odom
        base = robot.base_pose
        assert snapshot.link_a[0] == pytest.approx([base.x_m, base.y_m, base.z_m], abs=1e-6)
        assert float(np.abs(snapshot.link_vel_b).max()) > 0.0  # the sweep moves
        out, err = first.communicate(timeout=30)
        assert first.returncode == 0, err
        assert "DDS domain" in out and "rt/joint_states + rt/odom" in out
        before = store.counters().accepted
        second = _sim(site, 0.8)  # a restarted publisher: a new DDS writer
        wait_for(lambda: store.counters().accepted >= before + 20 or second.poll() is not None,
                 30)  # fmt: skip
        second.communicate(timeout=30)
    counters = store.counters()
    assert counters.accepted >= before + 20, counters
    assert counters.restarts == {robot.id: 1}, counters
    # at each start a joint state may come before the first base pose (two topics, two
    # writers): refused as too old, never taken with the previous run's base
    assert set(counters.rejected) <= {"too_old"} and counters.rejected_total <= 10, counters
