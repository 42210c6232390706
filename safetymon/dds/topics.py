"""ROS 2 names on DDS (no ``cyclonedds`` import).

rosidl maps a ROS 2 topic ``/name`` to the DDS topic ``rt/name`` and the message type
``pkg/msg/Type`` to the DDS type name ``pkg::msg::dds_::Type_``.
"""

from __future__ import annotations


def dds_topic(ros_topic: str) -> str:
    """ROS 2 topic ``/name`` (or ``name``) → DDS topic ``rt/name``."""
    return "rt/" + ros_topic.lstrip("/")
