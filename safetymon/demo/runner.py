"""Run the real monitor on the simulated demo cell in real time.

What is real here: the monitor process's every part (detectors on the rendered frames, floor
mapping, tracking, the decision loop, the ZeroMQ safety output, the robot-state receiver and
the evidence store). What is simulated: the camera (a rendered view of the scripted cell,
`safetymon.sim.render`) and the robot controller (`safetymon.sim.live.SimController`), which
publishes the arm's state on the real robot-state interface and slows or stops the arm as
the monitor's output tells it through the real controller-side client.
"""

from __future__ import annotations

import shutil
import socket
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from safetymon.demo.cell import DemoParts
from safetymon.demo.plan import write_demo_plan
from safetymon.demo.recording import DemoHistory, DemoRecorder
from safetymon.evidence.reader import iter_records, open_readonly
from safetymon.examples import example_path
from safetymon.monitor.app import CycleListener, Monitor
from safetymon.sim.live import SimCellSource
from safetymon.web.cli import HttpSettings

DEMO_SITE = example_path("demo-cell.yaml")
"""The demo cell's site file (package data: ``safetymon.examples``)."""

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

    @property
    def shows_slow_and_stop(self) -> bool:
        """Whether at least one SLOW and one STOP episode were recorded."""
        return self.episodes["SLOW"] >= 1 and self.episodes["STOP"] >= 1


def run_demo(
    out_dir: Path,
    *,
    duration_s: float | None = None,
    zmq_endpoint: str | None = None,
    site_file: Path = DEMO_SITE,
    status_stream: TextIO | None = None,
    should_stop: object = None,
    listeners: tuple[CycleListener, ...] = (),
    http: HttpSettings | None = None,
    on_started: Callable[[Monitor, str | None], None] | None = None,
) -> DemoResult:
    """Run the demo in real time and write ``out_dir``/evidence.db, demo.mp4 and plan.png.

    Args:
        out_dir: output folder (created).
        duration_s: seconds to run (default: the whole script, about 36 s).
        zmq_endpoint: publish the safety output here (default: the site's ``outputs.zmq``,
            else `default_safety_endpoint`).
        site_file: the demo site (its first protective and warning zones lay out the script).
        status_stream: where the live status line goes (None: none).
        should_stop: a `threading.Event`; set it to end the demo early (SIGINT).
        listeners: extra decision-loop listeners (tests, benchmarks).
        http: serve the live view (and zone editor) with these settings while it runs.
        on_started: called once everything runs, with the monitor and the live view's URL.

    Raises:
        ConfigError: the site file is invalid.
        OSError: an endpoint is in use, or an output file cannot be written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("evidence.db", "evidence.db-wal", "evidence.db-shm"):
        (out_dir / stale).unlink(missing_ok=True)  # each run starts a fresh store
    # the live view's zone editor saves to the run's own copy, never to the checkout's file
    site_copy = out_dir / site_file.name
    if site_copy.resolve() != Path(site_file).resolve():
        shutil.copyfile(site_file, site_copy)
    cell = DemoParts.prepare(site_file, out_dir)
    duration_s = cell.scene.duration_s if duration_s is None else duration_s
    config, controller = cell.config, cell.controller
    if zmq_endpoint is None and config.outputs.zmq is None:
        zmq_endpoint = default_safety_endpoint()
    source = SimCellSource(
        cell.renderer,
        controller,
        fps=DEMO_FPS,
        max_frame_age_s=config.cameras[0].max_frame_age_s,
    )
    monitor = cell.build_monitor(
        source,
        evidence_db=out_dir / "evidence.db",
        zmq_endpoint=zmq_endpoint,
        site_file=site_copy,
        status_stream=status_stream,
        listeners=listeners,
    )
    result = DemoResult(
        out_dir,
        out_dir / "evidence.db",
        out_dir / "demo.mp4",
        out_dir / "plan.png",
        monitor.zmq_endpoint,
    )
    recorder = DemoRecorder(monitor, source, cell.camera_id, result.video, DEMO_FPS)
    server = None
    try:
        controller.start(monitor.zmq_endpoint or "", cell.connection_id)
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
        controller.stop()
        result.history = recorder.stop()
    result.states_seen = result.history.states_seen
    result.episodes = count_episodes(result.evidence_db)
    write_demo_plan(result.plan, config, result.history)
    return result


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
