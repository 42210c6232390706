"""Run `safetymon run` for real on a test-written site, and inject faults into it.

Shared by `tests/monitor/test_run_faults.py` and `benchmarks/bench_faults.py`.

The site is `zones/demo-cell.yaml` with its camera reading an image glob of the rendered
empty cell (`safetymon.sim`, the demo's camera) with sensor noise, at 15 frames/s in real
time, the foreground detector against the noise-free empty cell, and its arm's state coming
from a `safetymon robot-sim` subprocess. The frames show no arm (the homography-only demo
camera has no pose, so the arm could not be masked out of detection): with nobody in the
cell and fresh robot state the monitor says RUN, which every fault test first waits for.

Each site gets its own folder of frame files (hard links to one shared set of distinct
noisy frames, in a cycling order), so a test can change the files that have not been read
yet: delete them (camera unplugged), turn them into FIFOs (`cv2.imread` blocks: camera
stalled), link them all to one frame (frozen camera) or to a frame of another size (the
foreground detector raises: detector fault).

Times are `time.monotonic()` seconds; ports are loopback TCP ports.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import yaml

from safetymon.config.loader import load_site_config
from safetymon.signals.client import PermittedState, SafetyClient
from safetymon.signals.frame import SafetyState
from safetymon.signals.reasons import Reason
from safetymon.sim.cell import DemoScene, demo_camera
from safetymon.sim.render import CellRenderer

REPO = Path(__file__).resolve().parents[2]
DEMO_SITE = REPO / "zones" / "demo-cell.yaml"

FPS = 15.0
"""Frame rate of the test camera's image glob, frames per second."""
DISTINCT_FRAMES = 24
"""Distinct noisy frames rendered once and cycled through (no two neighbours equal)."""
NOISE_SIGMA = 2.0
"""Sensor noise added to the empty cell, grey levels (the renderer's own default)."""

MAX_FRAME_AGE_S = 0.5
"""Test camera's `max_frame_age_s` (generous: 2 shared cores), seconds."""
FROZEN_AFTER_FRAMES = 10
"""Test camera's `frozen_after_frames` (10 frames at 15 frames/s: 0.67 s)."""
MAX_STATE_AGE_S = 0.3
"""Test robot's `max_state_age_s`, seconds."""
RESTART_DELAY_S = 1.0
"""Site's `safety.restart_delay_s`, seconds."""
STATE_TIMEOUT_S = 0.5
"""ZeroMQ output's `state_timeout_s` (its default), seconds."""
OVERRUN_FACTOR = 20.0
"""Site's `monitor.overrun_factor`: a cycle 200 ms late at 100 Hz is an overrun (the default
10, 100 ms, still gives rare nuisance LOOP_OVERRUN stops while the test machine's other
processes load both cores)."""
WATCHDOG_S = 0.3
"""The test controller's (`SafetyClient`) watchdog, seconds."""
MAX_DELAY_S = 0.2
"""The test controller's largest accepted frame age, seconds."""

CONNECTION_ID = 1
"""The ZeroMQ output's connection id (the configured default)."""


@dataclass(frozen=True)
class FrameSet:
    """Images shared by every site of a session (written once).

    Attributes:
        reference: PNG of the empty cell without noise (the foreground reference).
        frames: PNGs of the empty cell with sensor noise, pairwise different.
        small: PNG of the empty cell at half the size (320x240): a resolution change.
    """

    reference: Path
    frames: tuple[Path, ...]
    small: Path


def render_frame_set(out_dir: Path, count: int = DISTINCT_FRAMES, seed: int = 7) -> FrameSet:
    """Render the demo cell's empty floor (camera pixels, 640x480 BGR) into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    config = load_site_config(DEMO_SITE)
    renderer = CellRenderer(DemoScene.from_site(config), demo_camera())
    empty = renderer.reference(with_robot=False)
    reference = out_dir / "reference.png"
    cv2.imwrite(str(reference), empty)
    rng = np.random.default_rng(seed)
    frames = []
    for index in range(count):
        noise = np.round(rng.normal(0.0, NOISE_SIGMA, empty.shape))
        noisy = np.clip(empty.astype(np.float64) + noise, 0, 255).astype(np.uint8)
        path = out_dir / f"noisy{index:03d}.png"
        cv2.imwrite(str(path), noisy)
        frames.append(path)
    small = out_dir / "small.png"
    cv2.imwrite(str(small), cv2.resize(empty, (320, 240), interpolation=cv2.INTER_AREA))
    return FrameSet(reference, tuple(frames), small)


def free_port() -> int:
    """A loopback TCP port that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether nothing is bound to loopback ``port`` (TCP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class RunSite:
    """A site written for one run, with its frame files and endpoints.

    Attributes:
        folder: the site's folder.
        site_file: the site YAML.
        frames: the frame files in glob order (hard links into the shared frame set).
        frame_set: the shared images.
        zmq_port: port of the monitor's ZeroMQ output.
        robot_port: port the robot simulator binds and the monitor connects to.
        evidence_db: evidence database path (``--evidence``).
    """

    folder: Path
    site_file: Path
    frames: list[Path]
    frame_set: FrameSet
    zmq_port: int
    robot_port: int
    evidence_db: Path

    @property
    def zmq_endpoint(self) -> str:
        """Where the monitor publishes its safety frames."""
        return f"tcp://127.0.0.1:{self.zmq_port}"

    @property
    def robot_endpoint(self) -> str:
        """Where the robot simulator publishes its states."""
        return f"tcp://127.0.0.1:{self.robot_port}"


def _link(target: Path, path: Path) -> None:
    """Hard-link ``path`` to ``target`` (a symbolic link across file systems)."""
    try:
        os.link(target, path)
    except OSError:
        os.symlink(target, path)


def write_site(
    folder: Path,
    frame_set: FrameSet,
    *,
    seconds_of_frames: float = 90.0,
    startup_requires_reset: bool = False,
    edit: Callable[[dict], None] | None = None,
) -> RunSite:
    """Write a site, its frame glob (``seconds_of_frames`` at `FPS`) and pick free ports.

    ``edit`` may change the site's YAML mapping before it is written (config-error tests).
    """
    folder.mkdir(parents=True, exist_ok=True)
    frames_dir = folder / "frames"
    frames_dir.mkdir()
    frames = []
    for index in range(round(seconds_of_frames * FPS)):
        path = frames_dir / f"f{index:05d}.png"
        _link(frame_set.frames[index % len(frame_set.frames)], path)
        frames.append(path)
    zmq_port, robot_port = free_port(), free_port()
    while robot_port == zmq_port:
        robot_port = free_port()
    site = yaml.safe_load(DEMO_SITE.read_text())
    site["cameras"][0].update(
        source=str(frames_dir / "*.png"),
        fps=FPS,
        playback="realtime",
        reference_image=str(frame_set.reference),
        max_frame_age_s=MAX_FRAME_AGE_S,
        frozen_after_frames=FROZEN_AFTER_FRAMES,
    )
    site["detector"] = {"kind": "foreground"}
    site["robots"][0]["state_input"] = {"endpoint": f"tcp://127.0.0.1:{robot_port}"}
    site["robots"][0]["max_state_age_s"] = MAX_STATE_AGE_S
    site["outputs"] = {
        "zmq": {"endpoint": f"tcp://127.0.0.1:{zmq_port}", "state_timeout_s": STATE_TIMEOUT_S}
    }
    site["monitor"] = {"overrun_factor": OVERRUN_FACTOR}
    site["safety"]["restart_delay_s"] = RESTART_DELAY_S
    site["safety"]["startup_requires_reset"] = startup_requires_reset
    if edit is not None:
        edit(site)
    site_file = folder / "site.yaml"
    site_file.write_text(yaml.safe_dump(site, sort_keys=False))
    return RunSite(
        folder, site_file, frames, frame_set, zmq_port, robot_port, folder / "evidence.db"
    )


# ---------------------------------------------------------------------- processes
def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "safetymon", *args]


def start_robot_sim(
    site: RunSite, log_file: Path | None = None, *extra: str
) -> subprocess.Popen:
    """Start `safetymon robot-sim` binding the site's robot-state port (100 messages/s).

    ``extra``: more robot-sim options (``--curve-secret-key FILE``).
    """
    log = open(log_file or site.folder / "robot-sim.log", "ab")  # noqa: SIM115 (child's stderr)
    try:
        return subprocess.Popen(
            _command("robot-sim", "--config", str(site.site_file), "--endpoint",
                     site.robot_endpoint, *extra),
            stdout=log, stderr=log, cwd=site.folder,
        )  # fmt: skip
    finally:
        log.close()


@dataclass
class MonitorProcess:
    """A running `safetymon run` subprocess and the file its stderr goes to."""

    process: subprocess.Popen
    stderr_file: Path

    @property
    def pid(self) -> int:
        """Its process id."""
        return self.process.pid

    def stderr(self) -> str:
        """Everything it wrote to stderr so far."""
        return self.stderr_file.read_text(errors="replace")

    def send(self, sig: int) -> None:
        """Send a signal to it."""
        self.process.send_signal(sig)

    def wait(self, timeout_s: float) -> int:
        """Wait for it to exit; its exit code (raises `subprocess.TimeoutExpired`)."""
        return self.process.wait(timeout_s)


def start_monitor(
    site: RunSite, *extra: str, name: str = "run", env: dict[str, str] | None = None
) -> MonitorProcess:
    """Start `safetymon run` on the site with its evidence db and no status line.

    ``env``: variables added to this process's environment (e.g. ``NOTIFY_SOCKET``).
    """
    stderr_file = site.folder / f"{name}.stderr"
    with open(stderr_file, "ab") as err:
        process = subprocess.Popen(
            _command("run", "--config", str(site.site_file), "--evidence",
                     str(site.evidence_db), "--no-status", "--log-level", "INFO", *extra),
            stdout=subprocess.DEVNULL, stderr=err, cwd=site.folder,
            env=None if env is None else {**os.environ, **env},
        )  # fmt: skip
    return MonitorProcess(process, stderr_file)


def end_process(process: subprocess.Popen, timeout_s: float = 10.0) -> int | None:
    """SIGTERM (then SIGKILL after ``timeout_s``) a child that may still run; its exit code."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGCONT)
            process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5.0)
    return process.returncode


def run_cli(
    *args: str, cwd: Path | None = None, timeout_s: float = 60.0
) -> subprocess.CompletedProcess:
    """Run a `safetymon` command to completion, capturing its output as text."""
    return subprocess.run(
        _command(*args), capture_output=True, text=True, timeout=timeout_s, cwd=cwd, check=False
    )


# ---------------------------------------------------------------------- the controller side
@dataclass(frozen=True)
class Seen:
    """One change of the controller's permitted state (receiver monotonic seconds)."""

    time_s: float
    state: PermittedState


@dataclass
class Controller:
    """A real `SafetyClient` on the monitor's output that keeps every change it saw."""

    endpoint: str
    watchdog_s: float = WATCHDOG_S
    max_delay_s: float = MAX_DELAY_S
    changes: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.client = SafetyClient(
            self.endpoint,
            CONNECTION_ID,
            watchdog_s=self.watchdog_s,
            max_delay_s=self.max_delay_s,
            same_clock=True,
            on_change=self._on_change,
        )

    def _on_change(self, state: PermittedState) -> None:
        with self._changed:
            self.changes.append(Seen(state.since_ns / 1e9, state))
            self._changed.notify_all()

    def start(self) -> Controller:
        """Connect."""
        self.client.start()
        return self

    def close(self) -> None:
        """Disconnect."""
        self.client.close()

    def wait_until(
        self, test: Callable[[PermittedState], bool], timeout_s: float, after_s: float = -1.0
    ) -> Seen | None:
        """The first change at or after monotonic ``after_s`` that passes ``test``, waiting
        up to ``timeout_s`` seconds for it (the watchdog is applied while waiting)."""
        end = time.monotonic() + timeout_s
        with self._changed:
            while True:
                for seen in self.changes:
                    if seen.time_s >= after_s and test(seen.state):
                        return seen
                status = self.client.status  # applies the watchdog now
                if status.cause == "watchdog" and status.since_ns / 1e9 >= after_s and test(status):
                    return Seen(status.since_ns / 1e9, status)
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(min(left, 0.02))

    def wait_run(self, timeout_s: float, after_s: float = -1.0) -> Seen | None:
        """The first RUN (from a frame) at or after ``after_s``."""
        return self.wait_until(
            lambda s: s.state is SafetyState.RUN and s.cause == "frame", timeout_s, after_s
        )

    def wait_stop(
        self, timeout_s: float, after_s: float, reason: Reason | None = None
    ) -> Seen | None:
        """The first STOP at or after ``after_s`` (carrying ``reason`` if given)."""

        def test(state: PermittedState) -> bool:
            if state.state is not SafetyState.STOP:
                return False
            return reason is None or bool(state.reasons & reason)

        return self.wait_until(test, timeout_s, after_s)

    def since(self, after_s: float) -> list[Seen]:
        """The changes seen at or after ``after_s``."""
        with self._lock:
            return [seen for seen in self.changes if seen.time_s >= after_s]


def reasons_text(reasons: int) -> str:
    """`Reason` names of a mask, joined by ``|``."""
    return "|".join(r.name or "?" for r in Reason if r and reasons & r) or "NONE"


@contextlib.contextmanager
def running(
    site: RunSite,
    *,
    robot: bool = True,
    extra: tuple[str, ...] = (),
    robot_extra: tuple[str, ...] = (),
) -> Iterator[tuple[MonitorProcess, Controller, subprocess.Popen | None]]:
    """Robot simulator, controller client and monitor, all ended on exit.

    ``extra``: more `safetymon run` options; ``robot_extra``: more robot-sim options.
    """
    sim = start_robot_sim(site, None, *robot_extra) if robot else None
    controller = Controller(site.zmq_endpoint).start()
    monitor = start_monitor(site, *extra)
    try:
        yield monitor, controller, sim
    finally:
        unblock_fifos(site)
        end_process(monitor.process)
        controller.close()
        if sim is not None:
            end_process(sim)


# ---------------------------------------------------------------------- fault injection
def unread_frames(site: RunSite) -> list[Path]:
    """Frame files that still exist (the reader has not necessarily read them yet)."""
    return [path for path in site.frames if path.exists() or _is_fifo(path)]


def _is_fifo(path: Path) -> bool:
    try:
        return path.is_fifo()
    except OSError:
        return False


def unplug_camera(site: RunSite) -> float:
    """Delete every frame file (the next read fails); the monotonic time it began."""
    began = time.monotonic()
    for path in site.frames:
        path.unlink(missing_ok=True)
    return began


def stall_camera(site: RunSite) -> float:
    """Turn every frame file into an empty FIFO (the reader blocks opening the next one);
    the monotonic time it began."""
    began = time.monotonic()
    for path in site.frames:
        path.unlink(missing_ok=True)
        os.mkfifo(path)
    return began


def unblock_fifos(site: RunSite, settle_s: float = 0.3) -> None:
    """Open each FIFO a reader waits on for writing and close it (the reader sees EOF).

    Repeated for ``settle_s`` seconds in case the reader opens the next one meanwhile."""
    fifos = [path for path in site.frames if _is_fifo(path)]
    end = time.monotonic() + settle_s
    while fifos and time.monotonic() < end:
        for path in fifos:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: nobody has it open for reading
                continue
            os.close(fd)
        time.sleep(0.02)


def freeze_camera(site: RunSite) -> float:
    """Link every frame file to the same image (a camera repeating one frame)."""
    return _relink(site, site.frame_set.frames[0])


def resize_camera(site: RunSite) -> float:
    """Link every frame file to a 320x240 image (the camera's resolution changed)."""
    return _relink(site, site.frame_set.small)


def _relink(site: RunSite, target: Path) -> float:
    """Replace every frame file by a hard link to ``target`` (each one atomically); the
    monotonic time it began."""
    began = time.monotonic()
    for path in site.frames:
        spare = path.with_suffix(".new")
        _link(target, spare)
        os.replace(spare, path)
    return began


def pause_process(process: subprocess.Popen, pause_s: float) -> tuple[float, float]:
    """SIGSTOP the process for ``pause_s`` seconds, then SIGCONT; (stopped, continued) times."""
    process.send_signal(signal.SIGSTOP)
    stopped = time.monotonic()
    time.sleep(pause_s)
    process.send_signal(signal.SIGCONT)
    return stopped, time.monotonic()


# ---------------------------------------------------------------------- evidence
def run_records(db: Path) -> list[tuple[str, dict]]:
    """The (kind, payload) of every ``run_start`` and ``run_stop`` record, in order."""
    from safetymon.evidence.reader import iter_records, open_readonly

    conn = open_readonly(db)
    try:
        return [
            (record.kind, record.parsed()["payload"])
            for record in iter_records(conn, kinds=("run_start", "run_stop"))
        ]
    finally:
        conn.close()


# ---------------------------------------------------------------------- scenarios
STARTUP_TIMEOUT_S = 60.0
"""Longest wait for the first RUN of a freshly started monitor (imports, JIT), seconds."""
HEALTHY_S = 0.5
"""How long the monitor must have been in RUN before a fault is injected, seconds."""
SLACK_S = 1.0
"""Allowance over a configured limit on this shared, noisy machine, seconds."""


@dataclass(frozen=True)
class Outcome:
    """What the controller saw after one injected fault.

    Attributes:
        fault: the fault's name.
        seen: the STOP the controller saw (None: no STOP carrying the reason in time).
        first_after: the first change the controller saw after the injection, if any.
        limit_s: the configured limit the reaction is held to, seconds.
        reaction_s: injection → STOP at the controller, seconds (inf when not seen).
        limit_text: how the limit follows from the configuration.
        monitor_stderr: what the monitor had logged by the STOP.
    """

    fault: str
    seen: Seen | None
    first_after: Seen | None
    limit_s: float
    reaction_s: float
    limit_text: str
    monitor_stderr: str = ""


def wait_healthy(controller: Controller, monitor: MonitorProcess) -> Seen:
    """Wait until the controller has been permitted RUN for `HEALTHY_S` seconds without a
    break (within `STARTUP_TIMEOUT_S`); the RUN it began with. Raises AssertionError."""
    end = time.monotonic() + STARTUP_TIMEOUT_S
    after = -1.0
    while (left := end - time.monotonic()) > 0:
        seen = controller.wait_run(left, after)
        if seen is None:
            break
        time.sleep(HEALTHY_S)
        changes = controller.since(seen.time_s)
        kept = all(change.state.state is SafetyState.RUN for change in changes)
        if kept and controller.client.status.state is SafetyState.RUN:
            return seen
        after = seen.time_s + 1e-9
    raise AssertionError(
        f"the monitor did not stay in RUN for {HEALTHY_S} s; changes "
        f"{[(round(c.time_s, 3), c.state) for c in controller.changes[-10:]]}; "
        f"stderr:\n{monitor.stderr()[-3000:]}"
    )


@dataclass(frozen=True)
class InputFault:
    """A fault injected into the camera's frame files or the robot's state input.

    Attributes:
        name: row name in the fault table.
        reason: the reason bit the STOP must carry.
        limit_s: configured limit of the reaction, seconds.
        limit_text: where the limit comes from.
        edit_site: changes the site's YAML mapping before the run, or None.
        logged: text the monitor must log for this fault (says which check caught it).
    """

    name: str
    reason: Reason
    limit_s: float
    limit_text: str
    edit_site: Callable[[dict], None] | None = None
    logged: str | None = None


def _without_image_size(site: dict) -> None:
    """No calibrated image size: a resized frame reaches the detector (which raises)."""
    site["cameras"][0].pop("image_size", None)


CAMERA_UNPLUGGED = InputFault(
    "camera unplugged (frame files deleted)", Reason.CAMERA_FAULT, 1.0 / FPS,
    "next frame read (1/fps)",
)  # fmt: skip
CAMERA_STALLED = InputFault(
    "camera stalled (read blocks on a FIFO)", Reason.CAMERA_STALE, MAX_FRAME_AGE_S,
    f"max_frame_age_s {MAX_FRAME_AGE_S}",
)  # fmt: skip
CAMERA_FROZEN = InputFault(
    "camera frozen (identical frames)", Reason.CAMERA_FAULT, FROZEN_AFTER_FRAMES / FPS,
    f"frozen_after_frames {FROZEN_AFTER_FRAMES} / {FPS:g} fps",
)  # fmt: skip
DETECTOR_RAISING = InputFault(
    "detector raising (320x240 frame in a 640x480 stream)", Reason.DETECTOR_FAULT, 1.0 / FPS,
    "next frame processed (1/fps)", _without_image_size, "but the foreground reference is",
)  # fmt: skip
RESOLUTION_CHANGED = InputFault(
    "camera resolution changed (320x240 frames, image_size 640x480)", Reason.CAMERA_FAULT,
    1.0 / FPS, "next frame processed (1/fps)", None,
    "floor mapping was calibrated at 640x480 (image_size): refusing to place people",
)  # fmt: skip
ROBOT_SILENT = InputFault(
    "robot state silent (robot-sim killed)", Reason.ROBOT_STATE_STALE, MAX_STATE_AGE_S,
    f"max_state_age_s {MAX_STATE_AGE_S}",
)  # fmt: skip

_INJECT: dict[str, Callable[[RunSite], float]] = {
    CAMERA_UNPLUGGED.name: unplug_camera,
    CAMERA_STALLED.name: stall_camera,
    CAMERA_FROZEN.name: freeze_camera,
    DETECTOR_RAISING.name: resize_camera,
    RESOLUTION_CHANGED.name: resize_camera,
}
INPUT_FAULTS = (
    CAMERA_UNPLUGGED, CAMERA_STALLED, CAMERA_FROZEN, DETECTOR_RAISING, RESOLUTION_CHANGED,
    ROBOT_SILENT,
)  # fmt: skip


def measure_input_fault(folder: Path, frame_set: FrameSet, fault: InputFault) -> Outcome:
    """Run the monitor until healthy, inject ``fault`` and time the STOP at the controller."""
    site = write_site(folder, frame_set, edit=fault.edit_site)
    with running(site) as (monitor, controller, sim):
        wait_healthy(controller, monitor)
        if fault is ROBOT_SILENT:
            assert sim is not None
            injected = time.monotonic()
            sim.kill()
        else:
            injected = _INJECT[fault.name](site)
        seen = controller.wait_stop(fault.limit_s + 5.0, injected, fault.reason)
        changes = controller.since(injected)
        stderr = monitor.stderr()
    return Outcome(
        fault.name,
        seen,
        changes[0] if changes else None,
        fault.limit_s,
        math.inf if seen is None else seen.time_s - injected,
        fault.limit_text,
        stderr,
    )


@dataclass(frozen=True)
class PauseOutcome:
    """What the controller saw around a SIGSTOP/SIGCONT of the monitor.

    Attributes:
        watchdog: the controller's own STOP during the pause (cause ``watchdog``).
        watchdog_s: SIGSTOP → that STOP, seconds.
        resumed: the first frame accepted after SIGCONT.
        overrun: the first frame after SIGCONT carrying LOOP_OVERRUN.
        overrun_s: SIGCONT → that frame, seconds.
        run_again: the first RUN after SIGCONT.
        run_again_s: SIGCONT → RUN again, seconds.
    """

    watchdog: Seen | None
    watchdog_s: float
    resumed: Seen | None
    overrun: Seen | None
    overrun_s: float
    run_again: Seen | None
    run_again_s: float


def measure_pause(folder: Path, frame_set: FrameSet, pause_s: float = 0.8) -> PauseOutcome:
    """Freeze the whole monitor process for ``pause_s`` seconds (a loop overrun)."""
    site = write_site(folder, frame_set)
    with running(site) as (monitor, controller, _sim):
        wait_healthy(controller, monitor)
        stopped, continued = pause_process(monitor.process, pause_s)
        watchdog = controller.wait_until(
            lambda s: s.state is SafetyState.STOP and s.cause == "watchdog", 0.0, stopped
        )
        frames = lambda s: s.cause == "frame"  # noqa: E731
        resumed = controller.wait_until(frames, 5.0, continued)
        overrun = controller.wait_until(
            lambda s: frames(s) and bool(s.reasons & Reason.LOOP_OVERRUN), 5.0, continued
        )
        run_again = controller.wait_run(20.0, continued)
    return PauseOutcome(
        watchdog,
        math.inf if watchdog is None else watchdog.time_s - stopped,
        resumed,
        overrun,
        math.inf if overrun is None else overrun.time_s - continued,
        run_again,
        math.inf if run_again is None else run_again.time_s - continued,
    )


def measure_sigkill(folder: Path, frame_set: FrameSet) -> Outcome:
    """SIGKILL a healthy monitor; time the controller's watchdog STOP."""
    site = write_site(folder, frame_set)
    with running(site) as (monitor, controller, _sim):
        wait_healthy(controller, monitor)
        killed = time.monotonic()
        monitor.process.kill()
        seen = controller.wait_until(
            lambda s: s.state is SafetyState.STOP, WATCHDOG_S + 5.0, killed
        )
        changes = controller.since(killed)
    return Outcome(
        "process SIGKILLed",
        seen,
        changes[0] if changes else None,
        WATCHDOG_S,
        math.inf if seen is None else seen.time_s - killed,
        f"controller watchdog_s {WATCHDOG_S}",
    )
