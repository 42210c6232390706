"""The humanoid counter running in real time: the robot's true pose in, camera frames out.

The simulated humanoid runs in another process (`safetymon.sim.humanoid_robot`); besides
its ROS 2 state (what the monitor reads) it publishes its true pose, which the rendered
camera needs to draw it where it really is. `TruthReceiver` binds a ZeroMQ SUB socket for
those messages (the robot connects its PUB to it) and keeps the newest; `CounterCellSource`
renders the scripted scene with the humanoid at that pose at a fixed frame rate, a
`FrameSource` for the monitor.

Times are this host's monotonic seconds (both processes read the same clock); floor frame
metres.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np
import zmq

from safetymon.sim.counter import CounterRenderer, CounterState, HumanoidBody
from safetymon.sim.humanoid import HumanoidPose, pose_from_json
from safetymon.sim.live import RenderedCameraSource

log = logging.getLogger(__name__)

MAX_EXTRAPOLATION_S = 0.05
"""A pose is moved on at its velocities by at most this much to the frame's instant, s."""
_POLL_MS = 50


class TruthReceiver:
    """The simulated humanoid's true pose, received on a bound ZeroMQ SUB socket.

    Args:
        endpoint: where to bind (``tcp://127.0.0.1:0`` picks a free port, see `endpoint`).

    Raises:
        OSError: the endpoint cannot be bound.
    """

    def __init__(self, endpoint: str = "tcp://127.0.0.1:0") -> None:
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.SUB)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.SUBSCRIBE, b"")
        try:
            self._sock.bind(endpoint)
        except zmq.ZMQError as error:
            self._sock.close()
            self._ctx.term()
            raise OSError(f"humanoid truth socket {endpoint!r}: {error}") from None
        self.endpoint: str = self._sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self._lock = threading.Lock()
        self._pose: HumanoidPose | None = None
        self._first = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.received = 0
        self.malformed = 0

    def start(self) -> TruthReceiver:
        """Start receiving in a thread."""
        self._thread = threading.Thread(target=self._run, name="humanoid-truth", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop receiving and close the socket (again: nothing)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None
        if not self._sock.closed:
            self._sock.close()
            self._ctx.term()

    def wait_first(self, timeout_s: float) -> bool:
        """Whether a pose arrived within ``timeout_s`` seconds."""
        return self._first.wait(timeout_s)

    def latest(self) -> HumanoidPose | None:
        """The newest pose received, or None."""
        with self._lock:
            return self._pose

    def pose_at(self, now_s: float) -> HumanoidPose | None:
        """The newest pose moved on to monotonic ``now_s`` (by at most `MAX_EXTRAPOLATION_S`:
        a robot that went silent is drawn where it was last)."""
        pose = self.latest()
        if pose is None:
            return None
        return pose.extrapolated(min(now_s, pose.time_s + MAX_EXTRAPOLATION_S))

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        while not self._stop.is_set():
            if not poller.poll(_POLL_MS):
                continue
            newest = None
            while True:
                try:
                    newest = self._sock.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                except zmq.ZMQError as error:  # the camera keeps its last pose: say why
                    if not self._stop.is_set():
                        log.error("humanoid truth receiver stopped: %s", error)
                    return
            if newest is None:
                continue
            try:
                pose = pose_from_json(newest)
            except ValueError as error:
                self.malformed += 1
                log.warning("humanoid truth: %s", error)
                continue
            with self._lock:
                self._pose = pose
            self.received += 1
            self._first.set()


class CounterCellSource(RenderedCameraSource):
    """The rendered camera of the humanoid counter, a `FrameSource` for the monitor.

    Args:
        renderer: the counter renderer (scene and camera).
        body: turns the humanoid's pose into its capsules.
        truth: the humanoid's true pose (None: not drawn).
        fps: frames per second.
        duration_s: scene seconds after which the source ends, or None.
        max_frame_age_s: age beyond which `status` reports a stall.
    """

    def __init__(
        self,
        renderer: CounterRenderer,
        body: HumanoidBody,
        truth: TruthReceiver | None,
        fps: float = 15.0,
        duration_s: float | None = None,
        max_frame_age_s: float = 0.3,
    ) -> None:
        super().__init__(fps, duration_s, max_frame_age_s)
        self.renderer = renderer
        self.body = body
        self.truth = truth

    def _frame(self, now_s: float, scene_s: float) -> tuple[np.ndarray, CounterState]:
        pose = self.truth.pose_at(now_s) if self.truth is not None else None
        humanoid = self.body.capsules(pose) if pose is not None else None
        state = self.renderer.counter_scene.state_at(scene_s, humanoid)
        return self.renderer.render(state), state


def wait_for_truth(truth: TruthReceiver, timeout_s: float, alive: Callable[[], bool]) -> bool:
    """Wait up to ``timeout_s`` for the first pose while ``alive()`` (the robot's process
    is running) holds; whether one arrived."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if truth.wait_first(0.1):
            return True
        if not alive():
            return False
    return False
