"""The ROS 2 message types the ``ros2`` state input reads, as Cyclone DDS IDL types.

``Time_``, ``Header_``, ``Vector3_``, ``Twist_`` and ``dds_topic`` live in ``safetymon.dds``
(shared with the safety output) and are re-exported here.

ROS 2 (rosidl) maps ``pkg/msg/Type`` to the DDS type ``pkg::msg::dds_::Type_`` and topic
``/name`` to DDS topic ``rt/name``; the wire form is plain CDR (XCDR1), fields in the order
of the ``.msg`` files (checked in tests against the ``rosbags`` encoder):

- ``builtin_interfaces/Time``: int32 sec, uint32 nanosec
- ``std_msgs/Header``: Time stamp, string frame_id
- ``sensor_msgs/JointState``: Header header, string[] name, float64[] position,
  float64[] velocity, float64[] effort (rad or m, rad/s or m/s, N·m or N)
- ``geometry_msgs/Point`` / ``Vector3``: float64 x, y, z; ``Quaternion``: float64 x, y, z, w
- ``geometry_msgs/Pose``: Point position, Quaternion orientation;
  ``PoseWithCovariance``: Pose pose, float64[36] covariance;
  ``Twist``: Vector3 linear, Vector3 angular; ``TwistWithCovariance``: Twist twist,
  float64[36] covariance; ``PoseStamped``: Header header, Pose pose
- ``nav_msgs/Odometry``: Header header, string child_frame_id, PoseWithCovariance pose (in
  header.frame_id), TwistWithCovariance twist (in child_frame_id)

Importing this module needs the ``cyclonedds`` package (``pip install safetymon[ros2]``).
"""

# no ``from __future__ import annotations``: cyclonedds.idl resolves the field types at runtime
from dataclasses import dataclass, field

import cyclonedds.idl.annotations as annotate
from cyclonedds.idl import IdlStruct
from cyclonedds.idl.types import array, float64, sequence

from safetymon.dds.msgs import Header_, Time_, Twist_, Vector3_
from safetymon.dds.topics import dds_topic

# ruff: noqa: N801 (the DDS type names of ROS 2 end in an underscore)

__all__ = [
    "Header_",
    "JointState_",
    "Odometry_",
    "Point_",
    "PoseStamped_",
    "PoseWithCovariance_",
    "Pose_",
    "Quaternion_",
    "Time_",
    "TwistWithCovariance_",
    "Twist_",
    "Vector3_",
    "dds_topic",
]


@dataclass
@annotate.final
class JointState_(IdlStruct, typename="sensor_msgs::msg::dds_::JointState_"):
    """Joint positions (rad or m), velocities (rad/s or m/s), efforts; by joint name."""

    header: Header_ = field(default_factory=Header_)
    name: sequence[str] = field(default_factory=list)
    position: sequence[float64] = field(default_factory=list)
    velocity: sequence[float64] = field(default_factory=list)
    effort: sequence[float64] = field(default_factory=list)


@dataclass
@annotate.final
class Point_(IdlStruct, typename="geometry_msgs::msg::dds_::Point_"):
    """A position, metres."""

    x: float64 = 0.0
    y: float64 = 0.0
    z: float64 = 0.0


@dataclass
@annotate.final
class Quaternion_(IdlStruct, typename="geometry_msgs::msg::dds_::Quaternion_"):
    """An orientation as a unit quaternion (x, y, z, w)."""

    x: float64 = 0.0
    y: float64 = 0.0
    z: float64 = 0.0
    w: float64 = 1.0


@dataclass
@annotate.final
class Pose_(IdlStruct, typename="geometry_msgs::msg::dds_::Pose_"):
    """Position (m) and orientation of a frame."""

    position: Point_ = field(default_factory=Point_)
    orientation: Quaternion_ = field(default_factory=Quaternion_)


@dataclass
@annotate.final
class PoseWithCovariance_(IdlStruct, typename="geometry_msgs::msg::dds_::PoseWithCovariance_"):
    """A pose and its 6x6 covariance (row-major, x y z roll pitch yaw)."""

    pose: Pose_ = field(default_factory=Pose_)
    covariance: array[float64, 36] = field(default_factory=lambda: [0.0] * 36)




@dataclass
@annotate.final
class TwistWithCovariance_(
    IdlStruct, typename="geometry_msgs::msg::dds_::TwistWithCovariance_"
):
    """A twist and its 6x6 covariance."""

    twist: Twist_ = field(default_factory=Twist_)
    covariance: array[float64, 36] = field(default_factory=lambda: [0.0] * 36)


@dataclass
@annotate.final
class Odometry_(IdlStruct, typename="nav_msgs::msg::dds_::Odometry_"):
    """Base pose in ``header.frame_id`` and its twist in ``child_frame_id`` (the base)."""

    header: Header_ = field(default_factory=Header_)
    child_frame_id: str = ""
    pose: PoseWithCovariance_ = field(default_factory=PoseWithCovariance_)
    twist: TwistWithCovariance_ = field(default_factory=TwistWithCovariance_)


@dataclass
@annotate.final
class PoseStamped_(IdlStruct, typename="geometry_msgs::msg::dds_::PoseStamped_"):
    """A pose in ``header.frame_id`` at ``header.stamp``."""

    header: Header_ = field(default_factory=Header_)
    pose: Pose_ = field(default_factory=Pose_)
