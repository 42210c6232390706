"""The live status line and the Prometheus endpoint (scraped over real HTTP)."""

from __future__ import annotations

import io
import math
import urllib.request

from safetymon.monitor.metrics import MonitorMetrics
from safetymon.monitor.status import StatusLine, format_status
from safetymon.signals.frame import SafetyState
from safetymon.signals.reasons import Reason


def test_status_line_names_state_reasons_people_distance_rate_and_ages() -> None:
    line = format_status(
        SafetyState.SLOW,
        0.42,
        int(Reason.SEPARATION_WARNING | Reason.WARNING_ZONE),
        2,
        1.234,
        99.6,
        {"cam1": 0.034, "arm1": math.inf},
    )
    assert line.startswith("SLOW x0.42")
    assert "SEPARATION_WARNING" in line and "WARNING_ZONE" in line
    assert "people 2" in line and "closest 1.23 m" in line and "loop 100 Hz" in line
    assert "cam1=34ms" in line and "arm1=none" in line


def test_status_line_without_terminal_prints_changes_and_throttles() -> None:
    stream = io.StringIO()
    status = StatusLine(stream, log_interval_s=5.0)
    status.show("a", SafetyState.RUN, now_s=0.0)
    status.show("b", SafetyState.RUN, now_s=1.0)  # throttled
    status.show("c", SafetyState.STOP, now_s=1.1)  # state change: shown at once
    status.show("d", SafetyState.STOP, now_s=6.2)
    status.finish()
    assert stream.getvalue().splitlines() == ["a", "c", "d"]


def test_metrics_endpoint_serves_decision_counters() -> None:
    metrics = MonitorMetrics()
    port = metrics.serve("127.0.0.1", 0)
    try:
        metrics.observe_decision(SafetyState.STOP, 0.0, 0.0002, 3, 0.8)
        metrics.observe_decision(SafetyState.RUN, 1.0, 0.0001, 0, math.nan)
        metrics.frame_age_s.labels(camera="cam1").set(0.05)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            text = reply.read().decode()
    finally:
        metrics.close()
    assert "safetymon_decision_cycles_total 2.0" in text
    assert 'safetymon_decisions_total{state="STOP"} 1.0' in text
    assert "safetymon_state 2.0" in text
    assert 'safetymon_frame_age_seconds{camera="cam1"} 0.05' in text


def test_two_monitors_have_separate_registries() -> None:
    first, second = MonitorMetrics(), MonitorMetrics()
    first.cycles.inc()
    assert second.cycles._value.get() == 0
