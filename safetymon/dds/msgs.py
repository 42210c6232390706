"""ROS 2 message types used by more than one package, as Cyclone DDS IDL types.

ROS 2 (rosidl) maps ``pkg/msg/Type`` to the DDS type ``pkg::msg::dds_::Type_``; the wire
form is plain CDR (XCDR1), fields in the order of the ``.msg`` files (checked in tests
against the ``rosbags`` encoder):

- ``builtin_interfaces/Time``: int32 sec, uint32 nanosec
- ``std_msgs/Header``: Time stamp, string frame_id
- ``geometry_msgs/Vector3``: float64 x, y, z
- ``geometry_msgs/Twist``: Vector3 linear (m/s), Vector3 angular (rad/s)

``safetymon.robot.ros2_types`` reads them inside joint states and odometry; the velocity
scaler example (``hw/examples/ros2_velocity_scaler.py``) scales Twists. Importing this
module needs the ``cyclonedds`` package (``pip install safetymon[ros2]``).
"""

# no ``from __future__ import annotations``: cyclonedds.idl resolves the field types at runtime
from dataclasses import dataclass, field

import cyclonedds.idl.annotations as annotate
from cyclonedds.idl import IdlStruct
from cyclonedds.idl.types import float64, int32, uint32

# ruff: noqa: N801 (the DDS type names of ROS 2 end in an underscore)


@dataclass
@annotate.final
class Time_(IdlStruct, typename="builtin_interfaces::msg::dds_::Time_"):
    """A time stamp: seconds and nanoseconds (0..999 999 999) of the sender's clock."""

    sec: int32 = 0
    nanosec: uint32 = 0


@dataclass
@annotate.final
class Header_(IdlStruct, typename="std_msgs::msg::dds_::Header_"):
    """When the data was measured and in which frame it is given."""

    stamp: Time_ = field(default_factory=Time_)
    frame_id: str = ""


@dataclass
@annotate.final
class Vector3_(IdlStruct, typename="geometry_msgs::msg::dds_::Vector3_"):
    """A vector (m/s or rad/s in a twist)."""

    x: float64 = 0.0
    y: float64 = 0.0
    z: float64 = 0.0


@dataclass
@annotate.final
class Twist_(IdlStruct, typename="geometry_msgs::msg::dds_::Twist_"):
    """Linear (m/s) and angular (rad/s) velocity."""

    linear: Vector3_ = field(default_factory=Vector3_)
    angular: Vector3_ = field(default_factory=Vector3_)
