"""The ``ros2`` input without DDS: configuration, name matching, frames, the store path, and
the refusal to start without ``cyclonedds`` (these run everywhere; DDS itself in
``test_ros2_dds.py``)."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from safetymon.config.links import state_input_summary, unauthenticated_link_warnings
from safetymon.config.robots import BasePose, RobotConfig, Ros2StateInputConfig
from safetymon.config.site import SiteConfig
from safetymon.robot.messages import MessageError
from safetymon.robot.receiver import key_file_of, start_receivers
from safetymon.robot.ros2_convert import (
    BaseSample,
    JointMatcher,
    base_problem,
    base_sample,
    stamp_ns,
    state_json,
)
from safetymon.robot.store import RobotStateStore
from tests.robot.helpers import UR5_ROWS

NAMES = [f"j{i}" for i in range(1, 7)]
LIMITED = [{**row, "min": -3.0, "max": 3.0} for row in UR5_ROWS]


def ros2_robot(geometry: dict | None = None, **state_input: Any) -> RobotConfig:
    return RobotConfig.model_validate({
        "id": "arm1", "max_speed_mps": 1.0, "stopping": {"deceleration_mps2": 4.0},
        "max_state_age_s": 0.1,
        "geometry": geometry or {"kind": "dh", "joints": LIMITED},
        "state_input": {"kind": "ros2", "joint_names": NAMES, **state_input},
    })  # fmt: skip


# -- configuration ----------------------------------------------------------------------------
def test_ros2_input_defaults_follow_ros2_conventions() -> None:
    config = ros2_robot().state_input
    assert isinstance(config, Ros2StateInputConfig)
    assert (config.domain_id, config.joint_topic) == (0, "/joint_states")
    assert config.base_topic == "/odom"
    assert (config.base_type, config.clock, config.loopback_only) == ("odometry", "receiver", False)
    assert (config.qos.reliability, config.qos.depth) == ("best_effort", 5)
    assert key_file_of(config) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"joint_names": NAMES[:5]}, "one ROS joint name per row"),
        ({"joint_names": None}, "one ROS joint name per row"),
        ({"joint_names": ["a", "a", "b", "c", "d", "e"]}, "duplicates"),
        ({"ignore_joint_names": ["j1"]}, "share"),
        ({"base_topic": "/joint_states"}, "must differ"),
        ({"domain_id": 233}, "less than or equal to 232"),
        ({"qos": {"reliability": "sometimes"}}, "best_effort"),
        ({"joint_topic": "rt joint"}, "pattern"),
        ({"colour": "red"}, "Extra inputs"),
    ],
)
def test_bad_ros2_inputs_are_refused(change: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ros2_robot(**change)


def test_ros2_needs_joint_geometry() -> None:
    with pytest.raises(ValidationError, match="geometry must be dh or urdf"):
        ros2_robot({"kind": "capsules"})


def test_config_check_describes_and_warns_about_dds(repo: Path) -> None:
    data = yaml.safe_load((repo / "zones" / "demo-cell.yaml").read_text())
    data["robots"] = [
        ros2_robot().model_dump() | {"permitted_zone": None},
        ros2_robot(loopback_only=True, domain_id=3).model_dump() | {"id": "arm2"},
    ]
    site = SiteConfig.model_validate(data)
    summary = state_input_summary(site, 0)
    assert "ROS 2 DDS domain 0 (joints /joint_states, base /odom)" in summary
    assert "unauthenticated, reachable from the network" in summary
    assert state_input_summary(site, 1).endswith("unauthenticated, local")
    warnings = unauthenticated_link_warnings(site)
    assert len(warnings) == 1 and "robots[0].state_input" in warnings[0]
    assert "DDS domain 0 WITHOUT AUTHENTICATION" in warnings[0] and "loopback_only" in warnings[0]


# -- conversion -------------------------------------------------------------------------------
def test_stamps() -> None:
    assert stamp_ns(1, 5) == 1_000_000_005
    for sec, nanosec, text in [(1, 10**9, "nanosec"), (0, 0, "does not stamp"),
                               (-1, 0, "not a time")]:  # fmt: skip
        with pytest.raises(MessageError, match=text) as caught:
            stamp_ns(sec, nanosec)
        assert caught.value.kind == "schema"


def test_joint_names_are_matched_by_name() -> None:
    matcher = JointMatcher(["a", "b", "c"], ignored=["finger"])
    q, q_dot = matcher.match(["c", "finger", "a", "b"], [3.0, 9.0, 1.0, 2.0], [])
    assert q == [1.0, 2.0, 3.0] and q_dot is None
    q, q_dot = matcher.match(["b", "a", "c"], [2.0, 1.0, 3.0], [0.2, 0.1, 0.3])
    assert q == [1.0, 2.0, 3.0] and q_dot == [0.1, 0.2, 0.3]
    for names, positions, velocities, text in [
        (["a", "b", "x"], [1, 2, 3], [], "'x' is not a configured joint"),
        (["a", "b"], [1, 2], [], r"joints \['c'\] missing"),
        (["a", "b", "c", "a"], [1, 2, 3, 4], [], "'a' given twice"),
        (["a", "b", "c"], [1, 2], [], "position has 2 values for 3 names"),
        (["a", "b", "c"], [1, 2, 3], [0, 0], "velocity has 2 values for 3 names"),
    ]:
        with pytest.raises(MessageError, match=text) as caught:
            matcher.match(names, positions, velocities)
        assert caught.value.kind == "joint_names"


def test_base_pose_moves_from_odometry_to_floor_frame() -> None:
    odom = BasePose(x_m=2.0, y_m=1.0, z_m=0.1, yaw_rad=math.pi / 2)
    half = math.sqrt(0.5)  # 90° about z
    sample = base_sample(odom, 5, 1.0, (1.0, 0.0, 0.2), (0.0, 0.0, half, half), (1.0, 0.5, 0.3))
    assert (sample.x_m, sample.y_m, sample.z_m) == pytest.approx((2.0, 2.0, 0.3))
    assert sample.yaw_rad == pytest.approx(math.pi)
    # twist in the base frame (heading π): forward 1 m/s = −x, left 0.5 m/s = −y on the floor
    assert (sample.vx_mps, sample.vy_mps, sample.yaw_rate_radps) == pytest.approx((-1, -0.5, 0.3))
    assert "vx_mps" not in base_sample(odom, 5, 1.0, (0, 0, 0), (0, 0, 0, 1)).as_base()
    with pytest.raises(MessageError, match="norm") as caught:
        base_sample(odom, 5, 1.0, (0, 0, 0), (0, 0, 0, 2.0))
    assert caught.value.kind == "schema"
    with pytest.raises(MessageError) as caught:
        base_sample(odom, 5, 1.0, (math.nan, 0, 0), (0, 0, 0, 1))
    assert caught.value.kind == "non_finite"


def test_base_pose_must_be_as_fresh_as_the_joints() -> None:
    base = BaseSample(stamp_ns=10**9, arrival_s=5.0, x_m=0, y_m=0, z_m=0, yaw_rad=0)
    assert "none received on /odom" in str(base_problem(None, 10**9, 5.0, 0.1, "/odom"))
    assert base_problem(base, 10**9 + 50_000_000, 5.05, 0.1, "/odom") is None
    assert "stamp 200 ms" in str(base_problem(base, 10**9 + 200_000_000, 5.0, 0.1, "/odom"))
    assert "arrived 300 ms before" in str(base_problem(base, 10**9, 5.3, 0.1, "/odom"))


def test_converted_states_take_the_store_s_checks() -> None:
    store = RobotStateStore([ros2_robot(base_topic=None, clock="shared_monotonic")])

    def submit(stamp_s: float, q: list[float], arrival_s: float, session: str = "dds-1") -> str:
        stamp = round(stamp_s * 1e9)
        raw = state_json("arm1", session, stamp, stamp / 1e9, q, [0.0] * 6, None)
        result = store.submit(raw, arrival_s, ["arm1"])
        return "accepted" if result.accepted else result.rejection.value

    assert submit(10.00, [0.1] * 6, 10.001) == "accepted"
    assert submit(9.99, [0.1] * 6, 10.002) == "out_of_order"
    assert submit(10.01, [0.1, math.nan, 0, 0, 0, 0], 10.011) == "non_finite"
    assert submit(10.02, [0.1, 0, 3.2, 0, 0, 0], 10.021) == "geometry"  # beyond 3 rad
    assert submit(10.03, [0.1] * 6, 10.5) == "too_old"
    assert submit(10.04, [0.1] * 6, 10.041) == "accepted"
    assert submit(11.10, [0.2] * 6, 11.101, session="dds-2") == "accepted"  # a new writer
    assert store.counters().restarts == {"arm1": 1}
    assert store.snapshot("arm1", 11.11).fault is None


def test_shared_realtime_stamps_count_their_age() -> None:
    store = RobotStateStore([ros2_robot(base_topic=None, clock="shared_realtime")])
    raw = state_json("arm1", "dds-1", 10**9, 100.0, [0.1] * 6, [0.0] * 6, None)
    result = store.submit(raw, 100.5, ["arm1"])  # the receiver moved the stamp to 100.0 s
    assert not result.accepted and result.rejection is not None
    assert result.rejection.value == "too_old"


# -- refusing to start ------------------------------------------------------------------------
def test_without_cyclonedds_the_input_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in sys.modules if n == "cyclonedds" or n.startswith("cyclonedds.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "cyclonedds", None)  # import cyclonedds → ImportError
    robot = ros2_robot()
    store = RobotStateStore([robot])
    with pytest.raises(OSError, match="needs the Python package 'cyclonedds'"):
        start_receivers(store, [("arm1", robot.state_input)])


def test_two_robots_on_one_joint_topic_are_refused() -> None:
    first, second = ros2_robot(), ros2_robot().model_copy(update={"id": "arm2"})
    store = RobotStateStore([first, second])
    with pytest.raises(ValueError, match="same ROS 2 joint topic"):
        start_receivers(store, [("arm1", first.state_input), ("arm2", second.state_input)])


def test_joint_names_must_fit_the_urdf(tmp_path: Any) -> None:
    from tests.robot.helpers import dh_to_urdf

    (tmp_path / "arm.urdf").write_text(dh_to_urdf(UR5_ROWS))
    robot = ros2_robot({"kind": "urdf", "path": "arm.urdf"}, joint_names=["q1", "q2"])
    store = RobotStateStore([robot], tmp_path)
    assert store.joint_names("arm1") == tuple(f"q{i}" for i in range(1, 7))
    with pytest.raises(ValueError, match="do not name its 6 configured joints"):
        start_receivers(store, [("arm1", robot.state_input)])
