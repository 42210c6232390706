"""The ``ros2`` robot-state input: a ROS 2 robot's joint states and base pose over DDS.

Joins DDS domain ``domain_id`` with Eclipse Cyclone DDS (the ``cyclonedds`` package; no ROS
install) and reads ``sensor_msgs/JointState`` from ``rt/<joint_topic>`` and, unless
``base_topic`` is null, ``nav_msgs/Odometry`` or ``geometry_msgs/PoseStamped`` from
``rt/<base_topic>`` (types in ``ros2_types``). Each joint state becomes one robot state
message submitted to the store (``ros2_convert``), so every rule of the other inputs holds.
A base pose is checked on arrival (finite, unit quaternion, stamp increasing) and kept; a
refused one is counted against the robot like a refused state.

Cyclone DDS drops samples it cannot deserialise before they reach this reader (they are not
counted); a sample that the Python binding cannot decode is counted ``malformed``. DDS
discovery and transport are configured the Cyclone way (``CYCLONEDDS_URI``: interfaces,
multicast, peers). DDS here carries no authentication (no DDS Security): anyone who can
reach the domain can publish joint states.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from safetymon.config.robots import Ros2StateInputConfig
from safetymon.dds import cyclonedds_available as cyclonedds_available  # re-exported
from safetymon.robot.messages import MessageError
from safetymon.robot.receiver import _ReceiverThread
from safetymon.robot.ros2_convert import (
    NS_PER_S,
    BaseSample,
    JointMatcher,
    base_problem,
    base_sample,
    stamp_ns,
    state_json,
)
from safetymon.robot.store import Rejection, RobotStateStore

log = logging.getLogger(__name__)

POLL_S = 0.05
TAKE_MAX = 64
"""Samples taken per reader and wake-up."""
MISSING_PACKAGE = (
    "state_input kind ros2 needs the Python package 'cyclonedds' (Eclipse Cyclone DDS; "
    "pip install 'safetymon[ros2]')"
)


class Ros2StateReceiver(_ReceiverThread):
    """Subscribe to one ROS 2 robot's joint states (and base pose) on a DDS domain.

    Args:
        store: where the states go (its robot config gives the joints and age limit).
        config: domain, topics, QoS, joint names.
        robot_id: the robot these topics describe (a JointState names no robot).

    Raises:
        OSError: ``cyclonedds`` is missing, or the domain or a reader cannot be created.
        ValueError: ``joint_names`` does not fit the robot's configured joints.
    """

    name = "safetymon-robot-ros2"

    def __init__(
        self, store: RobotStateStore, config: Ros2StateInputConfig, robot_id: str
    ) -> None:
        """Check the joint names, join the domain and create the readers now."""
        super().__init__(store, [robot_id])
        self.config = config
        self.robot_id = robot_id
        self.authenticated = False
        self._max_age_s = store.robot_config(robot_id).max_state_age_s
        chain_names = store.joint_names(robot_id) or ()
        configured = tuple(config.joint_names or chain_names)
        if len(configured) != len(chain_names) or not configured:
            raise ValueError(
                f"robot {robot_id}: state_input.joint_names {list(configured)} do not name its "
                f"{len(chain_names)} configured joints"
            )
        self._matcher = JointMatcher(configured, config.ignore_joint_names)
        self.endpoint = f"DDS domain {config.domain_id} {config.joint_topic}"
        self._base: BaseSample | None = None
        self._entities: list[object] = []
        try:
            from cyclonedds.core import DDSException
        except ImportError as error:
            raise OSError(f"{MISSING_PACKAGE}: {error}") from None
        try:
            self._open()
        except (DDSException, ValueError) as error:
            self._release()
            raise OSError(f"state_input (ros2, domain {config.domain_id}): {error}") from error

    def _open(self) -> None:
        from cyclonedds.core import InstanceState, ReadCondition, SampleState, ViewState, WaitSet
        from cyclonedds.qos import Policy, Qos
        from cyclonedds.sub import DataReader
        from cyclonedds.topic import Topic

        from safetymon.dds.domain import join_domain
        from safetymon.robot import ros2_types as types

        config = self.config
        reliability = (
            Policy.Reliability.Reliable(max_blocking_time=0)
            if config.qos.reliability == "reliable"
            else Policy.Reliability.BestEffort
        )
        history = Policy.History.KeepLast(config.qos.depth)
        qos = Qos(reliability, history, Policy.Durability.Volatile)
        self._participant = join_domain(config.domain_id, config.loopback_only)
        self._waitset = WaitSet(self._participant)
        mask = SampleState.Any | ViewState.Any | InstanceState.Any
        self._joint_reader = self._reader(
            types.JointState_, config.joint_topic, qos, Topic, DataReader
        )
        self._base_reader = None
        if config.base_topic is not None:
            kind = types.Odometry_ if config.base_type == "odometry" else types.PoseStamped_
            self._base_reader = self._reader(kind, config.base_topic, qos, Topic, DataReader)
        for reader in (self._base_reader, self._joint_reader):
            if reader is not None:
                condition = ReadCondition(reader, mask)
                self._entities.append(condition)
                self._waitset.attach(condition)

    def _reader(self, kind: type, ros_topic: str, qos: object, topic_cls: type,
                reader_cls: type) -> object:  # fmt: skip
        from safetymon.dds.topics import dds_topic

        topic = topic_cls(self._participant, dds_topic(ros_topic), kind)
        reader = reader_cls(self._participant, topic, qos=qos)
        self._entities += [topic, reader]
        return reader

    def _run(self) -> None:
        from cyclonedds.util import duration

        timeout = duration(seconds=POLL_S)
        while not self._stop.is_set():
            self._waitset.wait(timeout)
            if self._base_reader is not None:
                for sample in self._take(self._base_reader):
                    self._take_base(sample, time.monotonic())
            for sample in self._take(self._joint_reader):
                self._take_joints(sample, time.monotonic())

    def _take(self, reader: object) -> list[object]:
        """Up to ``TAKE_MAX`` valid samples; undecodable ones are counted ``malformed``."""
        try:
            samples = reader.take(N=TAKE_MAX)  # type: ignore[attr-defined]
        except Exception as error:  # a sample the binding cannot decode: count, go on
            self.store.reject(
                self.robot_ids, Rejection.MALFORMED,
                f"DDS sample could not be decoded: {type(error).__name__}: {str(error)[:200]}",
            )  # fmt: skip
            return []
        return [s for s in samples if getattr(s.sample_info, "valid_data", False)]

    def _capture_s(self, stamp: int) -> float:
        """The stamp in the store's clock: realtime stamps move to this host's monotonic."""
        seconds = stamp / NS_PER_S
        if self.config.clock == "shared_realtime":
            return seconds - (time.time() - time.monotonic())
        return seconds

    def _take_joints(self, sample: object, arrival_s: float) -> None:
        """Match names, attach the base pose and submit one state message."""
        try:
            stamp = stamp_ns(sample.header.stamp.sec, sample.header.stamp.nanosec)  # type: ignore[attr-defined]
            q, q_dot = self._matcher.match(
                sample.name, sample.position, sample.velocity  # type: ignore[attr-defined]
            )
        except MessageError as error:
            self.store.reject(self.robot_ids, Rejection(error.kind), error.detail)
            return
        if self._base_reader is not None:
            problem = base_problem(
                self._base, stamp, arrival_s, self._max_age_s, self.config.base_topic or ""
            )
            if problem is not None:
                self.store.reject(self.robot_ids, Rejection.TOO_OLD, problem)
                return
        session = f"dds-{sample.sample_info.publication_handle & (2**64 - 1):016x}"  # type: ignore[attr-defined]
        raw = state_json(
            self.robot_id, session, stamp, self._capture_s(stamp), q, q_dot, self._base
        )
        self._deliver(raw, arrival_s)

    def _take_base(self, sample: object, arrival_s: float) -> None:
        """Check and keep one base pose (Odometry or PoseStamped)."""
        try:
            stamp = stamp_ns(sample.header.stamp.sec, sample.header.stamp.nanosec)  # type: ignore[attr-defined]
            if self._base is not None and stamp <= self._base.stamp_ns:
                self.store.reject(
                    self.robot_ids, Rejection.OUT_OF_ORDER,
                    f"base pose: stamp {stamp} ns not after the last accepted "
                    f"{self._base.stamp_ns} ns",
                )  # fmt: skip
                return
            pose = sample.pose.pose if self.config.base_type == "odometry" else sample.pose  # type: ignore[attr-defined]
            twist = None
            if self.config.base_type == "odometry":
                t = sample.twist.twist  # type: ignore[attr-defined]
                twist = (t.linear.x, t.linear.y, t.angular.z)
            p, o = pose.position, pose.orientation
            self._base = base_sample(
                self.config.odom_pose, stamp, arrival_s, (p.x, p.y, p.z),
                (o.x, o.y, o.z, o.w), twist,
            )  # fmt: skip
        except MessageError as error:
            self.store.reject(self.robot_ids, Rejection(error.kind), f"base: {error.detail}")

    def _reopen(self) -> Ros2StateReceiver:
        return Ros2StateReceiver(self.store, self.config, self.robot_id)

    def _release(self) -> None:
        """Delete the DDS entities, children first (the participant last)."""
        waitset = getattr(self, "_waitset", None)
        doomed = [waitset, *reversed(self._entities), getattr(self, "_participant", None)]
        for entity in doomed:
            if entity is not None:
                try:
                    entity.__del__()  # type: ignore[attr-defined]
                except Exception as error:  # closing must not raise
                    log.debug("deleting %r failed: %s", entity, error)
        self._entities = []
        self._waitset = None
        self._participant = None


def ros2_receiver_groups(
    configs: Sequence[tuple[str, Ros2StateInputConfig]],
) -> None:
    """Refuse two robots reading one joint topic on one domain (a JointState names no robot).

    Raises:
        ValueError: naming the robots and the topic.
    """
    seen: dict[tuple[int, str], str] = {}
    for robot_id, config in configs:
        key = (config.domain_id, config.joint_topic.strip("/"))
        if key in seen:
            raise ValueError(
                f"robots {seen[key]} and {robot_id} read the same ROS 2 joint topic "
                f"{config.joint_topic!r} on domain {config.domain_id}: one robot per topic"
            )
        seen[key] = robot_id
