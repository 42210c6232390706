"""`safetymon run` with `outputs.dds`: the real monitor process publishes on ROS 2 topics.

The site of `tests/monitor/run_site.py` (rendered demo cell, `safetymon robot-sim`) with a
DDS output on a random loopback domain beside its ZeroMQ output. A `DdsSafetyClient` in
this process sees STOP at start, then RUN when the ZeroMQ controller does, and
STOP (SHUTDOWN) when the monitor gets SIGTERM; a reader of the status topic sees the same
states as DiagnosticStatus levels.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from safetymon.signals.frame import SafetyState
from safetymon.signals.reasons import Reason
from tests.monitor import run_site
from tests.monitor.run_site import FrameSet, running, wait_healthy, write_site
from tests.signals.dds_helpers import needs_dds, random_domain, wait_for


@pytest.fixture(scope="module")
def frame_set(tmp_path_factory: pytest.TempPathFactory) -> FrameSet:
    """The rendered empty cell (written once)."""
    return run_site.render_frame_set(tmp_path_factory.mktemp("cell-frames"))


def test_run_publishes_the_decisions_on_dds(tmp_path: Path, frame_set: FrameSet) -> None:
    needs_dds()
    from cyclonedds.sub import DataReader
    from cyclonedds.topic import Topic

    from safetymon.dds.domain import join_domain
    from safetymon.dds.topics import dds_topic
    from safetymon.signals.dds_client import DdsSafetyClient, reader_qos
    from safetymon.signals.dds_types import DiagnosticStatus_

    domain = random_domain()
    status_topic = "/cell/safety_status"

    def add_dds(site: dict[str, Any]) -> None:
        site["outputs"]["dds"] = {
            "domain_id": domain, "connection_id": run_site.CONNECTION_ID,
            "status_topic": status_topic, "status_name": "demo-cell",
        }  # fmt: skip

    site = write_site(tmp_path, frame_set, edit=add_dds)
    changes: list[Any] = []
    lock = threading.Lock()

    def changed(state: Any) -> None:
        with lock:
            changes.append(state)

    client = DdsSafetyClient(
        run_site.CONNECTION_ID, domain_id=domain, watchdog_s=run_site.WATCHDOG_S,
        max_delay_s=run_site.MAX_DELAY_S, same_clock=True, on_change=changed,
    ).start()  # fmt: skip
    participant = join_domain(domain, loopback_only=True)
    statuses = DataReader(
        participant, Topic(participant, dds_topic(status_topic), DiagnosticStatus_),
        qos=reader_qos(256),
    )  # fmt: skip
    levels: set[tuple[int, str]] = set()
    try:
        with running(site) as (monitor, controller, _sim):
            wait_healthy(controller, monitor)
            assert wait_for(lambda: client.state is SafetyState.RUN, 20.0), changes[-5:]
            for sample in statuses.take(N=256):
                if getattr(sample.sample_info, "valid_data", False):
                    levels.add((sample.level, sample.name))
            sent = time.monotonic_ns()
            monitor.send(signal.SIGTERM)
            assert monitor.wait(30.0) == 0, monitor.stderr()[-3000:]
            assert wait_for(lambda: client.state is SafetyState.STOP, 10.0)
            stderr = monitor.stderr()
    finally:
        client.close()
    with lock:
        seen = list(changes)
    assert seen[0].state is SafetyState.STOP  # the monitor starts in STOP
    assert any(s.state is SafetyState.RUN and s.cause == "frame" for s in seen), seen[:10]
    last_frames = [s for s in seen if s.cause == "frame" and s.since_ns >= sent]
    assert last_frames and last_frames[-1].state is SafetyState.STOP
    assert last_frames[-1].reasons & Reason.SHUTDOWN
    assert client.counters["corruption"] == client.counters["addressing"] == 0
    assert (0, "demo-cell") in levels  # RUN is DiagnosticStatus.OK
    assert f"DDS on DDS domain {domain} rt/safetymon/safety_frame (loopback)" in stderr
