"""Benchmark of the live monitor: frame-to-signal latency and the decision loop's cost.

1. Frame capture → STOP received by a controller in another process. The real `Monitor`
   (detector, floor mapping, tracker, 100 Hz decision loop, ZeroMQ output, evidence store)
   runs in this process on a rendered 640x480 view of the demo cell at 15 fps. The view
   alternates every ``--switch`` seconds between the empty cell and a person standing in
   the protective zone ``keep-out``; the arm is driven by the simulated controller
   (`safetymon.sim.live.SimController`, real robot-state interface) and masked out of
   detection with the demo camera's projection. A subscriber process (`SafetyClient`,
   same_clock: CLOCK_MONOTONIC is system-wide on Linux) stamps every change it receives.
   For each appearance that finds the robot permitted to move, the latency runs from the
   capture time of the first frame showing the person (the instant the source hands it
   out) to the receipt of the first STOP naming the person (PROTECTIVE_ZONE or
   SEPARATION) after it, and is split with the monitor's own
   timestamps: missed frames (the detector did not find the person yet), queueing
   (capture → the detection worker takes the frame), detection, floor mapping, tracker
   update, waiting for the next decision cycle, the cycle itself (gather inputs and
   decide) and delivery (the publish call → received by the other process).
   With ``--cameras 1,2,4`` the same run is repeated with that many cameras, each a
   separate monitor camera (own source, detection worker and detector) fed the same
   rendered frame at the same capture time: the worst case for a 2-core box, as every
   camera's detection starts at once. Reported per camera count: the latency as above,
   the frames each camera's worker processed per second (of 15 offered; the newest-frame
   policy drops the rest), and the process's CPU use. A box *sustains* N cameras when
   every camera processes at least 90 % of its frames and the p99 latency is <= 100 ms.
2. The decision loop's cost per cycle for 10 and 200 people, one robot, demo-cell zones:
   `DecisionEngine.step` alone, and a full `DecisionLoop.run_cycle` with real parts
   (people predicted by a `MultiCameraTracker` holding them, robot states arriving from
   the simulated controller through the real receiver into the `RobotStateStore`, the
   decision published by `SignalOutputs` on ZeroMQ).

Usage::

    .venv/bin/python benchmarks/bench_monitor.py [--seconds 45]
        [--detectors ssdlite+foreground,ssdlite] [--cameras 1,2,4] [--switch 1.2]
        [--cycles 3000] [--opencv-threads auto,2]
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from safetymon.config.loader import load_site_config  # noqa: E402
from safetymon.config.site import SiteConfig  # noqa: E402
from safetymon.demo.cell import DemoParts  # noqa: E402
from safetymon.demo.runner import DEMO_SITE  # noqa: E402
from safetymon.geometry import kernels  # noqa: E402
from safetymon.monitor.app import Monitor, MonitorParts  # noqa: E402
from safetymon.monitor.decision_loop import CycleRecord, DecisionLoop  # noqa: E402
from safetymon.monitor.outputs import SignalOutputs  # noqa: E402
from safetymon.perception.sources import NewestFrame  # noqa: E402
from safetymon.perception.tracking import MultiCameraTracker  # noqa: E402
from safetymon.perception.tracking.observation import FloorObservation  # noqa: E402
from safetymon.robot.receiver import start_receivers  # noqa: E402
from safetymon.robot.store import RobotStateStore  # noqa: E402
from safetymon.safety.decision import Decision, DecisionEngine  # noqa: E402
from safetymon.safety.inputs import CameraStatus, CycleInput, HumanBatch  # noqa: E402
from safetymon.safety.site import compile_site  # noqa: E402
from safetymon.signals.frame import SafetyState  # noqa: E402
from safetymon.signals.reasons import Reason  # noqa: E402
from safetymon.sim.cell import DemoScene, SceneState, in_zone  # noqa: E402
from safetymon.sim.live import SimController  # noqa: E402
from safetymon.sim.people import Appearance, PersonPose  # noqa: E402
from safetymon.sim.render import CellRenderer  # noqa: E402

FPS = 15.0
"""Rendered camera rate, frames per second."""
PERSON_XY = (0.3, 0.3)
"""Where the person stands: inside `keep-out`, beside the table (floor frame, metres)."""
LEAD_S = 2.5
"""Empty cell at the start, seconds (startup STOP → RUN before the first appearance)."""
LOOP_JITTER_S = 0.01
"""Largest random delay of a frame behind its 15 fps schedule, seconds (one loop period)."""
SUBSCRIBER_WATCHDOG_S = 0.5
"""The subscriber's watchdog, seconds: larger than the 0.1 s default so that a busy
2-core machine's scheduling hiccups do not add watchdog STOPs to the record."""
DEFAULT_DETECTORS = "ssdlite+foreground,ssdlite"
SUSTAINED_FRAME_SHARE = 0.9
"""A camera keeps up when its worker processes at least this share of the offered frames."""
LATENCY_P99_LIMIT_S = 0.1
"""Frame capture → STOP received, p99, that a sustained camera count must hold."""

SUBSCRIBER = """
import json, sys, threading
from safetymon.signals.client import SafetyClient
events = []
lock = threading.Lock()
def on_change(p):
    with lock:
        events.append((p.since_ns, p.state.name, p.reasons, p.cause))
client = SafetyClient(sys.argv[1], int(sys.argv[2]), watchdog_s=float(sys.argv[3]),
                      same_clock=True, on_change=on_change)
client.start()
for _ in range(1000):  # up to 10 s for the first frame (the publisher's heartbeat)
    if client.received:
        break
    threading.Event().wait(0.01)
print("ready" if client.received else "no frame from the publisher", flush=True)
sys.stdin.read()
client.close()
with lock:
    print(json.dumps(events), flush=True)
"""


# ---------------------------------------------------------------------------- statistics
def percentile(values: list[float] | np.ndarray, q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return float(ordered[rank])


def ms(value: float) -> str:
    """Seconds → milliseconds text ('–' for NaN)."""
    return "–" if math.isnan(value) else f"{value * 1e3:.1f}"


# ---------------------------------------------------------------------------- the camera
class AlternatingCell(NewestFrame):
    """A `FrameSource`: the demo cell rendered live, empty and with a person, alternating.

    Args:
        renderer: the demo cell's renderer (640x480).
        controller: the simulated controller (where the arm is now).
        fps: frames per second.
        switch_s: seconds per phase (empty, person, empty, ...), after ``LEAD_S`` empty.
        max_frame_age_s: age beyond which `status` reports a stall, seconds.
        seed: seed of the frame-time jitter.
        mirrors: how many more cameras get each frame (a copy, same capture time).

    Attributes:
        onsets: capture times (monotonic seconds) of the first frame of each person phase.
        mirrors: the further cameras (`FrameSource`s fed by this one's thread).
        render_s: seconds spent rendering each frame.
    """

    def __init__(
        self,
        renderer: CellRenderer,
        controller: SimController,
        fps: float,
        switch_s: float,
        max_frame_age_s: float,
        seed: int = 0,
        mirrors: int = 0,
    ) -> None:
        super().__init__(max_frame_age_s)
        self.mirrors = [MirroredCamera(max_frame_age_s) for _ in range(mirrors)]
        self.render_s: list[float] = []
        self.renderer = renderer
        self.controller = controller
        self.period_s = 1.0 / fps
        self.switch_s = switch_s
        self.person = PersonPose(
            track_id=1,
            xy=np.array(PERSON_XY),
            velocity=np.zeros(2),
            heading_rad=-math.pi / 2,
            gait_phase_rad=0.0,
            stride=0.0,
            appearance=Appearance.varied(0),
        )
        self.onsets: list[float] = []
        self._rng = np.random.default_rng(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> AlternatingCell:
        """Start rendering in real time."""
        self._thread = threading.Thread(target=self._run, name="bench-camera", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop rendering."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # a dead renderer must show as a camera fault (STOP)
            for camera in (self, *self.mirrors):
                camera._set_fault(f"disconnected: renderer failed: {exc!r}")

    def _loop(self) -> None:
        started = time.monotonic()
        index = 0
        showing = False
        while not self._stop.is_set():
            # a camera is not synchronised with the 100 Hz decision loop: jitter each frame
            # by up to one loop period, or every appearance would meet the loop at the
            # same phase (15 fps and 100 Hz share a 200 ms pattern)
            jitter = float(self._rng.uniform(0.0, LOOP_JITTER_S))
            wait = started + index * self.period_s + jitter - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                return
            scene_s = time.monotonic() - started
            person = scene_s >= LEAD_S and int((scene_s - LEAD_S) / self.switch_s) % 2 == 1
            arm = self.controller.arm_at(time.monotonic())
            state = SceneState(
                100.0 + scene_s,  # past the demo script: no scripted people
                (self.person,) if person else (),
                arm.phase_rad,
                self.renderer.scene.arm.capsules(arm.phase_rad, arm.speed_scale),
            )
            rendering = time.perf_counter()
            image = self.renderer.render(state)
            self.render_s.append(time.perf_counter() - rendering)
            captured = time.monotonic()  # handed out now: the latency starts here
            self._publish(image, captured)
            for mirror in self.mirrors:
                mirror._publish(image.copy(), captured)
            if person and not showing:
                self.onsets.append(captured)
            showing = person
            index = max(index + 1, int((time.monotonic() - started) / self.period_s))


class MirroredCamera(NewestFrame):
    """A further camera showing what an `AlternatingCell` renders (fed by its thread, so
    starting and stopping are the cell's: the monitor may start the cameras in any order)."""

    def start(self) -> MirroredCamera:
        """Nothing to start: the cell's thread publishes to this camera."""
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Nothing to stop: the cell's thread stops with the cell."""


# ---------------------------------------------------------------------------- the record
@dataclass(frozen=True)
class FrameStamp:
    """One processed frame's timing (monotonic seconds) and how many people it placed."""

    camera: str
    capture_s: float
    picked_s: float
    detected_s: float
    tracked_s: float
    detect_s: float
    map_s: float
    observations: int


@dataclass(frozen=True)
class CycleStamp:
    """One decision cycle (monotonic seconds): start, publish call, outputs returned, state."""

    time_s: float
    publish_s: float
    sent_s: float
    compute_s: float
    state: SafetyState
    reasons: int


@dataclass
class LiveLog:
    """Decision-loop listener: stamps every cycle and every newly processed frame."""

    monitor: Monitor | None = None
    cycles: list[CycleStamp] = field(default_factory=list)
    frames: list[FrameStamp] = field(default_factory=list)
    listener_s: list[float] = field(default_factory=list)
    _last_capture: dict[str, float] = field(default_factory=dict)

    def __call__(self, record: CycleRecord) -> None:
        decision = record.decision
        monitor = self.monitor
        self.cycles.append(
            CycleStamp(
                record.cycle.time_s,
                record.signal_started_s,
                record.signal_sent_s,
                record.compute_s,
                decision.state,
                int(decision.reasons),
            )
        )
        # the monitor's own listeners (evidence) ran before this one
        self.listener_s.append(time.monotonic() - record.signal_sent_s)
        if monitor is None:
            return
        for camera, view in monitor.hub.views().items():
            timing, result = view.timing, view.result
            if timing is None or result is None:
                continue
            if timing.capture_s <= self._last_capture.get(camera, -math.inf):
                continue
            self._last_capture[camera] = timing.capture_s
            self.frames.append(
                FrameStamp(
                    camera,
                    timing.capture_s,
                    timing.picked_s,
                    timing.detected_s,
                    timing.tracked_s,
                    timing.detect_s,
                    timing.map_s,
                    len(result.observations),
                )
            )


STAGES = (
    "missed frames",
    "queue (capture → worker)",
    "detect",
    "map to floor",
    "track",
    "wait for decision cycle",
    "decide (gather + step)",
    "publish → received by the other process",
)

PERSON_REASONS = int(Reason.PROTECTIVE_ZONE | Reason.SEPARATION)
"""Reasons a person in `keep-out` beside the arm gives (zone, and separation to the arm)."""
UNRELATED = (
    Reason.LOOP_OVERRUN,
    Reason.ROBOT_STATE_STALE,
    Reason.CAMERA_STALE,
    Reason.CAMERA_FAULT,
    Reason.DETECTOR_FAULT,
)
"""STOP reasons that the load of the machine, not the person, can cause."""
NOT_OVERHEAD = ("missed frames", "queue (capture → worker)", "detect")
"""Stages that are detection or waiting for it; the rest is the monitor's own overhead."""


@dataclass
class LiveResult:
    """Per-appearance stage times (seconds) of one detector's run and what was counted."""

    detector: str
    seconds: float
    cameras: int = 1
    appearances: int = 0
    skipped_not_running: int = 0
    not_stopped: int = 0
    other_cause: int = 0
    e2e_s: list[float] = field(default_factory=list)
    stages_s: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})
    frames: list[FrameStamp] = field(default_factory=list)
    cycles: list[CycleStamp] = field(default_factory=list)
    listener_s: list[float] = field(default_factory=list)
    runs_seen: int = 0
    person_frames: int = 0
    person_frames_detected: int = 0
    empty_frames: int = 0
    empty_frames_with_detection: int = 0
    notes: Counter[str] = field(default_factory=Counter)
    unrelated: Counter[str] = field(default_factory=Counter)
    frames_offered: int = 0
    threads_setting: int | None = None
    opencv_threads: int = 0
    cores_busy: float = 0.0
    render_s: list[float] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The detector, with the camera count and a set thread count where they apply."""
        label = self.detector if self.cameras == 1 else f"{self.detector}, {self.cameras} cameras"
        if self.threads_setting is not None:
            label += f", {self.threads_setting} OpenCV threads set"
        return label

    def processed_share(self) -> dict[str, float]:
        """Per camera: frames its worker processed / frames offered to it."""
        counts = Counter(f.camera for f in self.frames)
        offered = max(self.frames_offered, 1)
        return {camera: count / offered for camera, count in sorted(counts.items())}

    @property
    def sustained(self) -> bool:
        """Every camera kept up and the p99 latency held (see the module docstring)."""
        shares = self.processed_share()
        return (
            len(shares) == self.cameras
            and min(shares.values()) >= SUSTAINED_FRAME_SHARE
            and bool(self.e2e_s)
            and percentile(self.e2e_s, 99) <= LATENCY_P99_LIMIT_S
        )


def camera_ids(config: SiteConfig, cameras: int) -> list[str]:
    """Ids of ``cameras`` cameras: the demo camera's, then ``<id>-2``, ``<id>-3``, ..."""
    first = config.cameras[0].id
    return [first] + [f"{first}-{index}" for index in range(2, cameras + 1)]


def live_config(
    config: SiteConfig, detector: str, cameras: int = 1, opencv_threads: int | None = None
) -> SiteConfig:
    """The demo site (robot fed by the simulated controller) with ``detector``, no restart
    delay, ``cameras`` copies of the demo camera (same calibration, own ids) and
    ``monitor.opencv_threads`` (None: the monitor's automatic choice)."""
    camera = config.cameras[0]
    config = config.model_copy(
        update={
            "detector": config.detector.model_copy(update={"kind": detector}),
            "safety": config.safety.model_copy(update={"restart_delay_s": 0.0}),
            "monitor": config.monitor.model_copy(update={"opencv_threads": opencv_threads}),
            "cameras": [camera.model_copy(update={"id": i}) for i in camera_ids(config, cameras)],
        }
    )
    return type(config).model_validate(config.model_dump())  # re-check the changed fields


def run_live(
    detector: str,
    seconds: float,
    switch_s: float,
    tmp: Path,
    cameras: int = 1,
    opencv_threads: int | None = None,
) -> LiveResult:
    """Run the monitor for ``seconds`` with ``detector`` on ``cameras`` cameras and match
    appearances to STOPs."""
    out_dir = tmp / f"{detector.replace('+', '_')}-{cameras}-{opencv_threads or 'auto'}"
    out_dir.mkdir()
    cell = DemoParts.prepare(DEMO_SITE, out_dir)
    controller, renderer = cell.controller, cell.renderer
    config = live_config(cell.config, detector, cameras, opencv_threads)
    if not in_zone(config.zone("keep-out"), np.array(PERSON_XY)):
        cell.controller.stop()
        raise RuntimeError(f"PERSON_XY {PERSON_XY} is not inside keep-out")
    source = AlternatingCell(
        renderer, controller, FPS, switch_s, config.cameras[0].max_frame_age_s,
        mirrors=cameras - 1,
    )  # fmt: skip
    ids = camera_ids(cell.config, cameras)
    log = LiveLog()
    reference = renderer.reference(with_robot=False)
    try:
        monitor = Monitor.build(
            config,
            cell.site_file.parent,
            site_file=cell.site_file,
            parts=MonitorParts(
                sources=dict(zip(ids, [source, *source.mirrors], strict=True)),
                references={i: reference for i in ids},
                projectors={i: cell.camera.project for i in ids},
                zmq_endpoint="tcp://127.0.0.1:0",
                evidence_db=out_dir / "evidence.db",
                listeners=(log,),
            ),
        )
    except BaseException:
        controller.stop()
        raise
    log.monitor = monitor
    connection_id = cell.connection_id
    subscriber = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SUBSCRIBER,
            monitor.zmq_endpoint or "",
            str(connection_id),
            str(SUBSCRIBER_WATCHDOG_S),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    events: list[tuple[int, str, int, str]] = []
    try:
        assert subscriber.stdout is not None and subscriber.stdin is not None
        said = subscriber.stdout.readline().strip()
        if said != "ready":
            raise RuntimeError(f"the subscriber process did not start: {said!r}")
        controller.start(monitor.zmq_endpoint or "", connection_id)
        monitor.start()
        threads = cv2.getNumThreads()  # what the monitor set for its run
        cpu_started, started = time.process_time(), time.monotonic()
        deadline = started + seconds
        while time.monotonic() < deadline and monitor.loop.alive:
            time.sleep(0.1)
        if not monitor.loop.alive:
            raise RuntimeError("the decision loop ended during the run")
        cpu_s, wall_s = time.process_time() - cpu_started, time.monotonic() - started
    finally:
        monitor.stop(reason="benchmark finished")
        controller.stop()
        try:
            out, _ = subscriber.communicate(input="", timeout=30)
        finally:
            if subscriber.poll() is None:
                subscriber.kill()
                subscriber.wait(10)
        lines = out.strip().splitlines()
        if lines and lines[-1].startswith("["):
            events = [tuple(e) for e in json.loads(lines[-1])]  # type: ignore[misc]
    result = analyse(detector, seconds, source.onsets, switch_s, log, events)
    result.cameras = cameras
    result.threads_setting = opencv_threads
    result.opencv_threads = threads
    result.frames_offered = len(source.render_s)  # every frame rendered went to every camera
    result.cores_busy = cpu_s / wall_s  # this process (monitor + renderer), on average
    result.render_s = source.render_s
    return result


def analyse(
    detector: str,
    seconds: float,
    onsets: list[float],
    switch_s: float,
    log: LiveLog,
    events: list[tuple[int, str, int, str]],
) -> LiveResult:
    """Match each appearance to the STOP it caused and split the time into stages."""
    frames = sorted(log.frames, key=lambda f: (f.capture_s, f.tracked_s))
    result = LiveResult(detector, seconds, frames=frames, cycles=log.cycles)
    result.listener_s = log.listener_s
    received = [(ns / 1e9, state, cause, reasons) for ns, state, reasons, cause in events]
    receive_times = [r[0] for r in received]
    result.runs_seen = sum(1 for r in received if r[1] == "RUN")
    frame_times = [f.capture_s for f in frames]
    publish_times = [c.publish_s for c in log.cycles]
    for onset in onsets:
        result.appearances += 1
        before = bisect.bisect_left(receive_times, onset) - 1
        if before < 0 or received[before][1] == "STOP":
            result.skipped_not_running += 1  # nothing to stop: not a latency sample
            held = _reason_names(received[before][3]) if before >= 0 else "nothing received"
            result.notes[f"skipped, STOP held by {held}"] += 1
            continue
        stop = next(  # the person's STOP (an unrelated STOP may come first under load)
            (
                r
                for r in received[before + 1 :]
                if r[1] == "STOP" and r[3] & PERSON_REASONS and r[0] < onset + switch_s
            ),
            None,
        )
        if stop is None:
            result.not_stopped += 1
            continue
        recv_s, _, cause, reasons = stop
        first = bisect.bisect_left(frame_times, onset)
        frame = next(
            (f for f in frames[first:] if f.observations and f.tracked_s <= recv_s), None
        )
        # the cycle that saw the frame's people: a cycle that started while the worker held
        # the tracker's lock waits for it, so it may start a little before tracked_s
        at = bisect.bisect_left(publish_times, frame.detected_s) if frame is not None else 0
        cycle = next((c for c in log.cycles[at:] if c.state is SafetyState.STOP), None)
        why = None
        if cause != "frame":
            why = f"client-side STOP ({cause})"
        elif frame is None:
            why = f"STOP ({_reason_names(reasons)}) before any frame placed the person"
        elif cycle is None or cycle.publish_s > recv_s:
            why = "no STOP cycle between the frame and the receipt"
        elif not cycle.reasons & PERSON_REASONS:
            why = f"STOP for {_reason_names(cycle.reasons)}"
        if why is not None:
            result.other_cause += 1
            result.notes[why] += 1
            continue
        result.e2e_s.append(recv_s - onset)
        parts = (
            frame.capture_s - onset,
            frame.picked_s - frame.capture_s,
            frame.detected_s - frame.picked_s - frame.map_s,
            frame.map_s,
            frame.tracked_s - frame.detected_s,
            max(0.0, cycle.time_s - frame.tracked_s),
            cycle.publish_s - max(cycle.time_s, frame.tracked_s),
            recv_s - cycle.publish_s,
        )
        if not math.isclose(sum(parts), recv_s - onset, abs_tol=1e-9):
            raise AssertionError(f"stages {parts} do not add up to {recv_s - onset} s")
        for stage, value in zip(STAGES, parts, strict=True):
            result.stages_s[stage].append(value)
    for cycle in log.cycles:
        for reason in UNRELATED:
            if cycle.reasons & int(reason):
                result.unrelated[reason.name or "?"] += 1
    # detection quality in the same run: person frames found, empty frames with detections
    phases = [(t, True) for t in onsets]
    for frame in frames:
        index = bisect.bisect_right([t for t, _ in phases], frame.capture_s) - 1
        person = index >= 0 and frame.capture_s < phases[index][0] + switch_s - 0.5 / FPS
        if person:
            result.person_frames += 1
            result.person_frames_detected += frame.observations > 0
        elif index < 0 or frame.capture_s > phases[index][0] + switch_s + 0.5 / FPS:
            result.empty_frames += 1
            result.empty_frames_with_detection += frame.observations > 0
    return result


def _reason_names(mask: int) -> str:
    return "|".join(r.name or "?" for r in Reason if r and mask & int(r)) or "no reason"


def all_frame_stages(result: LiveResult) -> dict[str, list[float]]:
    """The same stages over every processed frame and cycle (more samples, no matching)."""
    frames, cycles = result.frames, result.cycles
    cycle_times = [c.time_s for c in cycles]
    waits = []
    for f in frames:
        at = bisect.bisect_left(cycle_times, f.tracked_s)
        if at < len(cycles):
            waits.append(cycles[at].time_s - f.tracked_s)
    return {
        "queue (capture → worker)": [f.picked_s - f.capture_s for f in frames],
        "detect": [f.detected_s - f.picked_s - f.map_s for f in frames],
        "map to floor": [f.map_s for f in frames],
        "track": [f.tracked_s - f.detected_s for f in frames],
        "wait for decision cycle": waits,
        "decide (gather + step)": [c.publish_s - c.time_s for c in cycles],
    }


# ---------------------------------------------------------------------------- loop cost
def crowd(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Floor positions (metres) spread over the caution zone and 2 m around it, velocities."""
    xy = rng.uniform((-3.0, -3.0), (5.0, 4.5), (count, 2))
    heading = rng.uniform(0.0, 2.0 * math.pi, count)
    speed = rng.uniform(0.0, 1.5, count)
    return xy, speed[:, None] * np.stack([np.cos(heading), np.sin(heading)], axis=1)


def time_calls(
    call: Callable[[], object], repeats: int, between: Callable[[], object] | None = None
) -> np.ndarray:
    """Seconds per call of ``call()`` (``between()`` runs untimed before each call)."""
    out = np.empty(repeats)
    for i in range(repeats):
        if between is not None:
            between()
        start = time.perf_counter()
        call()
        out[i] = time.perf_counter() - start
    return out


@dataclass(frozen=True)
class CostRow:
    """Seconds per cycle of one measurement."""

    what: str
    people: int
    times_s: np.ndarray
    state: str


def loop_cost(people_counts: tuple[int, ...], cycles: int, tmp: Path) -> list[CostRow]:
    """`DecisionEngine.step` and a full `DecisionLoop.run_cycle` for each crowd size."""
    kernels.warm_up()
    cell = DemoParts.prepare(DEMO_SITE, tmp)
    controller = cell.controller
    config = live_config(cell.config, "hog+foreground")
    config = config.model_copy(
        update={"tracking": config.tracking.model_copy(update={"max_coast_s": 60.0})}
    )
    robot = config.robots[0]
    store = RobotStateStore(config.robots, DEMO_SITE.parent)
    receivers = start_receivers(store, [(robot.id, robot.state_input)])
    outputs = SignalOutputs.open(config.outputs, zmq_endpoint="tcp://127.0.0.1:0")
    rows: list[CostRow] = []
    try:
        controller.start(outputs.zmq_endpoint or "", cell.connection_id)
        deadline = time.monotonic() + 5.0
        while not math.isfinite(store.snapshots(time.monotonic())[0].age_s):
            if time.monotonic() > deadline:
                raise RuntimeError("no robot state from the simulated controller")
            time.sleep(0.01)
        engine = DecisionEngine(compile_site(config))
        rng = np.random.default_rng(0)
        camera_id = config.cameras[0].id
        for count in people_counts:
            xy, velocity = crowd(count, rng)
            batch = HumanBatch.build(
                np.arange(count), xy, velocity, np.full(count, 0.3), np.full(count, 0.1)
            )
            cameras = (CameraStatus(camera_id, 0.05),)
            stepper = _Stepper(engine, batch, store, cameras)
            stepper.prepare()
            stepper.step()
            times = time_calls(stepper.step, cycles, between=stepper.prepare)
            state = stepper.decision.state.name if stepper.decision else "?"
            rows.append(CostRow("`DecisionEngine.step`", count, times, state))

            tracker = MultiCameraTracker(config.tracking)
            t0 = time.monotonic()
            for k in range(2):  # two frames 1/15 s apart: tracks with a velocity
                frame_s = t0 - (1 - k) / FPS
                tracker.update(
                    [
                        FloorObservation(camera_id, frame_s, (float(x), float(y)), 0.1, 0.3, 0.9)
                        for x, y in xy + velocity * (k / FPS)
                    ],
                    frame_s,
                )

            def gather(
                now: float,
                tracker: MultiCameraTracker = tracker,
                cameras: tuple[CameraStatus, ...] = cameras,
            ) -> CycleInput:
                return CycleInput(now, tracker.humans_at(now), store.snapshots(now), cameras)

            last: list[CycleRecord] = []
            loop = DecisionLoop(
                engine,
                gather,
                lambda d: outputs.send(d.state, d.speed_scale, int(d.reasons)),
                rate_hz=config.safety.decision_rate_hz,
                overrun_factor=1e6,  # cycles back to back here: lateness is not the point
                listeners=(last.append,),
            )
            times = time_calls(loop.run_cycle, cycles, between=last.clear)
            people_seen = last[-1].cycle.humans.count if last else 0
            if people_seen != count:
                raise RuntimeError(f"the tracker reported {people_seen} people, not {count}")
            state = last[-1].decision.state.name if last else "?"
            rows.append(CostRow("`DecisionLoop.run_cycle` (real parts)", count, times, state))
    finally:
        controller.stop()
        for receiver in receivers:
            receiver.close()
        outputs.close()
    return rows


class _Stepper:
    """`DecisionEngine.step` on a fixed crowd; the input is built untimed in `prepare`."""

    def __init__(
        self,
        engine: DecisionEngine,
        humans: HumanBatch,
        store: RobotStateStore,
        cameras: tuple[CameraStatus, ...],
    ) -> None:
        self.engine = engine
        self.humans = humans
        self.store = store
        self.cameras = cameras
        self.memory = engine.initial_memory(time.monotonic())
        self.decision: Decision | None = None
        self._cycle: CycleInput | None = None

    def prepare(self) -> None:
        """The next cycle's input at the current time (newest robot state)."""
        now = time.monotonic()
        self._cycle = CycleInput(now, self.humans, self.store.snapshots(now), self.cameras)

    def step(self) -> None:
        """Decide the prepared cycle (memory carried from cycle to cycle)."""
        assert self._cycle is not None
        self.decision, self.memory = self.engine.step(self._cycle, self.memory)


# ---------------------------------------------------------------------------- report
def machine_note() -> str:
    """CPU count, load and versions, for the results section."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()}-core {platform.machine()} VM (shared with other jobs; load average "
        f"{load} at the end), CPython {platform.python_version()}, OpenCV {cv2.__version__} "
        f"(default {cv2.getNumThreads()} threads), NumPy {np.__version__}"
    )


def print_live(results: list[LiveResult], switch_s: float) -> None:
    """The end-to-end tables."""
    print(
        "\nFrame capture → STOP received in another process (ms), person appearing in "
        f"keep-out every {2 * switch_s:.1f} s, 640x480 at {FPS:.0f} fps, decision 100 Hz:\n"
    )
    print(
        "| detector | appearances timed | p50 ms | p99 ms | max ms | p50 vs default | "
        "person frames detected | empty frames with a detection | skipped / no STOP / "
        "other cause |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    reference = next((r for r in results if r.e2e_s), None)
    ref_p50 = percentile(reference.e2e_s, 50) if reference is not None else math.nan
    for r in results:
        p50 = percentile(r.e2e_s, 50)
        ratio = p50 / ref_p50 if r.e2e_s and ref_p50 > 0 else math.nan
        found = r.person_frames_detected / r.person_frames if r.person_frames else math.nan
        false = r.empty_frames_with_detection / r.empty_frames if r.empty_frames else math.nan
        print(
            f"| {r.label} | {len(r.e2e_s)} of {r.appearances} | {ms(p50)} | "
            f"{ms(percentile(r.e2e_s, 99))} | {ms(max(r.e2e_s) if r.e2e_s else math.nan)} | "
            f"{ratio:.2f} | {found:.3f} ({r.person_frames}) | {false:.3f} ({r.empty_frames}) | "
            f"{r.skipped_not_running} / {r.not_stopped} / {r.other_cause} |"
        )
    for r in results:
        for note, count in r.notes.most_common():
            print(f"- {r.label}: {count} × {note}")
        if r.unrelated:
            counted = ", ".join(f"{name} {n}" for name, n in r.unrelated.most_common())
            print(
                f"- {r.label}: cycles with an unrelated STOP reason (of {len(r.cycles)}): "
                f"{counted}"
            )
    for r in results:
        if not r.e2e_s:
            continue
        overall = all_frame_stages(r)
        overhead = [s for s in STAGES if s not in NOT_OVERHEAD]
        non_detection = [sum(r.stages_s[s][i] for s in overhead) for i in range(len(r.e2e_s))]
        print(
            f"\nBudget, {r.label} ({len(r.e2e_s)} appearances; 'all' = every processed "
            f"frame ({len(r.frames)}) or cycle ({len(r.cycles)}) of the run), ms:\n"
        )
        print("| stage | p50 | p99 | all p50 | all p99 |")
        print("|---|---:|---:|---:|---:|")
        for stage in STAGES:
            values = r.stages_s[stage]
            every = overall.get(stage, [])
            print(
                f"| {stage} | {ms(percentile(values, 50))} | {ms(percentile(values, 99))} | "
                f"{ms(percentile(every, 50))} | {ms(percentile(every, 99))} |"
            )
        print(
            f"| **end to end** | **{ms(percentile(r.e2e_s, 50))}** | "
            f"**{ms(percentile(r.e2e_s, 99))}** | | |"
        )
        print(
            f"| all but missed frames, queueing and detection | "
            f"{ms(percentile(non_detection, 50))} | {ms(percentile(non_detection, 99))} | | |"
        )
        print(
            f"| evidence + other listeners after signalling (not on the path) | | | "
            f"{ms(percentile(r.listener_s, 50))} | {ms(percentile(r.listener_s, 99))} |"
        )


def print_cameras(results: list[LiveResult]) -> None:
    """How many cameras one box sustains (see the module docstring)."""
    print(
        f"\nCameras per box: each camera offered {FPS:.0f} frames/s (the same rendered frame, "
        "captured at the same instant); sustained = every camera's worker processes "
        f">= {SUSTAINED_FRAME_SHARE:.0%} of its frames and frame → STOP p99 <= "
        f"{LATENCY_P99_LIMIT_S * 1e3:.0f} ms:\n"
    )
    print(
        "| detector | cameras | OpenCV threads | frames processed per camera (of offered) "
        "| detect p50 ms "
        "| detect p99 ms | queue p99 ms | frame → STOP p50 ms | p99 ms | cores busy "
        "(monitor + renderer) | render ms/frame | sustained |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        shares = r.processed_share()
        share_text = ", ".join(f"{v:.0%}" for v in shares.values()) or "none"
        stages = all_frame_stages(r)
        print(
            f"| {r.detector} | {r.cameras} | {r.opencv_threads} | {share_text} | "
            f"{ms(percentile(stages['detect'], 50))} | {ms(percentile(stages['detect'], 99))} | "
            f"{ms(percentile(stages['queue (capture → worker)'], 99))} | "
            f"{ms(percentile(r.e2e_s, 50))} | {ms(percentile(r.e2e_s, 99))} | "
            f"{r.cores_busy:.2f} | {ms(float(np.median(r.render_s)) if r.render_s else math.nan)} "
            f"| {'yes' if r.sustained else 'no'} |"
        )


def print_cost(rows: list[CostRow], period_s: float, links: int) -> None:
    """The decision-loop cost table."""
    print(f"\nDecision loop cost per cycle, one robot ({links} links), demo-cell zones (µs):\n")
    print(
        "| measurement | people | p50 µs | p99 µs | p50 vs 10 people | p99 share of the "
        f"{period_s * 1e3:.0f} ms period | decision |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    base: dict[str, float] = {}
    for row in rows:
        p50, p99 = float(np.median(row.times_s)), percentile(row.times_s, 99)
        base.setdefault(row.what, p50)
        print(
            f"| {row.what} | {row.people} | {p50 * 1e6:.0f} | {p99 * 1e6:.0f} | "
            f"{p50 / base[row.what]:.2f} | {p99 / period_s * 100:.1f} % | {row.state} |"
        )


def main() -> int:
    """Run both parts and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=45.0, help="seconds per detector")
    parser.add_argument("--detectors", default=DEFAULT_DETECTORS, help="comma-separated kinds")
    parser.add_argument("--switch", type=float, default=1.2, help="seconds per phase")
    parser.add_argument("--cycles", type=int, default=3000, help="cycles per cost row")
    parser.add_argument("--cameras", default="1", help="comma-separated camera counts")
    parser.add_argument(
        "--opencv-threads",
        default="auto",
        help="comma-separated monitor.opencv_threads settings to run, 'auto' = the monitor's "
        "own choice (CPUs / cameras); e.g. auto,2",
    )
    args = parser.parse_args()
    if not (args.seconds > LEAD_S and args.switch > 0.5 and args.cycles > 0):
        parser.error("need --seconds > 2.5, --switch > 0.5 and --cycles > 0")
    try:
        counts = [int(c) for c in args.cameras.split(",") if c.strip()]
    except ValueError:
        parser.error(f"--cameras must be comma-separated integers, got {args.cameras!r}")
    if not counts or not all(1 <= c <= 16 for c in counts):
        parser.error(f"--cameras must be counts from 1 to 16, got {args.cameras!r}")
    settings: list[int | None] = []
    for text in args.opencv_threads.split(","):
        text = text.strip()
        if text == "auto":
            settings.append(None)
        elif text.isdigit() and int(text) >= 1:
            settings.append(int(text))
        else:
            parser.error(f"--opencv-threads: 'auto' or a count >= 1, got {text!r}")
    detectors = [d.strip() for d in args.detectors.split(",") if d.strip()]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for detector in detectors:
            for threads in settings:
                for count in counts:
                    print(
                        f"running {detector} on {count} camera(s), OpenCV threads "
                        f"{threads or 'auto'}, for {args.seconds:.0f} s ...",
                        file=sys.stderr,
                        flush=True,
                    )
                    results.append(
                        run_live(detector, args.seconds, args.switch, Path(tmp), count, threads)
                    )
        print("decision loop cost ...", file=sys.stderr, flush=True)
        cost_dir = Path(tmp) / "cost"
        cost_dir.mkdir()
        rows = loop_cost((10, 200), args.cycles, cost_dir)
    period = 1.0 / load_site_config(DEMO_SITE).safety.decision_rate_hz
    print(f"Machine: {machine_note()}.")
    print(
        "Command: `.venv/bin/python benchmarks/bench_monitor.py "
        f"--seconds {args.seconds:g} --detectors {','.join(detectors)} "
        f"--cameras {','.join(map(str, counts))} --opencv-threads {args.opencv_threads} "
        f"--switch {args.switch:g} --cycles {args.cycles}`"
    )
    print_live(results, args.switch)
    if any(r.cameras > 1 for r in results):
        print_cameras(results)
    links = len(DemoScene.from_site(load_site_config(DEMO_SITE)).arm.capsules(0.0).radius_m)
    print_cost(rows, period, links)
    return 0 if all(r.e2e_s for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
