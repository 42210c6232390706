"""A walking humanoid for the demo: its patrol path, its gait and its speed-scaled motion.

Pure (no I/O, no clock), so the simulated robot process, the demo's renderer and
the tests compute the same motion.

Frames and units: the floor frame is metres, x east, y north, z up; the base yaw is radians
counter-clockwise from +x. Joint values are radians in `JOINT_NAMES` order, the movable
joints of the demo humanoid's URDF (``safetymon/examples/demo-humanoid.urdf``) in file
order; their signs are the URDF's (positive pitch swings a limb backward, positive knee and
elbow values bend them, positive roll lifts a left limb outward). Speeds m/s, times s.

The motion: the base walks forward around a stadium-shaped loop (`PatrolLoop`) at
``speed_scale × walk_speed_mps``; the gait phase advances with the distance walked, and the
gait's amplitude (step length, arm swing) is the speed scale too, so a slower humanoid takes
shorter, slower steps and at scale 0 it stands still on both feet, legs straight and arms
down (a balance-keeping stand: what a protective stop asks of a humanoid). The scale never
jumps: `HumanoidWalker.step` ramps it toward the permitted one at bounded rates.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from safetymon.robot.messages import SCHEMA_V1, BaseState, JointState, RobotStateMessage

JOINT_NAMES: tuple[str, ...] = (
    "torso_yaw",
    "l_hip_pitch", "l_hip_roll", "l_knee", "l_ankle_pitch",
    "r_hip_pitch", "r_hip_roll", "r_knee", "r_ankle_pitch",
    "l_shoulder_pitch", "l_shoulder_roll", "l_elbow",
    "r_shoulder_pitch", "r_shoulder_roll", "r_elbow",
)  # fmt: skip
"""The demo humanoid's actuated joints, in its URDF's file order."""

PELVIS_HEIGHT_M = 0.67
"""Height of the base (pelvis) origin above the soles when standing, metres."""

_J = {name: index for index, name in enumerate(JOINT_NAMES)}
_FD_STEP_S = 1e-3


@dataclass(frozen=True)
class PatrolLoop:
    """A closed walking loop: east along ``y = y0`` for ``length_m``, a half circle of
    ``radius_m`` counter-clockwise, west along ``y = y0 + 2·radius_m``, a half circle back.

    Attributes:
        x0_m, y0_m: the loop's start, the west end of its southern straight, metres.
        length_m: length of each straight, metres.
        radius_m: radius of the turns, metres.
    """

    x0_m: float
    y0_m: float
    length_m: float
    radius_m: float

    def __post_init__(self) -> None:
        if not (self.length_m > 0.0 and self.radius_m > 0.0):
            raise ValueError(
                f"length_m and radius_m must be > 0, got {self.length_m}, {self.radius_m}"
            )

    @property
    def perimeter_m(self) -> float:
        """Length of one lap, metres."""
        return 2.0 * self.length_m + 2.0 * math.pi * self.radius_m

    def at(self, path_m: float) -> tuple[np.ndarray, float, float]:
        """Floor point (2,), heading (rad) and signed curvature (1/m) ``path_m`` metres in."""
        s = path_m % self.perimeter_m
        length, radius = self.length_m, self.radius_m
        turn = math.pi * radius
        if s < length:  # the southern straight, eastbound
            return np.array([self.x0_m + s, self.y0_m]), 0.0, 0.0
        s -= length
        if s < turn:  # the eastern half circle
            angle = -math.pi / 2 + s / radius
            centre = (self.x0_m + length, self.y0_m + radius)
            point = np.array([centre[0] + radius * math.cos(angle),
                              centre[1] + radius * math.sin(angle)])  # fmt: skip
            return point, s / radius, 1.0 / radius
        s -= turn
        if s < length:  # the northern straight, westbound
            return np.array([self.x0_m + length - s, self.y0_m + 2 * radius]), math.pi, 0.0
        s -= length  # the western half circle
        angle = math.pi / 2 + s / radius
        centre = (self.x0_m, self.y0_m + radius)
        point = np.array([centre[0] + radius * math.cos(angle),
                          centre[1] + radius * math.sin(angle)])  # fmt: skip
        return point, math.pi + s / radius, 1.0 / radius

    def bounds(self) -> tuple[float, float, float, float]:
        """(x_min, y_min, x_max, y_max) of the path itself (the base origin), metres."""
        r = self.radius_m
        return (self.x0_m - r, self.y0_m, self.x0_m + self.length_m + r, self.y0_m + 2 * r)


@dataclass(frozen=True)
class GaitModel:
    """Joint angles of a simple walking gait (radians) from its phase and amplitude.

    Attributes:
        walk_speed_mps: base speed at speed scale 1, m/s.
        cycle_m: distance walked per gait cycle (two steps), metres.
        hip_swing_rad: largest hip pitch either side of upright at amplitude 1.
        knee_lift_rad: knee bend of the swinging leg at mid-swing at amplitude 1.
        arm_swing_rad: largest shoulder pitch either side of hanging at amplitude 1.
        torso_twist_rad: largest torso yaw at amplitude 1.
        stand_knee_rad: knee bend when standing (soft knees).
        stand_elbow_rad: elbow bend when standing.
        arm_spread_rad: shoulder roll keeping the arms off the torso.
    """

    walk_speed_mps: float = 0.4
    cycle_m: float = 0.6
    hip_swing_rad: float = 0.3
    knee_lift_rad: float = 0.5
    arm_swing_rad: float = 0.25
    torso_twist_rad: float = 0.08
    stand_knee_rad: float = 0.06
    stand_elbow_rad: float = 0.3
    arm_spread_rad: float = 0.12

    def joints(self, phase_rad: float, amplitude: float) -> np.ndarray:
        """(15,) joint values at gait ``phase_rad`` and ``amplitude`` (0 stands, 1 walks).

        Over one cycle (2π) the left leg swings forward while cos(phase) > 0, its knee bent
        most at mid-swing, the right one half a cycle later; each arm swings against the leg
        of its side, its elbow bent most when it is forward; the ankles keep the feet
        parallel to the floor. Every angle is a smooth function of phase and amplitude.
        """
        a = float(amplitude)
        s, c = math.sin(phase_rad), math.cos(phase_rad)
        q = np.zeros(len(JOINT_NAMES))
        q[_J["torso_yaw"]] = self.torso_twist_rad * a * s
        for side, sign in (("l", 1.0), ("r", -1.0)):
            swing = -sign * self.hip_swing_rad * a * s  # negative pitch: the leg forward
            knee = self.stand_knee_rad + self.knee_lift_rad * a * (0.5 + 0.5 * sign * c) ** 2
            q[_J[f"{side}_hip_pitch"]] = swing
            q[_J[f"{side}_hip_roll"]] = sign * 0.03 * a * c  # a little weight shift
            q[_J[f"{side}_knee"]] = knee
            q[_J[f"{side}_ankle_pitch"]] = -(swing + knee)  # sole parallel to the floor
            q[_J[f"{side}_shoulder_pitch"]] = sign * self.arm_swing_rad * a * s
            q[_J[f"{side}_shoulder_roll"]] = sign * self.arm_spread_rad
            q[_J[f"{side}_elbow"]] = self.stand_elbow_rad + 0.2 * a * (0.5 - 0.5 * sign * s) ** 2
        return q

    def phase_rate(self, speed_scale: float) -> float:
        """Gait phase speed (rad/s) while walking at ``speed_scale``."""
        return 2.0 * math.pi * speed_scale * self.walk_speed_mps / self.cycle_m


@dataclass(frozen=True)
class WalkState:
    """The humanoid's motion state at one instant (what the simulated robot integrates).

    Attributes:
        time_s: monotonic time of the state, seconds.
        path_m: distance walked along the loop, metres.
        phase_rad: gait phase, radians.
        speed_scale: current speed scale, 0 (standing) .. 1 (walking at walk_speed_mps).
        scale_rate_per_s: how fast the scale is changing now, 1/s.
    """

    time_s: float
    path_m: float = 0.0
    phase_rad: float = 0.0
    speed_scale: float = 0.0
    scale_rate_per_s: float = 0.0


@dataclass(frozen=True)
class HumanoidPose:
    """The humanoid at one instant: its base on the floor and its joints.

    Attributes:
        time_s: monotonic time, seconds.
        x_m, y_m: base origin on the floor, metres; z_m: its height (the pelvis), metres.
        yaw_rad: base heading, radians.
        vx_mps, vy_mps: base velocity in the floor frame, m/s.
        yaw_rate_radps: base turn rate, rad/s.
        positions: (15,) joint values, radians (`JOINT_NAMES` order).
        velocities: (15,) joint speeds, rad/s.
        speed_scale: the speed scale the robot moves at, 0..1.
    """

    time_s: float
    x_m: float
    y_m: float
    z_m: float
    yaw_rad: float
    vx_mps: float
    vy_mps: float
    yaw_rate_radps: float
    positions: np.ndarray
    velocities: np.ndarray
    speed_scale: float

    @property
    def base_speed_mps(self) -> float:
        """Walking speed of the base, m/s."""
        return math.hypot(self.vx_mps, self.vy_mps)

    def extrapolated(self, time_s: float) -> HumanoidPose:
        """This pose moved on to ``time_s`` at its velocities (for a few milliseconds)."""
        dt = time_s - self.time_s
        return HumanoidPose(
            time_s, self.x_m + self.vx_mps * dt, self.y_m + self.vy_mps * dt, self.z_m,
            self.yaw_rad + self.yaw_rate_radps * dt, self.vx_mps, self.vy_mps,
            self.yaw_rate_radps, self.positions + self.velocities * dt, self.velocities,
            self.speed_scale,
        )  # fmt: skip


class HumanoidWalker:
    """Integrates the humanoid's walk toward a permitted speed scale.

    Args:
        loop: the patrol loop.
        gait: the gait.
        speed_up_per_s: largest rise of the speed scale per second (a gentle start).
        slow_down_per_s: largest fall of the speed scale per second (the walk's braking:
            ``deceleration / walk_speed_mps``).
        pelvis_height_m: the base origin's height above the floor, metres.
    """

    def __init__(
        self,
        loop: PatrolLoop,
        gait: GaitModel,
        speed_up_per_s: float = 1.0,
        slow_down_per_s: float = 3.0,
        pelvis_height_m: float = PELVIS_HEIGHT_M,
    ) -> None:
        if not (speed_up_per_s > 0.0 and slow_down_per_s > 0.0):
            raise ValueError("speed_up_per_s and slow_down_per_s must be > 0")
        self.loop = loop
        self.gait = gait
        self.speed_up_per_s = speed_up_per_s
        self.slow_down_per_s = slow_down_per_s
        self.pelvis_height_m = pelvis_height_m

    def step(self, state: WalkState, time_s: float, target_scale: float) -> WalkState:
        """The state at ``time_s`` after ramping toward ``target_scale`` (clipped to 0..1).

        Raises:
            ValueError: a non-finite time or target.
        """
        if not (math.isfinite(time_s) and math.isfinite(target_scale)):
            raise ValueError(f"time_s and target_scale must be finite: {time_s}, {target_scale}")
        dt = max(0.0, time_s - state.time_s)
        target = min(1.0, max(0.0, target_scale))
        if target >= state.speed_scale:
            scale = min(target, state.speed_scale + self.speed_up_per_s * dt)
        else:
            scale = max(target, state.speed_scale - self.slow_down_per_s * dt)
        mean = 0.5 * (state.speed_scale + scale)
        rate = (scale - state.speed_scale) / dt if dt > 0 else 0.0
        return WalkState(
            time_s,
            state.path_m + mean * self.gait.walk_speed_mps * dt,
            state.phase_rad + self.gait.phase_rate(mean) * dt,
            scale,
            rate,
        )

    def pose(self, state: WalkState) -> HumanoidPose:
        """Where the humanoid is and how it moves in ``state``."""
        point, heading, curvature = self.loop.at(state.path_m)
        speed = state.speed_scale * self.gait.walk_speed_mps
        phase_rate = self.gait.phase_rate(state.speed_scale)
        h = _FD_STEP_S
        q = self.gait.joints(state.phase_rad, state.speed_scale)
        ahead = self.gait.joints(state.phase_rad + h * phase_rate,
                                 state.speed_scale + h * state.scale_rate_per_s)  # fmt: skip
        behind = self.gait.joints(state.phase_rad - h * phase_rate,
                                  state.speed_scale - h * state.scale_rate_per_s)  # fmt: skip
        return HumanoidPose(
            time_s=state.time_s,
            x_m=float(point[0]),
            y_m=float(point[1]),
            z_m=self.pelvis_height_m,
            yaw_rad=_wrap(heading),
            vx_mps=speed * math.cos(heading),
            vy_mps=speed * math.sin(heading),
            yaw_rate_radps=speed * curvature,
            positions=q,
            velocities=(ahead - behind) / (2.0 * h),
            speed_scale=state.speed_scale,
        )


def state_message(
    pose: HumanoidPose, robot_id: str, sequence: int, session: str | None = None
) -> RobotStateMessage:
    """``pose`` as a ``safetymon.robot_state/1`` message (joints, base pose and velocity),
    captured at ``pose.time_s`` (monotonic seconds): what the robot publishes."""
    return RobotStateMessage(
        schema=SCHEMA_V1,
        robot_id=robot_id,
        session=session,
        sequence=sequence,
        capture_time_s=pose.time_s,
        base=BaseState(
            x_m=pose.x_m,
            y_m=pose.y_m,
            z_m=pose.z_m,
            yaw_rad=pose.yaw_rad,
            vx_mps=pose.vx_mps,
            vy_mps=pose.vy_mps,
            yaw_rate_radps=pose.yaw_rate_radps,
        ),
        joints=JointState(
            positions=[float(v) for v in pose.positions],
            velocities=[float(v) for v in pose.velocities],
        ),
    )


def pose_json(pose: HumanoidPose) -> bytes:
    """``pose`` as one compact JSON message (the simulated robot's true pose for the demo's
    camera; `pose_from_json` reads it back)."""
    message = {
        "t": pose.time_s, "x": pose.x_m, "y": pose.y_m, "z": pose.z_m, "yaw": pose.yaw_rad,
        "vx": pose.vx_mps, "vy": pose.vy_mps, "wz": pose.yaw_rate_radps,
        "q": pose.positions.tolist(), "qd": pose.velocities.tolist(), "scale": pose.speed_scale,
    }  # fmt: skip
    return json.dumps(message).encode()


def pose_from_json(data: bytes) -> HumanoidPose:
    """The pose of one `pose_json` message.

    Raises:
        ValueError: not such a message (malformed, a field missing, a non-finite number or
            the wrong number of joints).
    """
    try:
        message = json.loads(data)
        scalars = [float(message[key]) for key in _POSE_KEYS]
        q = np.asarray(message["q"], dtype=np.float64)
        qd = np.asarray(message["qd"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"not a humanoid pose message: {error}") from None
    if q.shape != (len(JOINT_NAMES),) or qd.shape != q.shape:
        raise ValueError(f"a humanoid pose needs {len(JOINT_NAMES)} joints, got {q.shape}")
    if not (all(math.isfinite(v) for v in scalars) and np.all(np.isfinite(q))
            and np.all(np.isfinite(qd))):  # fmt: skip
        raise ValueError("a humanoid pose message has a non-finite number")
    t, x, y, z, yaw, vx, vy, wz, scale = scalars
    return HumanoidPose(t, x, y, z, yaw, vx, vy, wz, q, qd, scale)


_POSE_KEYS = ("t", "x", "y", "z", "yaw", "vx", "vy", "wz", "scale")


def _wrap(angle_rad: float) -> float:
    """``angle_rad`` in (-π, π]."""
    wrapped = math.remainder(angle_rad, 2.0 * math.pi)
    return math.pi if wrapped == -math.pi else wrapped
