"""A moving arm that publishes real robot state messages (``safetymon robot-sim``).

For commissioning and tests: it speaks the same interface a robot controller would (JSON
over ZeroMQ PUB, frames ``[topic, JSON]``, or lines on a serial port), stamping
``capture_time_s`` with this host's ``time.monotonic()`` (so a receiver on the same host may
use ``clock: shared_monotonic``).

Motion (the scripted sweep), by the robot's configured geometry:

- ``capsules``: a two-link arm, upper arm upright (0.8 m), forearm (0.5 m) sweeping circles
  horizontally; the forearm tip moves at ``max_speed_mps`` × speed scale.
- ``dh`` / ``urdf``: every joint swings sinusoidally about the middle of its limits (±0.5 rad
  or ±0.1 m, at most 40 % of its range); the sweep rate is set so that the fastest capsule
  endpoint moves at 90 % of ``max_speed_mps`` at speed scale 1.

The speed scale (0..1) can be changed while running (e.g. to follow the monitor's SLOW).
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import serial
import zmq

from safetymon.config.robots import BasePose, CapsulesGeometry, RobotConfig
from safetymon.robot.authentication import sign_line
from safetymon.robot.geometry import RobotModel, chain_velocity
from safetymon.robot.kinematics import KinematicChain
from safetymon.robot.messages import (
    SCHEMA_V1,
    BaseState,
    JointState,
    LinkState,
    RobotStateMessage,
)

UPPER_ARM_M = 0.8
FOREARM_M = 0.5
SWEEP_SAMPLES = 64


class ArmSimulator:
    """Generates the state messages of a sweeping arm.

    Args:
        robot: the robot's config (geometry, max speed, base pose).
        base: base pose on the floor sent in every message (default: ``robot.base_pose``).
        speed_scale: initial speed scale, 0..1.
        with_velocities: include joint / link velocities and the base velocity (else the
            receiver must difference consecutive states).
        base_dir: folder for a relative URDF path.

    Each simulator is one sender session: its messages carry a random ``session`` id, so a
    restarted ``robot-sim`` is accepted with its sequence starting again at 1.
    """

    def __init__(
        self,
        robot: RobotConfig,
        *,
        base: BasePose | None = None,
        speed_scale: float = 1.0,
        with_velocities: bool = True,
        base_dir: Path | str = ".",
    ) -> None:
        """Prepare the sweep (for a chain: its rate from the maximum speed)."""
        self.robot = robot
        self.base = base or robot.base_pose
        self.with_velocities = with_velocities
        self._lock = threading.Lock()
        self._scale = 0.0
        self.set_speed_scale(speed_scale)
        self._phase = 0.0
        self._sequence = 0
        self.session = secrets.token_hex(8)
        self._last_time: float | None = None
        self._chain: KinematicChain | None = None
        if isinstance(robot.geometry, CapsulesGeometry):
            self._rate = robot.max_speed_mps / FOREARM_M  # rad/s of the forearm at scale 1
        else:
            self._chain = RobotModel(robot, base_dir).chain
            assert self._chain is not None
            self._setup_swing(self._chain)

    def _setup_swing(self, chain: KinematicChain) -> None:
        lower = np.where(np.isfinite(chain.lower), chain.lower, -1.0)
        upper = np.where(np.isfinite(chain.upper), chain.upper, 1.0)
        self._mid = (lower + upper) / 2
        reach = np.full(chain.joint_count, 0.5)
        self._amplitude = np.minimum(reach, 0.4 * (upper - lower))
        fastest = 0.0
        for phase in np.linspace(0.0, 2 * math.pi, SWEEP_SAMPLES, endpoint=False):
            q, q_dot = self._joints(phase, 1.0)
            a, b = chain.capsules(q)
            vel_a, vel_b = chain_velocity(chain, q, q_dot, (a, b))
            speeds = np.linalg.norm(np.vstack([vel_a, vel_b]), axis=1)
            fastest = max(fastest, float(np.max(speeds)))
        if fastest <= 0.0:
            raise ValueError(f"robot {self.robot.id}: the swing moves no capsule")
        self._rate = 0.9 * self.robot.max_speed_mps / fastest

    def _joints(self, phase: float, rate: float) -> tuple[np.ndarray, np.ndarray]:
        """Joint positions and velocities at a sweep phase (rad) and phase rate (rad/s)."""
        offsets = np.arange(self._mid.shape[0]) * 0.7  # joints out of step: a livelier sweep
        q = self._mid + self._amplitude * np.sin(phase + offsets)
        q_dot = self._amplitude * np.cos(phase + offsets) * rate
        return q, q_dot

    @property
    def speed_scale(self) -> float:
        """The current speed scale, 0..1."""
        with self._lock:
            return self._scale

    def set_speed_scale(self, scale: float) -> None:
        """Set the speed scale (0 stops the sweep).

        Raises:
            ValueError: not within 0..1.
        """
        if not 0.0 <= scale <= 1.0:
            raise ValueError(f"speed_scale must be within 0..1, got {scale}")
        with self._lock:
            self._scale = float(scale)

    def message(self, capture_time_s: float) -> RobotStateMessage:
        """Advance the sweep to ``capture_time_s`` (monotonic seconds) and describe it."""
        scale = self.speed_scale
        if self._last_time is not None:
            self._phase += self._rate * scale * max(0.0, capture_time_s - self._last_time)
        self._last_time = capture_time_s
        self._sequence += 1
        rate = self._rate * scale
        velocity = {"vx_mps": 0.0, "vy_mps": 0.0, "yaw_rate_radps": 0.0}
        base = BaseState(
            x_m=self.base.x_m,
            y_m=self.base.y_m,
            z_m=self.base.z_m,
            yaw_rad=self.base.yaw_rad,
            **(velocity if self.with_velocities else {}),
        )
        joints = links = None
        if self._chain is None:
            links = self._links(rate)
        else:
            q, q_dot = self._joints(self._phase, rate)
            joints = JointState(
                positions=q.tolist(), velocities=q_dot.tolist() if self.with_velocities else None
            )
        return RobotStateMessage(
            schema=SCHEMA_V1,
            robot_id=self.robot.id,
            session=self.session,
            sequence=self._sequence,
            capture_time_s=capture_time_s,
            base=base,
            joints=joints,
            links=links,
        )

    def _links(self, rate: float) -> LinkState:
        angle = self._phase
        elbow = (0.0, 0.0, UPPER_ARM_M)
        tip = (FOREARM_M * math.cos(angle), FOREARM_M * math.sin(angle), UPPER_ARM_M)
        tip_speed = rate * FOREARM_M
        tip_velocity = (-tip_speed * math.sin(angle), tip_speed * math.cos(angle), 0.0)
        still = (0.0, 0.0, 0.0)
        return LinkState(
            a=[(0.0, 0.0, 0.0), elbow],
            b=[elbow, tip],
            vel_a=[still, still] if self.with_velocities else None,
            vel_b=[still, tip_velocity] if self.with_velocities else None,
        )

    def run(
        self,
        send: Callable[[bytes], None],
        rate_hz: float,
        duration_s: float | None = None,
        stop: threading.Event | None = None,
    ) -> int:
        """Send one message every 1/``rate_hz`` s until ``duration_s`` passed or ``stop`` set.

        Missed periods are skipped (never sent late in a burst). Returns messages sent.
        """
        if not 0.0 < rate_hz <= 10_000.0:
            raise ValueError(f"rate_hz must be within (0, 10000], got {rate_hz}")
        stop = stop or threading.Event()
        period = 1.0 / rate_hz
        start = time.monotonic()
        due = start
        sent = 0
        while not stop.is_set():
            now = time.monotonic()
            if duration_s is not None and now - start >= duration_s:
                break
            if now < due:
                stop.wait(due - now)
                continue
            send(self.message(time.monotonic()).to_json())
            sent += 1
            due += period * max(1, math.floor((now - due) / period) + 1)
        return sent


class ZmqStateSender:
    """PUB socket sending ``[topic, JSON]`` messages (binds by default, as a controller would).

    ``curve_keys`` (public, secret Z85 keys of the controller's ``.key_secret``) make the
    socket the CURVE server that a monitor holding the public key accepts states from.
    """

    def __init__(
        self,
        endpoint: str,
        topic: str = "robot_state",
        bind: bool = True,
        curve_keys: tuple[bytes, bytes] | None = None,
        bind_check: Callable[[str], None] | None = None,
    ) -> None:
        """Open the socket.

        ``bind_check`` is called with the endpoint before a bind and raises OSError to
        refuse it (the CLI passes ``signals.endpoints.check_bindable``).

        Raises:
            OSError: the endpoint cannot be bound or connected, or ``bind_check`` refused it.
        """
        if bind and bind_check is not None:
            bind_check(endpoint)
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.PUB)
        self._sock.setsockopt(zmq.LINGER, 200)
        self._topic = topic.encode()
        if curve_keys is not None:
            self._sock.curve_server = True
            self._sock.curve_publickey, self._sock.curve_secretkey = curve_keys
        try:
            if bind:
                self._sock.bind(endpoint)
            else:
                self._sock.connect(endpoint)
        except zmq.ZMQError as error:
            self.close()
            raise OSError(f"cannot open {endpoint!r}: {error}") from error
        self.endpoint = self._sock.getsockopt_string(zmq.LAST_ENDPOINT) if bind else endpoint

    def send(self, payload: bytes) -> None:
        """Publish one message."""
        self._sock.send_multipart([self._topic, payload])

    def close(self) -> None:
        """Close the socket and its context."""
        self._sock.close()
        self._ctx.term()


class SerialStateSender:
    """Writes one JSON message per line to a serial port (``TAG SP JSON`` with an HMAC key)."""

    def __init__(self, port: str, baudrate: int = 115200, hmac_key: bytes | None = None) -> None:
        """Open the port.

        Raises:
            OSError: the port cannot be opened.
        """
        self._hmac_key = hmac_key
        try:
            self._port = serial.serial_for_url(port, baudrate=baudrate, write_timeout=1.0)
        except (serial.SerialException, ValueError) as error:
            raise OSError(f"cannot open serial port {port!r}: {error}") from error

    def send(self, payload: bytes) -> None:
        """Write one line."""
        if self._hmac_key is not None:
            payload = sign_line(self._hmac_key, payload)
        self._port.write(payload + b"\n")

    def close(self) -> None:
        """Close the port."""
        self._port.close()
