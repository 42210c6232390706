"""A ROS 2 publisher for the tests whose bytes come from ``rosbags`` (an encoder not ours).

Usage: ``python ros2_rosbags_publisher.py DOMAIN PLAN.json``. Joins DDS domain DOMAIN on
loopback (``safetymon.dds.domain``), creates writers on ``rt/joint_states`` and
``rt/odom`` (ROS 2 type names), waits until the monitor's readers match, then for each plan
item serialises the ROS 2 message with ``rosbags`` (CDR as ROS 2 Humble writes it) and writes
those bytes unchanged through Cyclone DDS. Stamps: CLOCK_REALTIME plus the item's
``stamp_offset_s`` (or ``stamp`` = [sec, nanosec] as given). Prints ``sent N`` and exits 0.

Plan items: ``{"topic": "joints", "name": [...], "position": [...], "velocity": [...]}`` or
``{"topic": "odom", "x": m, "y": m, "yaw": rad, "vx": m/s, "vyaw": rad/s}``; NaN allowed.
"""

from __future__ import annotations

import json
import math
import sys
import time

import numpy as np
from cyclonedds._clayer import ddspy_write
from cyclonedds.pub import DataWriter
from cyclonedds.qos import Policy, Qos
from cyclonedds.topic import Topic
from rosbags.typesys import Stores, get_typestore

from safetymon.dds.domain import join_domain
from safetymon.robot import ros2_types as types

MATCH_TIMEOUT_S = 20.0


def _header(store: object, item: dict) -> object:
    t = store.types  # type: ignore[attr-defined]
    if "stamp" in item:
        sec, nanosec = item["stamp"]
    else:
        ns = time.time_ns() + round(item.get("stamp_offset_s", 0.0) * 1e9)
        sec, nanosec = divmod(ns, 1_000_000_000)
    stamp = t["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)
    return t["std_msgs/msg/Header"](stamp=stamp, frame_id=item.get("frame_id", "odom"))


def _joint_state(store: object, item: dict) -> bytes:
    t = store.types  # type: ignore[attr-defined]
    message = t["sensor_msgs/msg/JointState"](
        header=_header(store, item),
        name=list(item["name"]),
        position=np.array(item["position"], dtype=np.float64),
        velocity=np.array(item.get("velocity", []), dtype=np.float64),
        effort=np.array([], dtype=np.float64),
    )
    return bytes(store.serialize_cdr(message, "sensor_msgs/msg/JointState"))  # type: ignore[attr-defined]


def _odometry(store: object, item: dict) -> bytes:
    t = store.types  # type: ignore[attr-defined]
    g = "geometry_msgs/msg/"
    yaw = item.get("yaw", 0.0)
    pose = t[g + "Pose"](
        position=t[g + "Point"](x=item.get("x", 0.0), y=item.get("y", 0.0), z=item.get("z", 0.0)),
        orientation=t[g + "Quaternion"](x=0.0, y=0.0, z=math.sin(yaw / 2), w=math.cos(yaw / 2)),
    )
    twist = t[g + "Twist"](
        linear=t[g + "Vector3"](x=item.get("vx", 0.0), y=0.0, z=0.0),
        angular=t[g + "Vector3"](x=0.0, y=0.0, z=item.get("vyaw", 0.0)),
    )
    message = t["nav_msgs/msg/Odometry"](
        header=_header(store, item),
        child_frame_id="base_link",
        pose=t[g + "PoseWithCovariance"](pose=pose, covariance=np.zeros(36)),
        twist=t[g + "TwistWithCovariance"](twist=twist, covariance=np.zeros(36)),
    )
    return bytes(store.serialize_cdr(message, "nav_msgs/msg/Odometry"))  # type: ignore[attr-defined]


def main() -> int:
    """Publish the plan; 1 if no reader matched in time."""
    domain, plan_path = int(sys.argv[1]), sys.argv[2]
    plan = json.loads(open(plan_path, encoding="utf-8").read())  # noqa: SIM115
    store = get_typestore(Stores.ROS2_HUMBLE)
    participant = join_domain(domain, loopback_only=True)
    qos = Qos(Policy.Reliability.Reliable(max_blocking_time=int(1e8)), Policy.History.KeepAll)
    writers = {
        "joints": DataWriter(participant, Topic(participant, "rt/joint_states", types.JointState_),
                             qos=qos),
        "odom": DataWriter(participant, Topic(participant, "rt/odom", types.Odometry_), qos=qos),
    }  # fmt: skip
    needed = {item["topic"] for item in plan}
    deadline = time.monotonic() + MATCH_TIMEOUT_S
    while any(writers[n].get_publication_matched_status().current_count == 0 for n in needed):
        if time.monotonic() > deadline:
            print("no reader matched", flush=True)
            return 1
        time.sleep(0.01)
    time.sleep(0.1)  # the reader's side of discovery completes too
    sent = 0
    for item in plan:
        raw = _joint_state(store, item) if item["topic"] == "joints" else _odometry(store, item)
        raw = raw.ljust((len(raw) + 3) & ~3, b"\0")  # DDS payloads are padded to 4 bytes
        ret = ddspy_write(writers[item["topic"]]._ref, raw)
        if ret < 0:
            print(f"write failed: {ret}", flush=True)
            return 1
        sent += 1
        time.sleep(item.get("pause_s", 0.02))
    time.sleep(0.5)  # reliable delivery of the last samples before the participant leaves
    print(f"sent {sent}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
