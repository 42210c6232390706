"""The live `Monitor` in-process on the rendered demo cell: metrics, status line, evidence."""

from __future__ import annotations

import io
import time
import urllib.request
from pathlib import Path

import cv2
import pytest

from safetymon.config.monitor import MetricsConfig
from safetymon.demo.cell import DemoParts
from safetymon.evidence.verify import verify_store
from safetymon.monitor.perception_setup import detection_threads
from safetymon.signals.frame import SafetyState
from safetymon.sim.live import SimCellSource

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "zones" / "demo-cell.yaml"


@pytest.mark.slow
def test_live_monitor_serves_metrics_shows_status_and_records_evidence(tmp_path: Path) -> None:
    cell = DemoParts.prepare(SITE, tmp_path)
    controller = cell.controller
    config = cell.config.model_copy(
        update={
            "monitor": cell.config.monitor.model_copy(
                update={"metrics": MetricsConfig(enabled=True, port=0), "opencv_threads": 1}
            )
        }
    )
    status = io.StringIO()
    states: set[SafetyState] = set()
    source = SimCellSource(cell.renderer, controller, fps=15.0)
    monitor = cell.build_monitor(
        source,
        evidence_db=tmp_path / "evidence.db",
        config=config,
        status_stream=status,
        listeners=(lambda record: states.add(record.decision.state),),
    )
    assert monitor.metrics_port
    controller.start(monitor.zmq_endpoint or "", 1)
    threads_before = cv2.getNumThreads()
    cv2.setNumThreads(3)  # not what the monitor is configured to, nor OpenCV's default here
    try:
        monitor.start()
        assert cv2.getNumThreads() == 1  # monitor.opencv_threads while it runs
        deadline = time.monotonic() + 8.0  # person 1 enters the warning zone at ~4 s
        while time.monotonic() < deadline and SafetyState.SLOW not in states:
            time.sleep(0.1)
        url = f"http://127.0.0.1:{monitor.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as reply:
            text = reply.read().decode()
    finally:
        monitor.stop(reason="test over")
        controller.stop()
        threads_after_stop = cv2.getNumThreads()
        cv2.setNumThreads(threads_before)
    assert threads_after_stop == 3  # the process's own setting is given back
    assert SafetyState.RUN in states and SafetyState.SLOW in states
    samples = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert samples["safetymon_decision_cycles_total"] > 300  # 100 Hz for > 3 s
    assert samples['safetymon_frames_processed_total{camera="cam1"}'] > 30
    # ages are gauges of the newest cycle (their size depends on this machine's load)
    assert 0 <= samples['safetymon_frame_age_seconds{camera="cam1"}'] < 5
    assert 0 <= samples['safetymon_robot_state_age_seconds{robot="arm1"}'] < 5
    assert samples['safetymon_robot_sender_restarts{robot="arm1"}'] == 0
    lines = status.getvalue().splitlines()
    assert any(line.startswith("RUN") for line in lines)
    assert any(line.startswith("SLOW") and "| people 1 |" in line for line in lines)
    report = verify_store(tmp_path / "evidence.db")
    assert report.ok, report.summary()
    assert report.kinds["run_start"] == 1 and report.kinds["run_stop"] == 1


@pytest.mark.parametrize(
    ("cameras", "configured", "cpus", "expected"),
    [
        (1, None, 2, 2),  # one camera: its frame may use every core
        (2, None, 2, 1),  # a core per camera worker
        (4, None, 2, 1),  # never below one
        (2, None, 8, 4),
        (3, None, None, 1),  # unknown CPU count: one
        (4, 2, 2, 2),  # the site's monitor.opencv_threads wins
    ],
)
def test_detection_threads(
    cameras: int, configured: int | None, cpus: int | None, expected: int
) -> None:
    assert detection_threads(cameras, configured, cpus) == expected
