"""Two publishers on one endpoint are a fault that holds (issue 15, findings 2 and 4).

The controller-side client sees a second publisher as rejected frames interleaved with
accepted ones. First the rule on its own, then with real parts: two real `ZmqPublisher`s
(the monitor's publisher) whose frames reach one real `SafetyClient` through a ZeroMQ
XSUB/XPUB forwarder (a broker, or any device that merges two streams onto the endpoint).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from safetymon.config.outputs import ZmqOutputConfig
from safetymon.signals.checker import ErrorKind
from safetymon.signals.client import TWO_PUBLISHERS, SafetyClient
from safetymon.signals.frame import SafetyFrame, SafetyState, encode_frame
from safetymon.signals.second_publisher import HOLD_NS, SecondPublisherDetector
from safetymon.signals.zmq_publisher import ZmqPublisher

MS = 1_000_000


def test_interleaved_rejections_latch_and_hold() -> None:
    detector = SecondPublisherDetector()
    t = 0
    for _ in range(2):  # ok, rejected, ok, rejected: two signs, not yet three
        detector.accepted(t)
        assert not detector.rejected(ErrorKind.INCORRECT_SEQUENCE, t + 5 * MS)
        t += 20 * MS
    detector.accepted(t)
    assert detector.rejected(ErrorKind.MASQUERADE, t + 5 * MS, "sender time")
    assert detector.active(t + 5 * MS) and detector.episodes == 1
    assert "two publishers" in detector.detail and "masquerade: sender time" in detector.detail
    assert detector.active(t + 5 * MS + HOLD_NS)
    assert not detector.active(t + 6 * MS + HOLD_NS)  # quiet for the hold: released


def test_a_restarted_publisher_is_not_a_second_one() -> None:
    """The old stream stops, the new one is rejected until the receiver re-synchronises:
    no accepted frame between the rejections, no fault."""
    detector = SecondPublisherDetector()
    detector.accepted(0)
    for k in range(1, 8):
        assert not detector.rejected(ErrorKind.INCORRECT_SEQUENCE, k * 20 * MS)
    assert not detector.active(200 * MS) and detector.episodes == 0


def test_link_faults_are_not_signs() -> None:
    detector = SecondPublisherDetector()
    for k in range(10):
        detector.accepted(k * 20 * MS)
        assert not detector.rejected(ErrorKind.CORRUPTION, k * 20 * MS + MS)
        assert not detector.rejected(ErrorKind.UNACCEPTABLE_DELAY, k * 20 * MS + 2 * MS)
    assert detector.episodes == 0


@pytest.fixture
def forwarder(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """(upstream A, upstream B, downstream) ipc endpoints; frames of A and B reach downstream."""
    ctx = zmq.Context()
    upstream_a, upstream_b = f"ipc://{tmp_path}/a.ipc", f"ipc://{tmp_path}/b.ipc"
    downstream = f"ipc://{tmp_path}/out.ipc"
    xsub, xpub = ctx.socket(zmq.XSUB), ctx.socket(zmq.XPUB)
    xpub.bind(downstream)
    xsub.connect(upstream_a)
    xsub.connect(upstream_b)
    control = ctx.socket(zmq.PAIR)
    control.bind(f"inproc://stop-{id(ctx)}")
    steer = ctx.socket(zmq.PAIR)
    steer.connect(f"inproc://stop-{id(ctx)}")
    thread = threading.Thread(target=zmq.proxy_steerable, args=(xsub, xpub, None, control),
                              daemon=True)  # fmt: skip
    thread.start()
    yield upstream_a, upstream_b, downstream
    steer.send(b"TERMINATE")
    thread.join(5)
    for sock in (xsub, xpub, control, steer):
        sock.close(0)
    ctx.term()


def _publisher(endpoint: str, state: SafetyState) -> ZmqPublisher:
    """A publisher repeating ``state`` at 50 Hz (as `safetymon publish --state` does)."""
    publisher = ZmqPublisher(ZmqOutputConfig(endpoint=endpoint, connection_id=7,
                                             heartbeat_hz=50.0, state_timeout_s=3600))  # fmt: skip
    publisher.publish(state, 1.0)
    return publisher


def test_a_leftover_run_publisher_beside_the_monitor_holds_the_client_in_stop(
    forwarder: tuple[str, str, str],
) -> None:
    upstream_a, upstream_b, downstream = forwarder
    client = SafetyClient(downstream, 7, watchdog_s=0.2).start()
    leftover = _publisher(upstream_a, SafetyState.RUN)  # e.g. `safetymon publish --state RUN`
    try:
        assert client.wait_for(SafetyState.RUN, 10.0)  # alone, its RUN is obeyed
        monitor = _publisher(upstream_b, SafetyState.STOP)  # the monitor starts beside it
        try:
            deadline = time.monotonic() + 10
            # the episode is counted as the rejection is judged, just before the STOP is set
            while client.two_publishers == 0 or client.status.cause != TWO_PUBLISHERS:
                assert time.monotonic() < deadline, client.last_error
                time.sleep(0.01)
            # while both send, not one moment of RUN: the fault holds over accepted frames
            seen = set()
            end = time.monotonic() + 1.5
            while time.monotonic() < end:
                status = client.status
                seen.add(status.state)
                time.sleep(0.002)
            assert seen == {SafetyState.STOP}
            assert client.status.cause == TWO_PUBLISHERS
            assert "two publishers on the endpoint" in client.last_error
        finally:
            monitor.close()
        # the leftover alone again: its RUN is obeyed once the hold has passed (no lock-out)
        assert client.wait_for(SafetyState.RUN, 10.0)
        assert client.two_publishers == 1
    finally:
        leftover.close()
        client.close()


def test_a_restarted_publisher_is_followed_without_a_fault(
    forwarder: tuple[str, str, str],
) -> None:
    upstream_a, upstream_b, downstream = forwarder
    client = SafetyClient(downstream, 7, watchdog_s=0.2).start()
    try:
        first = _publisher(upstream_a, SafetyState.RUN)
        assert client.wait_for(SafetyState.RUN, 10.0)
        first.close()
        assert client.wait_for(SafetyState.STOP, 5.0)
        second = _publisher(upstream_b, SafetyState.RUN)  # sequence and clock start afresh
        try:
            assert client.wait_for(SafetyState.RUN, 10.0)
        finally:
            second.close()
        assert client.two_publishers == 0
    finally:
        client.close()


# -- without CURVE: what the client can and cannot tell (hw/PROTOCOL.md section 6) ----------
def _raw_frames(count: int, t0_ns: int, state: SafetyState, connection_id: int = 7) -> list[bytes]:
    """``count`` consecutive frames of one sender starting at ``t0_ns`` (20 ms apart)."""
    return [
        encode_frame(SafetyFrame(connection_id=connection_id, sequence=1000 + k,
                                 sender_time_ns=t0_ns + k * 20 * MS, state=state,
                                 speed_scale=1.0 if state is not SafetyState.STOP else 0.0))
        for k in range(count)
    ]  # fmt: skip


@pytest.mark.parametrize("same_clock", [False, True])
def test_replayed_frames_after_the_monitor_went_silent(tmp_path: Path, same_clock: bool) -> None:
    """Frames recorded 2 s earlier, replayed once the real stream stopped: accepted without
    a shared clock (they re-synchronise the receiver), refused with ``same_clock`` (their
    sender times are 2 s old: unacceptable delay)."""
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    endpoint = f"ipc://{tmp_path}/replay.ipc"
    pub.bind(endpoint)
    recorded = _raw_frames(200, time.monotonic_ns() - 2_000_000_000, SafetyState.RUN)
    client = SafetyClient(endpoint, 7, watchdog_s=0.2, same_clock=same_clock).start()
    try:
        deadline = time.monotonic() + 10
        index = 0
        while client.received == 0:  # slow joiner: the first frames may be dropped
            assert time.monotonic() < deadline
            pub.send(recorded[index])
            index += 1
            time.sleep(0.02)
        for data in recorded[index : index + 50]:
            pub.send(data)
            time.sleep(0.005)
        time.sleep(0.1)
        if same_clock:
            assert client.accepted == 0 and client.counters["unacceptable_delay"] > 0
            assert client.state is SafetyState.STOP
        else:
            assert client.accepted > 0  # a replay looks like a live publisher
    finally:
        client.close()
        pub.close(0)
        ctx.term()


def test_a_takeover_after_the_monitor_died_is_not_seen_without_curve(tmp_path: Path) -> None:
    """The monitor's publisher dies (watchdog: STOP); a process binds the freed endpoint and
    sends RUN with the connection id it read as a subscriber. Without CURVE the client cannot
    tell it from a restarted monitor: it runs. (With CURVE the handshake fails:
    ``test_zmq_black_channel.test_curve_wrong_server_key_never_runs``.)"""
    endpoint = f"ipc://{tmp_path}/out.ipc"
    client = SafetyClient(endpoint, 7, watchdog_s=0.2).start()
    try:
        monitor = _publisher(endpoint, SafetyState.STOP)
        deadline = time.monotonic() + 10
        while client.accepted == 0:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        monitor.close()
        (tmp_path / "out.ipc").unlink(missing_ok=True)  # a dead process's socket file
        impostor = _publisher(endpoint, SafetyState.RUN)
        try:
            assert client.wait_for(SafetyState.RUN, 10.0)
            assert client.two_publishers == 0
        finally:
            impostor.close()
    finally:
        client.close()


def test_the_cause_names_two_publishers_even_after_a_plain_rejection(tmp_path: Path) -> None:
    """Two rejections in a row, the first before the fault latches and the second latching
    it: the STOP's cause must name two publishers, not stay at the first rejection's kind
    (the permission is the same STOP, so only the cause changes)."""
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    endpoint = f"ipc://{tmp_path}/out.ipc"
    pub.bind(endpoint)
    t0 = time.monotonic_ns()
    stream_a = _raw_frames(200, t0, SafetyState.RUN)  # sequences 1000..
    stream_b = [  # another sender: sequences far behind stream A's
        encode_frame(SafetyFrame(connection_id=7, sequence=10 + k,
                                 sender_time_ns=t0 + k * 20 * MS, state=SafetyState.STOP,
                                 speed_scale=0.0))
        for k in range(3)
    ]  # fmt: skip
    client = SafetyClient(endpoint, 7, watchdog_s=5.0).start()
    try:
        deadline = time.monotonic() + 10
        index = 0
        while client.accepted == 0:  # slow joiner: the first frames may be dropped
            assert time.monotonic() < deadline
            pub.send(stream_a[index])
            index += 1
            time.sleep(0.02)
        a = iter(stream_a[index:])
        order = [next(a), stream_b[0], next(a), stream_b[1], stream_b[2], next(a)]
        before = client.received
        for data in order:
            pub.send(data)
        deadline = time.monotonic() + 10
        while client.received < before + len(order):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert client.two_publishers == 1
        assert client.status.state is SafetyState.STOP
        assert client.status.cause == TWO_PUBLISHERS
    finally:
        client.close()
        pub.close(0)
        ctx.term()
