"""ROS 2 samples → the robot state message's wire form (pure; no DDS import).

The ``ros2`` input does not check states itself: each ``sensor_msgs/JointState`` becomes one
``safetymon.robot_state/1`` JSON message that goes through ``RobotStateStore.submit`` like
any ZeroMQ or serial message (non-finite values, order, age, joint limits, sessions). Here
only what is particular to ROS 2 is done:

- **Joint names.** The message's ``name`` array is matched to the robot's configured joints
  (``joint_names``, in configured order); a missing, unknown (not in ``ignore_joint_names``)
  or repeated name, or ``position`` / ``velocity`` arrays of another length than ``name``,
  is a ``joint_names`` rejection.
- **Stamps.** ``header.stamp`` (sec, nanosec) orders the messages: ``sequence`` is the stamp
  in nanoseconds, ``capture_time_s`` the stamp in seconds, moved from CLOCK_REALTIME to
  this host's CLOCK_MONOTONIC for ``clock: shared_realtime``. A zero, negative or
  malformed stamp (nanosec ≥ 10⁹) is a ``schema`` rejection.
- **Sessions.** The DDS writer that sent the joint state is the sender's session
  (``dds-<publication handle>``): a restarted publisher is a new writer, a second publisher
  on the topic a second sender (the store's rules).
- **Base.** The newest accepted base pose (``BaseSample``) is attached; it must be within
  ``max_state_age_s`` of the joint state (by stamp and by arrival), else ``too_old``.

Frames: an Odometry/PoseStamped pose is in its ``header.frame_id`` frame, placed in the
floor frame by ``odom_pose``; the Odometry twist is in ``child_frame_id`` (the base) and is
rotated into the floor frame. Metres, radians, m/s, rad/s. Roll and pitch of the base are
not used (the base pose of a state message is x, y, z, yaw).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from safetymon.config.robots import BasePose
from safetymon.robot.messages import SCHEMA_V1, MessageError

NS_PER_S = 1_000_000_000
QUATERNION_NORM_TOLERANCE = 1e-3
"""|‖q‖ − 1| above this is not an orientation: the base pose is refused (``schema``)."""


def stamp_ns(sec: int, nanosec: int) -> int:
    """``header.stamp`` as integer nanoseconds.

    Raises:
        MessageError: ``schema`` for nanosec ≥ 10⁹, a negative or a zero stamp.
    """
    if not 0 <= nanosec < NS_PER_S:
        raise MessageError("schema", f"header.stamp.nanosec: {nanosec} not in 0..999999999")
    total = sec * NS_PER_S + nanosec
    if total <= 0:
        raise MessageError(
            "schema",
            f"header.stamp: {sec} s {nanosec} ns is not a time (the publisher does not stamp)",
        )
    return total


class JointMatcher:
    """Puts a JointState's values into the configured joint order, by name.

    Args:
        configured: the ROS joint name of each configured joint, in configured order.
        ignored: names a message may carry that are dropped.
    """

    def __init__(self, configured: Sequence[str], ignored: Iterable[str] = ()) -> None:
        """Index the configured names."""
        self.configured = tuple(configured)
        self._index = {name: i for i, name in enumerate(self.configured)}
        self._ignored = frozenset(ignored)

    def match(
        self, names: Sequence[str], positions: Sequence[float], velocities: Sequence[float]
    ) -> tuple[list[float], list[float] | None]:
        """Positions (rad or m) and velocities (rad/s or m/s, None if not sent), configured
        order.

        Raises:
            MessageError: ``joint_names`` naming the first mismatch.
        """
        if len(positions) != len(names):
            raise MessageError(
                "joint_names", f"position has {len(positions)} values for {len(names)} names"
            )
        if velocities and len(velocities) != len(names):
            raise MessageError(
                "joint_names", f"velocity has {len(velocities)} values for {len(names)} names"
            )
        slots: list[int | None] = [None] * len(self.configured)
        for k, name in enumerate(names):
            i = self._index.get(name)
            if i is None:
                if name in self._ignored:
                    continue
                raise MessageError(
                    "joint_names",
                    f"name: {name!r} is not a configured joint {list(self.configured)} "
                    "(list it in ignore_joint_names to drop it)",
                )
            if slots[i] is not None:
                raise MessageError("joint_names", f"name: {name!r} given twice")
            slots[i] = k
        missing = [self.configured[i] for i, k in enumerate(slots) if k is None]
        if missing:
            raise MessageError("joint_names", f"name: joints {missing} missing")
        order = [k for k in slots if k is not None]
        q = [float(positions[k]) for k in order]
        q_dot = [float(velocities[k]) for k in order] if velocities else None
        return q, q_dot


@dataclass(frozen=True)
class BaseSample:
    """One accepted base pose in the floor frame (metres, radians; velocities m/s, rad/s,
    floor frame; None when the topic carries none) with its stamp (ns, sender's clock) and
    arrival (monotonic s)."""

    stamp_ns: int
    arrival_s: float
    x_m: float
    y_m: float
    z_m: float
    yaw_rad: float
    vx_mps: float | None = None
    vy_mps: float | None = None
    yaw_rate_radps: float | None = None

    def as_base(self) -> dict[str, float]:
        """The message's ``base`` object."""
        base = {"x_m": self.x_m, "y_m": self.y_m, "z_m": self.z_m, "yaw_rad": self.yaw_rad}
        if self.vx_mps is not None:
            base.update(
                vx_mps=self.vx_mps, vy_mps=self.vy_mps or 0.0,
                yaw_rate_radps=self.yaw_rate_radps or 0.0,
            )  # fmt: skip
        return base


def yaw_of(x: float, y: float, z: float, w: float) -> float:
    """Rotation about z (rad) of a unit quaternion (x, y, z, w), ZYX convention.

    Raises:
        MessageError: ``non_finite`` or ``schema`` (not a unit quaternion).
    """
    if not all(math.isfinite(v) for v in (x, y, z, w)):
        raise MessageError("non_finite", "pose.orientation is not finite")
    norm = math.sqrt(x * x + y * y + z * z + w * w)
    if abs(norm - 1.0) > QUATERNION_NORM_TOLERANCE:
        raise MessageError("schema", f"pose.orientation: norm {norm:.6g} is not 1")
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def base_sample(
    odom_pose: BasePose,
    stamp: int,
    arrival_s: float,
    position: tuple[float, float, float],
    orientation: tuple[float, float, float, float],
    twist: tuple[float, float, float] | None = None,
) -> BaseSample:
    """A base pose from its topic's frame to the floor frame.

    ``twist`` = (vx m/s, vy m/s, yaw rate rad/s) in the base frame (Odometry's
    ``child_frame_id``), or None (PoseStamped).

    Raises:
        MessageError: ``non_finite`` or ``schema``.
    """
    values = (*position, *(twist or ()))
    if not all(math.isfinite(v) for v in values):
        raise MessageError("non_finite", f"base pose or twist not finite: {values}")
    yaw_local = yaw_of(*orientation)
    c, s = math.cos(odom_pose.yaw_rad), math.sin(odom_pose.yaw_rad)
    px, py, pz = position
    x = odom_pose.x_m + c * px - s * py
    y = odom_pose.y_m + s * px + c * py
    yaw = odom_pose.yaw_rad + yaw_local
    if twist is None:
        return BaseSample(stamp, arrival_s, x, y, odom_pose.z_m + pz, yaw)
    vx, vy, yaw_rate = twist
    cy, sy = math.cos(yaw), math.sin(yaw)
    return BaseSample(
        stamp, arrival_s, x, y, odom_pose.z_m + pz, yaw,
        cy * vx - sy * vy, sy * vx + cy * vy, yaw_rate,
    )  # fmt: skip


def base_problem(base: BaseSample | None, joint_stamp: int, arrival_s: float,
                 max_age_s: float, topic: str) -> str | None:  # fmt: skip
    """Why the newest base pose cannot go with a joint state (``too_old``), or None."""
    if base is None:
        return f"base pose: none received on {topic} yet"
    apart = abs(joint_stamp - base.stamp_ns) / NS_PER_S
    waited = arrival_s - base.arrival_s
    if apart > max_age_s or waited > max_age_s:
        return (
            f"base pose on {topic}: stamp {apart * 1000:.0f} ms from the joint state's, "
            f"arrived {waited * 1000:.0f} ms before it (limit {max_age_s * 1000:.0f} ms)"
        )
    return None


def state_json(
    robot_id: str,
    session: str,
    stamp: int,
    capture_time_s: float,
    positions: list[float],
    velocities: list[float] | None,
    base: BaseSample | None,
) -> bytes:
    """The ``safetymon.robot_state/1`` message; non-finite values are written as JSON
    ``NaN``/``Infinity`` so that the store's parser rejects them as ``non_finite``."""
    joints: dict[str, list[float]] = {"positions": positions}
    if velocities is not None:
        joints["velocities"] = velocities
    message: dict[str, object] = {
        "schema": SCHEMA_V1,
        "robot_id": robot_id,
        "session": session,
        "sequence": stamp,
        "capture_time_s": capture_time_s,
        "joints": joints,
    }
    if base is not None:
        message["base"] = base.as_base()
    return json.dumps(message, allow_nan=True, separators=(",", ":")).encode()
