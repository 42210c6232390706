"""One state message + the robot's config → link capsules in the floor frame.

Frames: capsule endpoints arrive (``links``) or are computed (``joints`` + DH/URDF forward
kinematics) in the robot base frame, then move to the floor frame (metres, z up) with the
base pose: the message's ``base`` if given, else the configured ``base_pose``.

Endpoint velocities (m/s, floor frame), in order of preference:

1. From the message: joint velocities through the chain (directional finite difference of
   forward kinematics, i.e. J(q)·q̇), or the given ``links.vel_a/vel_b``; plus the base's
   motion (v_base + ω×r). The base's motion is known when the message gives the base
   velocity, or when it gives no base pose at all (a fixed base: zero).
2. Otherwise ``velocity=None``: the store differences consecutive accepted states
   (``difference_velocity``), which lags by one message period.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from safetymon.config.robots import CapsulesGeometry, RobotConfig
from safetymon.robot.kinematics import KinematicChain, KinematicsError, build_chain
from safetymon.robot.messages import BaseState, MessageError, RobotStateMessage

FD_STEP_S = 1e-4  # time step of the finite-difference velocity probe, seconds


@dataclass(frozen=True)
class FloorCapsules:
    """Link capsules of one robot state in the floor frame.

    Attributes:
        a, b: (L, 3) axis endpoints, metres.
        radius_m: (L,) radii, metres.
        vel_a, vel_b: (L, 3) endpoint velocities, m/s; None when the message gives too little.
        base_xy: (2,) the base origin's floor point, metres.
        base_velocity: (2,) the base origin's floor velocity, m/s; None when unknown (a
            base pose without velocity: the store differences consecutive states).
    """

    a: np.ndarray
    b: np.ndarray
    radius_m: np.ndarray
    vel_a: np.ndarray | None
    vel_b: np.ndarray | None
    base_xy: np.ndarray = field(default_factory=lambda: np.zeros(2))
    base_velocity: np.ndarray | None = None


def _rotation(yaw_rad: float) -> np.ndarray:
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def difference_velocity(
    previous: FloorCapsules, current: FloorCapsules, dt_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Endpoint velocities (m/s) by differencing two states ``dt_s`` seconds apart."""
    return (current.a - previous.a) / dt_s, (current.b - previous.b) / dt_s


class RobotModel:
    """Turns a robot's state messages into floor-frame capsules.

    Args:
        config: the robot's configuration (geometry, radii, default base pose).
        base_dir: folder that relative URDF paths are relative to (the site file's folder).

    Raises:
        ValueError: the configured kinematics cannot be built (URDF missing or invalid).
    """

    def __init__(self, config: RobotConfig, base_dir: Path | str = ".") -> None:
        """Build the kinematic chain (if any) once."""
        self.config = config
        self.chain: KinematicChain | None = None
        if not isinstance(config.geometry, CapsulesGeometry):
            self.chain = build_chain(config.geometry, config.link_radius_m, Path(base_dir))

    def capsules(self, message: RobotStateMessage) -> FloorCapsules:
        """Floor-frame capsules of one message.

        Raises:
            MessageError: kind ``geometry`` when the message does not fit the configured
                geometry (joints vs links, joint count or limits, link count, non-finite FK).
        """
        local_a, local_b, radius, local_va, local_vb = self._local(message)
        base = message.base
        pose = self.config.base_pose if base is None else base
        rotation = _rotation(pose.yaw_rad)
        origin = np.array([pose.x_m, pose.y_m, pose.z_m])
        a = local_a @ rotation.T + origin
        b = local_b @ rotation.T + origin
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
            raise MessageError("geometry", "capsule endpoints are not finite")
        base_twist = _base_twist(base)
        base_xy = origin[:2].copy()
        base_velocity = None if base_twist is None else base_twist[0][:2].copy()
        if local_va is None or local_vb is None or base_twist is None:
            return FloorCapsules(a, b, radius, None, None, base_xy, base_velocity)
        velocity, yaw_rate = base_twist
        omega = np.array([0.0, 0.0, yaw_rate])
        vel_a = local_va @ rotation.T + velocity + np.cross(omega, a - origin)
        vel_b = local_vb @ rotation.T + velocity + np.cross(omega, b - origin)
        return FloorCapsules(a, b, radius, vel_a, vel_b, base_xy, base_velocity)

    def _local(
        self, message: RobotStateMessage
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Capsules and endpoint velocities (None: unknown) in the base frame."""
        geometry = self.config.geometry
        if self.chain is None:
            links = message.links
            if links is None:
                raise MessageError("geometry", "joints given, but the robot's geometry is capsules")
            assert isinstance(geometry, CapsulesGeometry)
            if geometry.links is not None and len(links.a) != geometry.links:
                raise MessageError(
                    "geometry", f"links.a has {len(links.a)} links, configured {geometry.links}"
                )
            radius = (
                np.full(len(links.a), self.config.link_radius_m)
                if links.radius_m is None
                else np.array(links.radius_m)
            )
            vel_a = None if links.vel_a is None else np.array(links.vel_a, dtype=np.float64)
            vel_b = None if links.vel_b is None else np.array(links.vel_b, dtype=np.float64)
            return np.array(links.a), np.array(links.b), radius, vel_a, vel_b
        joints = message.joints
        if joints is None:
            raise MessageError(
                "geometry", f"links given, but the robot's geometry is {geometry.kind}"
            )
        q = np.array(joints.positions, dtype=np.float64)
        try:
            self.chain.check(q)
            a, b = self.chain.capsules(q)
        except KinematicsError as error:
            raise MessageError("geometry", f"joints.positions: {error}") from None
        if joints.velocities is None:
            return a, b, self.chain.radius_m, None, None
        vel_a, vel_b = chain_velocity(self.chain, q, np.array(joints.velocities), (a, b))
        return a, b, self.chain.radius_m, vel_a, vel_b


def _base_twist(base: BaseState | None) -> tuple[np.ndarray, float] | None:
    """Base velocity (m/s, floor frame) and yaw rate (rad/s), or None when unknown.

    No base in the message means the configured, fixed base: zero velocity.
    """
    if base is None:
        return np.zeros(3), 0.0
    if not base.has_velocity:
        return None
    assert base.vx_mps is not None and base.vy_mps is not None
    return np.array([base.vx_mps, base.vy_mps, 0.0]), float(base.yaw_rate_radps or 0.0)


def chain_velocity(
    chain: KinematicChain,
    q: np.ndarray,
    q_dot: np.ndarray,
    at_q: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """J(q)·q̇ for every capsule endpoint by a central difference along q̇ (one-sided at limits).

    Probes q ± h·q̇ with h = ``FD_STEP_S``; a probe outside the joint limits is replaced by q
    itself, so the difference quotient uses the matching time span.
    """
    plus = q + FD_STEP_S * q_dot
    minus = q - FD_STEP_S * q_dot
    plus_inside = bool(np.array_equal(chain.clamp_inside(plus), plus))
    minus_inside = bool(np.array_equal(chain.clamp_inside(minus), minus))
    a_plus, b_plus = chain.capsules(plus) if plus_inside else at_q
    a_minus, b_minus = chain.capsules(minus) if minus_inside else at_q
    span = FD_STEP_S * (int(plus_inside) + int(minus_inside))
    if span == 0.0:
        raise MessageError("geometry", "joints.velocities: both probes leave the joint limits")
    return (a_plus - a_minus) / span, (b_plus - b_minus) / span
