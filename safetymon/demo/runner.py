"""Run the real monitor on a simulated demo cell in real time.

What is real here: the monitor process's every part (detectors on the rendered frames, floor
mapping, tracking, the decision loop, the ZeroMQ safety output, the robot-state receiver and
the evidence store). What is simulated: the camera (a rendered view of the scripted cell,
`safetymon.sim.render`) and the robot, which publishes its state on a real robot-state
interface and slows or stops as the monitor's output tells it through the real
controller-side client. Two scenarios (`SCENARIOS`):

- ``arm-cell`` (the default): an arm on a table; its controller
  (`safetymon.sim.live.SimController`, in this process) sends link capsules as JSON over
  ZeroMQ;
- ``humanoid-counter``: a walking humanoid behind a service counter, a process of its own
  (`safetymon.sim.humanoid_robot`) that publishes ROS 2 JointState and Odometry over DDS
  (`safetymon.demo.humanoid`).

Besides the evidence store, video and plan, each run writes ``summary.json``: the episodes
and the decision's state changes in order, and (humanoid) the robot's own record summarised.
"""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TextIO

from safetymon.config.site import SiteConfig
from safetymon.demo.cell import DemoParts
from safetymon.demo.plan import write_demo_plan
from safetymon.demo.recording import DemoHistory, DemoRecorder, StateTimeline
from safetymon.evidence.reader import iter_records, open_readonly
from safetymon.examples import example_path
from safetymon.monitor.app import CycleListener, Monitor
from safetymon.perception.sources import FrameSource
from safetymon.sim.live import RenderedCameraSource
from safetymon.web.cli import HttpSettings

DEMO_SITE = example_path("demo-cell.yaml")
"""The demo cell's site file (package data: ``safetymon.examples``)."""


@dataclass(frozen=True)
class Scenario:
    """A demo scenario: its name, what it shows and its site file (package data)."""

    name: str
    description: str
    site_name: str

    @property
    def site_file(self) -> Path:
        """The installed site file."""
        return example_path(self.site_name)


SCENARIOS: dict[str, Scenario] = {
    "arm-cell": Scenario(
        "arm-cell",
        "an arm on a table, its state as JSON over ZeroMQ from a simulated controller",
        "demo-cell.yaml",
    ),
    "humanoid-counter": Scenario(
        "humanoid-counter",
        "a humanoid walking behind a service counter, its state over ROS 2 (DDS) from a "
        "simulated robot in another process (needs the cyclonedds package)",
        "demo-humanoid-counter.yaml",
    ),
}
"""The demo scenarios by name."""
DEFAULT_SCENARIO = "arm-cell"
"""The scenario ``safetymon demo`` runs without ``--scenario``."""
SUMMARY_FILE = "summary.json"
"""The run's summary in the output folder."""


class DemoCell(Protocol):
    """The simulated parts of one demo run around the real monitor (`DemoParts`,
    `safetymon.demo.humanoid.HumanoidDemoParts`)."""

    site_file: Path
    config: SiteConfig

    @property
    def camera_id(self) -> str: ...

    @property
    def duration_s(self) -> float: ...

    @property
    def extra_files(self) -> tuple[Path, ...]: ...

    def frame_source(self, fps: float) -> RenderedCameraSource: ...

    def build_monitor(
        self,
        source: FrameSource,
        *,
        evidence_db: Path,
        zmq_endpoint: str | None = ...,
        site_file: Path | None = ...,
        status_stream: TextIO | None = ...,
        listeners: tuple[CycleListener, ...] = ...,
    ) -> Monitor: ...

    def start(self, safety_endpoint: str, run_s: float) -> None: ...

    def stop(self) -> None: ...

    def robot_report(self) -> RobotReport | None: ...


class RobotReport(Protocol):
    """What a simulated robot's own record shows (`safetymon.demo.humanoid.HumanoidReport`)."""

    @property
    def problems(self) -> tuple[str, ...]: ...

    def summary(self) -> str: ...

    def as_dict(self) -> dict[str, object]: ...

DEMO_FPS = 15.0
"""Frame rate of the rendered camera, frames per second."""

DEFAULT_SAFETY_PORT = 5560
"""Loopback port of the demo's safety output when neither ``--zmq`` nor the site gives one."""


@dataclass
class DemoResult:
    """Where the demo wrote its outputs and what it saw.

    Attributes:
        out_dir: the output folder.
        evidence_db: the evidence store.
        video: the annotated video.
        plan: the floor-plan PNG.
        zmq_endpoint: where the safety output was published.
        episodes: evidence episodes by worst state ("SLOW", "STOP").
        states_seen: decision states shown in the video.
        history: the sampled run (plan data).
        live_view_url: the live view's address, if served.
        scenario: the scenario run.
        summary: the run's ``summary.json``.
        robot_summary: one line on what the simulated robot did (humanoid), if it says.
        problems: what the simulated robot's own record shows it did not do (humanoid:
            slow down on SLOW, stand still on STOP); empty when all is well.
    """

    out_dir: Path
    evidence_db: Path
    video: Path
    plan: Path
    zmq_endpoint: str | None
    episodes: Counter[str] = field(default_factory=Counter)
    states_seen: set[str] = field(default_factory=set)
    history: DemoHistory | None = None
    live_view_url: str | None = None
    scenario: str = DEFAULT_SCENARIO
    summary: Path | None = None
    robot_summary: str | None = None
    problems: tuple[str, ...] = ()

    @property
    def shows_slow_and_stop(self) -> bool:
        """Whether at least one SLOW and one STOP episode were recorded."""
        return self.episodes["SLOW"] >= 1 and self.episodes["STOP"] >= 1


def prepare_cell(
    scenario: str, site_file: Path | None, out_dir: Path, ros2_domain: int | None = None
) -> DemoCell:
    """The simulated parts of ``scenario`` on ``site_file`` (default: the scenario's).

    Raises:
        ValueError: an unknown scenario, or a site that does not fit it.
        ConfigError: the site file is invalid.
        ScenarioUnavailableError: a package the scenario needs is missing.
        OSError: a socket cannot be opened.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario {scenario!r}: choose one of {', '.join(SCENARIOS)}")
    site = Path(site_file) if site_file is not None else SCENARIOS[scenario].site_file
    if scenario == "humanoid-counter":
        from safetymon.demo.humanoid import HumanoidDemoParts

        return HumanoidDemoParts.prepare(site, out_dir, ros2_domain)
    if ros2_domain is not None:
        raise ValueError(f"--ros2-domain: scenario {scenario} has no ROS 2 robot")
    return DemoParts.prepare(site, out_dir)


def run_demo(
    out_dir: Path,
    *,
    scenario: str = DEFAULT_SCENARIO,
    duration_s: float | None = None,
    zmq_endpoint: str | None = None,
    site_file: Path | None = None,
    ros2_domain: int | None = None,
    status_stream: TextIO | None = None,
    should_stop: object = None,
    listeners: tuple[CycleListener, ...] = (),
    http: HttpSettings | None = None,
    on_started: Callable[[Monitor, str | None], None] | None = None,
) -> DemoResult:
    """Run a demo scenario in real time; write ``out_dir``/evidence.db, demo.mp4, plan.png
    and summary.json.

    Args:
        out_dir: output folder (created).
        scenario: one of `SCENARIOS` (default ``arm-cell``).
        duration_s: seconds to run (default: the whole script, about 36 s for the arm
            cell, 45 s for the humanoid counter).
        zmq_endpoint: publish the safety output here (default: the site's ``outputs.zmq``,
            else `default_safety_endpoint`).
        site_file: the scenario's site (default: its example; the script is laid out on
            its zones).
        ros2_domain: the DDS domain id of a ROS 2 robot (default: the site's).
        status_stream: where the live status line goes (None: none).
        should_stop: a `threading.Event`; set it to end the demo early (SIGINT).
        listeners: extra decision-loop listeners (tests, benchmarks).
        http: serve the live view (and zone editor) with these settings while it runs.
        on_started: called once everything runs, with the monitor and the live view's URL.

    Raises:
        ValueError: an unknown scenario or a site that does not fit it.
        ConfigError: the site file is invalid.
        ScenarioUnavailableError: a package the scenario needs is missing.
        OSError: an endpoint is in use, an output file cannot be written, or the simulated
            robot could not be started.
    """
    out_dir = Path(out_dir)
    cell = prepare_cell(scenario, site_file, out_dir, ros2_domain)  # refusals write nothing
    site_file = cell.site_file
    # the live view's zone editor saves to the run's own copy, never to the checkout's file
    site_copy = out_dir / site_file.name
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for stale in ("evidence.db", "evidence.db-wal", "evidence.db-shm"):
            (out_dir / stale).unlink(missing_ok=True)  # each run starts a fresh store
        for original in (site_file, *cell.extra_files):
            copy = out_dir / original.name
            if copy.resolve() != Path(original).resolve():
                shutil.copyfile(original, copy)
    except BaseException:
        cell.stop()
        raise
    duration_s = cell.duration_s if duration_s is None else duration_s
    config = cell.config
    if zmq_endpoint is None and config.outputs.zmq is None:
        zmq_endpoint = default_safety_endpoint()
    source = cell.frame_source(DEMO_FPS)
    timeline = StateTimeline(source)
    monitor = cell.build_monitor(
        source,
        evidence_db=out_dir / "evidence.db",
        zmq_endpoint=zmq_endpoint,
        site_file=site_copy,
        status_stream=status_stream,
        listeners=(timeline, *listeners),
    )
    result = DemoResult(
        out_dir,
        out_dir / "evidence.db",
        out_dir / "demo.mp4",
        out_dir / "plan.png",
        monitor.zmq_endpoint,
        scenario=scenario,
    )
    recorder = DemoRecorder(monitor, source, cell.camera_id, result.video, DEMO_FPS)
    server = None
    try:
        cell.start(monitor.zmq_endpoint or "", duration_s)
        monitor.start()
        recorder.start()
        if http is not None:
            from safetymon.web import attach

            server = attach(
                monitor, config, site_file.parent, host=http.host, port=http.port,
                token=http.token, allow_remote=http.allow_remote,
            )  # fmt: skip
            result.live_view_url = server.url
        if on_started is not None:
            on_started(monitor, result.live_view_url)
        deadline = time.monotonic() + duration_s
        while time.monotonic() < deadline:
            if should_stop is not None and should_stop.wait(0.1):  # type: ignore[attr-defined]
                break
            if should_stop is None:
                time.sleep(0.1)
            if not monitor.loop.alive:
                break
    finally:
        if server is not None:
            server.stop()
        monitor.stop(reason="demo finished")
        cell.stop()
        result.history = recorder.stop()
    result.states_seen = result.history.states_seen
    result.episodes = count_episodes(result.evidence_db)
    report = cell.robot_report()
    if report is not None:
        result.robot_summary = report.summary()
        result.problems = tuple(report.problems)
    write_demo_plan(result.plan, config, result.history, site_file.parent)
    result.summary = write_summary(result, timeline, report)
    return result


def write_summary(
    result: DemoResult, timeline: StateTimeline, robot: RobotReport | None
) -> Path:
    """Write the run's ``summary.json``: scenario, episodes in order, the decision's state
    changes (scene seconds: 0 is the camera's first frame, before it the monitor is
    starting) and the simulated robot's record summarised (or null); returns its path.

    Raises:
        OSError: the file cannot be written.
    """
    path = result.out_dir / SUMMARY_FILE
    summary = {
        "scenario": result.scenario,
        "zmq_endpoint": result.zmq_endpoint,
        "episodes": list_episodes(result.evidence_db),
        "states": timeline.as_dicts(),
        "robot": robot.as_dict() if robot is not None else None,
        "problems": list(result.problems),
    }
    path.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return path


def default_safety_endpoint() -> str:
    """Where the demo publishes without ``--zmq``: the usual ``tcp://127.0.0.1:5560``, or a
    free loopback port when that one is taken (the demo prints the endpoint it used)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as ZeroMQ binds
        try:
            probe.bind(("127.0.0.1", DEFAULT_SAFETY_PORT))
        except OSError:
            return "tcp://127.0.0.1:0"
    return f"tcp://127.0.0.1:{DEFAULT_SAFETY_PORT}"


def list_episodes(db_path: Path) -> list[dict[str, object]]:
    """The episodes of an evidence store in order: start, end, worst state, kind, category,
    reasons, zones and the lowest speed scale."""
    keys = ("start_utc", "end_utc", "worst_state", "kind", "category", "reasons", "zones",
            "min_speed_scale")  # fmt: skip
    conn = open_readonly(db_path)
    try:
        return [
            {key: record.parsed()["payload"].get(key) for key in keys}
            for record in iter_records(conn, kinds=["episode"])
        ]
    finally:
        conn.close()


def count_episodes(db_path: Path) -> Counter[str]:
    """Episodes in an evidence store by their worst state ("SLOW", "STOP")."""
    counts: Counter[str] = Counter()
    conn = open_readonly(db_path)
    try:
        for record in iter_records(conn, kinds=["episode"]):
            counts[record.parsed()["payload"]["worst_state"]] += 1
    except sqlite3.Error:
        raise
    finally:
        conn.close()
    return counts
