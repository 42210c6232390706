"""Publish robot state messages as a ROS 2 robot would (``safetymon robot-sim --ros2``).

``Ros2StateSender.send`` takes one ``safetymon.robot_state/1`` JSON message with joints (as
``ArmSimulator`` makes them) and publishes, on the robot's ``ros2`` input's domain and topics:

- ``sensor_msgs/JointState`` on ``rt/<joint_topic>``: the joint names of the input
  (``joint_names``, else the URDF's), positions (rad or m) and velocities (rad/s or m/s);
- unless ``base_topic`` is null, the base as ``nav_msgs/Odometry`` (pose in the odometry
  frame, i.e. the floor pose moved back by ``odom_pose``; twist in the base frame) or
  ``geometry_msgs/PoseStamped``.

Header stamps follow the input's ``clock``: this host's CLOCK_MONOTONIC (``receiver``,
``shared_monotonic``) or CLOCK_REALTIME (``shared_realtime``, as ROS 2 nodes stamp). The
writers are reliable, keep-last, plain CDR (XCDR1) as ROS 2's ``rmw_cyclonedds`` writes.
Importing this module needs the ``cyclonedds`` package.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence

from cyclonedds.pub import DataWriter
from cyclonedds.qos import Policy, Qos
from cyclonedds.topic import Topic

from safetymon.config.robots import Ros2StateInputConfig
from safetymon.dds.domain import join_domain
from safetymon.robot import ros2_types as types
from safetymon.robot.ros2_convert import NS_PER_S

FRAME_ID = "odom"
CHILD_FRAME_ID = "base_link"


def _stamp(ns: int) -> types.Time_:
    return types.Time_(sec=ns // NS_PER_S, nanosec=ns % NS_PER_S)


class Ros2StateSender:
    """DDS writers for one robot's joint states and base pose.

    Args:
        config: the robot's ``ros2`` input (domain, topics, clock, odometry frame).
        joint_names: the ROS name of each joint in message order.
        depth: writer history depth.

    Raises:
        OSError: the domain or a writer cannot be created.
    """

    def __init__(
        self, config: Ros2StateInputConfig, joint_names: Sequence[str], depth: int = 10
    ) -> None:
        """Join the domain and create the writers."""
        from cyclonedds.core import DDSException

        self.config = config
        self.joint_names = list(joint_names)
        qos = Qos(
            Policy.Reliability.Reliable(max_blocking_time=int(0.1 * NS_PER_S)),
            Policy.History.KeepLast(depth),
            Policy.Durability.Volatile,
            Policy.DataRepresentation(use_cdrv0_representation=True),
        )
        try:
            self._participant = join_domain(config.domain_id, config.loopback_only)
            topic = Topic(self._participant, types.dds_topic(config.joint_topic), types.JointState_)
            self._joints = DataWriter(self._participant, topic, qos=qos)
            self._base: DataWriter | None = None
            if config.base_topic is not None:
                kind = types.Odometry_ if config.base_type == "odometry" else types.PoseStamped_
                base_topic = Topic(self._participant, types.dds_topic(config.base_topic), kind)
                self._base = DataWriter(self._participant, base_topic, qos=qos)
        except (DDSException, ValueError) as error:
            raise OSError(f"ros2 domain {config.domain_id}: {error}") from error
        self.endpoint = (
            f"DDS domain {config.domain_id} {types.dds_topic(config.joint_topic)}"
            + (f" + {types.dds_topic(config.base_topic)}" if config.base_topic else "")
            + (" (loopback)" if config.loopback_only else "")
        )

    def stamp_ns(self, capture_time_s: float) -> int:
        """The header stamp (ns) of a state captured at monotonic ``capture_time_s``."""
        if self.config.clock == "shared_realtime":
            capture_time_s += time.time() - time.monotonic()
        return round(capture_time_s * NS_PER_S)

    def send(self, payload: bytes) -> None:
        """Publish one robot state message (JSON with ``joints``) as ROS 2 messages."""
        message = json.loads(payload)
        stamp = _stamp(self.stamp_ns(message["capture_time_s"]))
        base = message.get("base")
        if self._base is not None and base is not None:
            self._base.write(self._base_message(stamp, base))
        joints = message["joints"]
        self._joints.write(
            types.JointState_(
                header=types.Header_(stamp=stamp, frame_id=""),
                name=self.joint_names,
                position=[float(v) for v in joints["positions"]],
                velocity=[float(v) for v in joints.get("velocities") or []],
            )
        )

    def _base_message(self, stamp: types.Time_, base: dict) -> object:
        """The floor-frame base pose as an Odometry / PoseStamped in the odometry frame."""
        origin = self.config.odom_pose
        c, s = math.cos(origin.yaw_rad), math.sin(origin.yaw_rad)
        dx, dy = base["x_m"] - origin.x_m, base["y_m"] - origin.y_m
        yaw = base["yaw_rad"] - origin.yaw_rad
        pose = types.Pose_(
            position=types.Point_(x=c * dx + s * dy, y=-s * dx + c * dy,
                                  z=base.get("z_m", 0.0) - origin.z_m),
            orientation=types.Quaternion_(z=math.sin(yaw / 2), w=math.cos(yaw / 2)),
        )  # fmt: skip
        header = types.Header_(stamp=stamp, frame_id=FRAME_ID)
        if self.config.base_type == "pose_stamped":
            return types.PoseStamped_(header=header, pose=pose)
        heading = base["yaw_rad"]
        vx, vy = base.get("vx_mps", 0.0), base.get("vy_mps", 0.0)
        twist = types.Twist_(
            linear=types.Vector3_(
                x=math.cos(heading) * vx + math.sin(heading) * vy,
                y=-math.sin(heading) * vx + math.cos(heading) * vy,
            ),
            angular=types.Vector3_(z=base.get("yaw_rate_radps", 0.0)),
        )
        return types.Odometry_(
            header=header,
            child_frame_id=CHILD_FRAME_ID,
            pose=types.PoseWithCovariance_(pose=pose),
            twist=types.TwistWithCovariance_(twist=twist),
        )

    def close(self) -> None:
        """Delete the writers and the participant."""
        for entity in (self._base, self._joints, self._participant):
            if entity is not None:
                entity.__del__()
        self._base = None
