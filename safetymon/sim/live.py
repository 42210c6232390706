"""The demo cell running in real time: a simulated controller and a rendered camera.

`SimController` plays the robot controller's part: it subscribes to the monitor's safety
output with the real controller-side `SafetyClient`, ramps the arm's speed toward what it
permits (RUN: full speed, SLOW: the permitted scale, STOP or silence: zero) at the robot's
configured deceleration, integrates the arm's motion, and publishes the arm's link capsules
on the real robot-state interface (JSON over ZeroMQ, ``hw/ROBOT_STATE.md``).

`SimCellSource` plays the camera: it renders the scripted scene (people on their paths, the
arm where the controller has moved it) at a fixed frame rate and hands out the newest frame
like `CameraSource` does (`safetymon.perception.sources.FrameSource`). Its timing, scene
clock and ground truth are `RenderedCameraSource`'s, which the humanoid counter's camera
(`safetymon.sim.counter_live.CounterCellSource`) shares.

Scene time starts at 0 when `SimCellSource.start` is called. Floor frame: metres.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from safetymon.config.robots import RobotConfig
from safetymon.perception.sources import NewestFrame
from safetymon.robot.messages import SCHEMA_V1, BaseState, LinkState, RobotStateMessage
from safetymon.robot.sim import ZmqStateSender
from safetymon.signals.client import SafetyClient
from safetymon.sim.cell import DemoScene, SceneState
from safetymon.sim.people import PersonPose
from safetymon.sim.render import CellRenderer


@dataclass(frozen=True)
class ArmSample:
    """The arm at one instant: phase (radians) and speed scale (0..1) at monotonic time."""

    time_s: float
    phase_rad: float
    speed_scale: float


class SimController:
    """The simulated robot controller of the demo cell.

    Args:
        scene: the demo cell (its arm's motion).
        robot: the robot's config (id, max speed, stopping deceleration, base pose).
        state_endpoint: where to publish robot states (bound here, as a controller does;
            ``tcp://127.0.0.1:0`` picks a free port, see :attr:`state_endpoint`).
        rate_hz: robot states per second.
        watchdog_s: the client's watchdog: silence this long means STOP.
    """

    def __init__(
        self,
        scene: DemoScene,
        robot: RobotConfig,
        state_endpoint: str = "tcp://127.0.0.1:0",
        rate_hz: float = 100.0,
    ) -> None:
        self.scene = scene
        self.robot = robot
        self.period_s = 1.0 / rate_hz
        deceleration = robot.stopping.deceleration_mps2 or 4.0
        self.scale_rate_per_s = deceleration / robot.max_speed_mps
        self._sender = ZmqStateSender(state_endpoint, topic=_topic(robot))
        self.state_endpoint = self._sender.endpoint
        self.client: SafetyClient | None = None
        self._lock = threading.Lock()
        self._sample = ArmSample(time.monotonic(), 0.0, 0.0)
        self._sequence = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.messages_sent = 0

    def start(self, safety_endpoint: str, connection_id: int, watchdog_s: float = 0.1) -> None:
        """Subscribe to the monitor's safety output and start moving and publishing.

        Args:
            safety_endpoint: the monitor's ZeroMQ safety output.
            connection_id: the output's connection id.
            watchdog_s: the client's watchdog: silence this long means STOP, seconds.
        """
        self.client = SafetyClient(
            safety_endpoint, connection_id, watchdog_s=watchdog_s, same_clock=True
        )
        self.client.start()
        self._thread = threading.Thread(target=self._run, name="sim-controller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop publishing (the monitor then sees the robot state go stale) and unsubscribe."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        if self.client is not None:
            self.client.close()
        self._sender.close()

    def arm_at(self, now_s: float) -> ArmSample:
        """The arm's phase and speed scale extrapolated to monotonic ``now_s`` (seconds)."""
        with self._lock:
            sample = self._sample
        dt = max(0.0, now_s - sample.time_s)
        phase = self.scene.arm.advance(sample.phase_rad, dt, sample.speed_scale)
        return ArmSample(now_s, phase, sample.speed_scale)

    def _target_scale(self) -> float:
        return 0.0 if self.client is None else self.client.status.allowed_scale()

    def _run(self) -> None:
        next_due = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            with self._lock:
                previous = self._sample
                dt = max(0.0, now - previous.time_s)
                target = self._target_scale()
                step = self.scale_rate_per_s * dt
                scale = (
                    min(target, previous.speed_scale + step)
                    if target > previous.speed_scale
                    else max(target, previous.speed_scale - step)
                )
                phase = self.scene.arm.advance(
                    previous.phase_rad, dt, 0.5 * (previous.speed_scale + scale)
                )
                self._sample = ArmSample(now, phase, scale)
            self._publish(now, phase, scale)
            next_due += self.period_s
            if next_due < now:
                next_due = now
            self._stop.wait(max(0.0, next_due - time.monotonic()))

    def _publish(self, now: float, phase: float, scale: float) -> None:
        arm = self.scene.arm.capsules(phase, scale)
        self._sequence += 1
        base = self.robot.base_pose
        message = RobotStateMessage(
            schema=SCHEMA_V1,
            robot_id=self.robot.id,
            sequence=self._sequence,
            capture_time_s=now,
            base=BaseState(
                x_m=base.x_m,
                y_m=base.y_m,
                z_m=base.z_m,
                yaw_rad=base.yaw_rad,
                vx_mps=0.0,  # the demo arm's base stands still
                vy_mps=0.0,
                yaw_rate_radps=0.0,
            ),
            links=LinkState(
                a=_rows(_to_base(arm.link_a, self.robot)),
                b=_rows(_to_base(arm.link_b, self.robot)),
                radius_m=[float(r) for r in arm.radius_m],
                vel_a=_rows(_rotate_to_base(arm.vel_a, self.robot)),
                vel_b=_rows(_rotate_to_base(arm.vel_b, self.robot)),
            ),
        )
        self._sender.send(message.to_json())
        self.messages_sent += 1


def _topic(robot: RobotConfig) -> str:
    return getattr(robot.state_input, "topic", "robot_state")


def _base_rotation(robot: RobotConfig) -> np.ndarray:
    yaw = robot.base_pose.yaw_rad
    return np.array(
        [[math.cos(yaw), -math.sin(yaw), 0.0], [math.sin(yaw), math.cos(yaw), 0.0], [0, 0, 1.0]]
    )


def _to_base(points: np.ndarray, robot: RobotConfig) -> np.ndarray:
    """Floor-frame points → the robot's base frame (metres)."""
    base = robot.base_pose
    origin = np.array([base.x_m, base.y_m, base.z_m])
    return (np.asarray(points) - origin) @ _base_rotation(robot)


def _rotate_to_base(vectors: np.ndarray, robot: RobotConfig) -> np.ndarray:
    return np.asarray(vectors) @ _base_rotation(robot)


def _rows(array: np.ndarray) -> list[tuple[float, float, float]]:
    return [(float(x), float(y), float(z)) for x, y, z in np.asarray(array, dtype=np.float64)]


class SceneWithPeople(Protocol):
    """What a rendered camera keeps of each frame's scene: its time and its people."""

    time_s: float
    people: tuple[PersonPose, ...]


class RenderedCameraSource(NewestFrame):
    """A rendered camera playing a scripted scene in real time, a `FrameSource` for the monitor.

    Subclasses say what the scene looks like at an instant (`_frame`); this class keeps the
    frame rate, the scene clock and the newest frame's ground truth.

    Args:
        fps: frames per second.
        duration_s: scene seconds after which the source ends (a fault, like a file ending),
            or None to loop past the script's end.
        max_frame_age_s: age beyond which `status` reports a stall.
    """

    def __init__(
        self, fps: float = 15.0, duration_s: float | None = None, max_frame_age_s: float = 0.3
    ) -> None:
        super().__init__(max_frame_age_s)
        self.period_s = 1.0 / fps
        self.duration_s = duration_s
        self._state: SceneWithPeople | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started_s: float | None = None

    def start(self) -> RenderedCameraSource:
        """Start rendering in real time (scene time 0 is now)."""
        self.started_s = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="sim-camera", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop rendering."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def scene_time(self, monotonic_s: float) -> float:
        """Scene seconds at monotonic ``monotonic_s``."""
        return monotonic_s - (self.started_s or monotonic_s)

    def latest_state(self) -> SceneWithPeople | None:
        """Ground truth of the newest frame (the demo's video and plan use it)."""
        with self._lock:
            return self._state

    def _frame(self, now_s: float, scene_s: float) -> tuple[np.ndarray, SceneWithPeople]:
        """The image and ground truth of the scene at scene time ``scene_s`` (monotonic
        ``now_s``)."""
        raise NotImplementedError

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # a dead renderer must show as a camera fault
            self._set_fault(f"disconnected: renderer failed: {exc!r}")

    def _loop(self) -> None:
        assert self.started_s is not None
        index = 0
        while not self._stop.is_set():
            due = self.started_s + index * self.period_s
            wait = due - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                return
            now = time.monotonic()
            scene_s = now - self.started_s
            if self.duration_s is not None and scene_s > self.duration_s:
                self._set_fault("ended: the demo script is over")
                return
            image, state = self._frame(now, scene_s)
            captured = now  # the instant the scene was sampled: the shutter
            with self._lock:
                self._state = state
            self._publish(image, captured)
            late = int((time.monotonic() - self.started_s) / self.period_s)
            index = max(index + 1, late)  # skip frames rather than fall behind real time


class SimCellSource(RenderedCameraSource):
    """The rendered camera of the demo cell, a `FrameSource` for the monitor.

    Args:
        renderer: the cell renderer (scene and camera).
        controller: where the arm is (None: the arm stands still at phase 0).
        fps: frames per second.
        duration_s: scene seconds after which the source ends (a fault, like a file ending),
            or None to loop past the script's end with an empty cell.
        max_frame_age_s: age beyond which `status` reports a stall.
    """

    def __init__(
        self,
        renderer: CellRenderer,
        controller: SimController | None,
        fps: float = 15.0,
        duration_s: float | None = None,
        max_frame_age_s: float = 0.3,
    ) -> None:
        super().__init__(fps, duration_s, max_frame_age_s)
        self.renderer = renderer
        self.controller = controller

    def latest_state(self) -> SceneState | None:
        """Ground truth of the newest frame (the demo's video and plan use it)."""
        state = super().latest_state()
        assert state is None or isinstance(state, SceneState)
        return state

    def _frame(self, now_s: float, scene_s: float) -> tuple[np.ndarray, SceneState]:
        if self.controller is not None:
            arm = self.controller.arm_at(now_s)
            state = self.renderer.scene.state_at(scene_s, arm.phase_rad, arm.speed_scale)
        else:
            state = self.renderer.scene.state_at(scene_s)
        return self.renderer.render(state), state
