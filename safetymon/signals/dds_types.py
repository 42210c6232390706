"""The ROS 2 messages of the DDS safety output, as Cyclone DDS IDL types.

Field for field the ``.msg`` definitions of ROS 2 (Humble, Jazzy: unchanged), with rosidl's
DDS names (``pkg::msg::dds_::Type_``); the CDR bytes equal those of ROS 2's own encoder
(tested against ``rosbags``):

- ``std_msgs/MultiArrayDimension``: string label, uint32 size, uint32 stride
- ``std_msgs/MultiArrayLayout``: MultiArrayDimension[] dim, uint32 data_offset
- ``std_msgs/UInt8MultiArray``: MultiArrayLayout layout, uint8[] data -- the frame's 32
  bytes, layout empty (rclpy gives ``data`` as ``array('B')``, rclcpp as
  ``std::vector<uint8_t>``: ``bytes(msg.data)`` is the frame)
- ``diagnostic_msgs/KeyValue``: string key, string value
- ``diagnostic_msgs/DiagnosticStatus``: byte level (OK 0, WARN 1, ERROR 2, STALE 3), string
  name, string message, string hardware_id, KeyValue[] values

Importing this module needs the ``cyclonedds`` package (``pip install safetymon[ros2]``).
"""

# no ``from __future__ import annotations``: cyclonedds.idl resolves the field types at runtime
from dataclasses import dataclass, field

import cyclonedds.idl.annotations as annotate
from cyclonedds.idl import IdlStruct
from cyclonedds.idl.types import byte, sequence, uint8, uint32

# ruff: noqa: N801 (the DDS type names of ROS 2 end in an underscore)

LEVEL_OK = 0
"""DiagnosticStatus.OK: the frame says RUN."""
LEVEL_WARN = 1
"""DiagnosticStatus.WARN: the frame says SLOW."""
LEVEL_ERROR = 2
"""DiagnosticStatus.ERROR: the frame says STOP."""
LEVEL_STALE = 3
"""DiagnosticStatus.STALE: never sent by the monitor (a consumer's view of silence)."""


@dataclass
@annotate.final
class MultiArrayDimension_(IdlStruct, typename="std_msgs::msg::dds_::MultiArrayDimension_"):
    """One dimension of a multi-array: its label, size and stride (elements)."""

    label: str = ""
    size: uint32 = 0
    stride: uint32 = 0


@dataclass
@annotate.final
class MultiArrayLayout_(IdlStruct, typename="std_msgs::msg::dds_::MultiArrayLayout_"):
    """How ``data`` of a multi-array is laid out (empty: a plain 1-D array)."""

    dim: sequence[MultiArrayDimension_] = field(default_factory=list)
    data_offset: uint32 = 0


@dataclass
@annotate.final
class UInt8MultiArray_(IdlStruct, typename="std_msgs::msg::dds_::UInt8MultiArray_"):
    """Bytes: here one safety frame of hw/PROTOCOL.md, unchanged."""

    layout: MultiArrayLayout_ = field(default_factory=MultiArrayLayout_)
    data: sequence[uint8] = field(default_factory=list)


@dataclass
@annotate.final
class KeyValue_(IdlStruct, typename="diagnostic_msgs::msg::dds_::KeyValue_"):
    """One named value of a diagnostic status (both strings)."""

    key: str = ""
    value: str = ""


@dataclass
@annotate.final
class DiagnosticStatus_(IdlStruct, typename="diagnostic_msgs::msg::dds_::DiagnosticStatus_"):
    """The state of one component: level, name, message, hardware id, key/value pairs."""

    level: byte = LEVEL_OK
    name: str = ""
    message: str = ""
    hardware_id: str = ""
    values: sequence[KeyValue_] = field(default_factory=list)
