"""`safetymon run` with `evidence.ship` on, for real: a `safetymon run` subprocess on the
rendered test cell (`tests/monitor/run_site.py`), a real controller client on its output and
the real PostgreSQL server of the fleet tests, which is stopped and restarted mid-run."""

from __future__ import annotations

import re
import time
import urllib.request
from pathlib import Path

import pytest

from safetymon.signals.frame import SafetyState
from safetymon.signals.reasons import Reason
from tests.fleet.conftest import PgServer
from tests.fleet.helpers import centre_records, local_records, meta
from tests.monitor import run_site
from tests.monitor.run_site import FrameSet, free_port, running, wait_healthy, write_site

RATE_WINDOW_S = 2.0
"""Seconds over which the decision loop's rate is measured."""


@pytest.fixture(scope="module")
def frame_set(tmp_path_factory: pytest.TempPathFactory) -> FrameSet:
    """The rendered empty cell (written once)."""
    return run_site.render_frame_set(tmp_path_factory.mktemp("cell-frames"))


def _metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert found, f"no {name} in the metrics"
    return float(found.group(1))


def _loop_rate_hz(port: int) -> float:
    """Decision cycles per second over `RATE_WINDOW_S` (the monitor's own counter)."""
    first, began = _metric(port, "safetymon_decision_cycles_total"), time.monotonic()
    time.sleep(RATE_WINDOW_S)
    return (_metric(port, "safetymon_decision_cycles_total") - first) / (time.monotonic() - began)


def _wait(test, timeout_s: float, what: str, stderr=lambda: "") -> None:
    end = time.monotonic() + timeout_s
    while not test():
        assert time.monotonic() < end, f"timed out waiting for {what}\n{stderr()[-3000:]}"
        time.sleep(0.1)


@pytest.mark.slow
def test_run_ships_while_deciding_and_a_centre_outage_changes_nothing_but_the_lag(
    tmp_path: Path, frame_set: FrameSet, pg: PgServer, centre_url: str
) -> None:
    port = free_port()

    def ship_on(site: dict) -> None:
        site["monitor"]["metrics"] = {"enabled": True, "port": port}
        evidence = site.setdefault("evidence", {})
        evidence["ship"] = {"to": centre_url, "interval_s": 0.5, "batch_rows": 50}
        evidence["max_episode_s"] = 0.5  # a STOP episode is recorded every 0.5 s
        evidence["merge_gap_s"] = 0.2

    site = write_site(tmp_path, frame_set, edit=ship_on)
    with running(site) as (monitor, controller, sim):
        wait_healthy(controller, monitor)
        store_id = meta(site.evidence_db)["store_id"]
        _wait(lambda: _metric(port, "safetymon_evidence_shipped_seq") >= 1, 20,
              "the run_start record at the centre", monitor.stderr)  # fmt: skip
        assert [r[0] for r in centre_records(centre_url, store_id)][:1] == [1]
        rate_up = _loop_rate_hz(port)

        pg.stop("fast")
        try:
            down = time.monotonic()
            _wait(lambda: _metric(port, "safetymon_evidence_ship_up") == 0, 20,
                  "the outage noticed", monitor.stderr)  # fmt: skip
            rate_down = _loop_rate_hz(port)
            # shipping is not a safety function: the outage alone never stops the robot
            assert all(s.state.state is SafetyState.RUN for s in controller.since(down))
            assert controller.client.status.state is SafetyState.RUN
            before = len(local_records(site.evidence_db))
            assert sim is not None
            sim.kill()  # ROBOT_STATE_STALE: a STOP episode, recorded every max_episode_s
            assert controller.wait_stop(5.0, time.monotonic() - 1, Reason.ROBOT_STATE_STALE)
            _wait(lambda: len(local_records(site.evidence_db)) >= before + 3, 20,
                  "local records while the centre is down", monitor.stderr)  # fmt: skip
            assert _metric(port, "safetymon_evidence_ship_lag_records") >= 1
            assert _metric(port, "safetymon_evidence_ship_lag_seconds") > 0
        finally:
            pg.start()
        local_now = len(local_records(site.evidence_db))
        _wait(lambda: _metric(port, "safetymon_evidence_shipped_seq") >= local_now, 30,
              "the backlog at the centre", monitor.stderr)  # fmt: skip
        assert monitor.process.poll() is None  # the monitor ran through all of it
    stderr = monitor.stderr()
    assert monitor.process.returncode == 0, stderr[-3000:]
    print(f"decision loop {rate_up:.1f} Hz with the centre up, {rate_down:.1f} Hz while down")
    assert rate_down >= 0.8 * rate_up, (rate_up, rate_down)
    # the final run at shutdown shipped the run_stop: the centre holds every record, once
    assert centre_records(centre_url, store_id) == local_records(site.evidence_db)
    assert local_records(site.evidence_db)[-1][2].startswith('{"kind":"run_stop"')
    assert stderr.count("evidence shipping to") >= 3  # running, failing, resumed
    assert "failing (retry every interval" in stderr and "resumed" in stderr
    assert "EVIDENCE_FAULT" not in stderr
