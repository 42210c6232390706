"""Receiver checks (pure): one test per IEC 61784-3 error kind, wrap, delay estimate."""

from __future__ import annotations

import pytest

from safetymon.signals.checker import CheckerConfig, ErrorKind, FrameChecker
from safetymon.signals.frame import SafetyFrame, SafetyState, encode_frame

MS = 1_000_000
T0 = 5_000 * MS  # sender clock
OFFSET = 777 * MS  # receiver clock = sender clock + OFFSET + transit


def frame(seq: int, t_ns: int, conn: int = 9, state: SafetyState = SafetyState.RUN) -> SafetyFrame:
    return SafetyFrame(
        connection_id=conn,
        sequence=seq,
        sender_time_ns=t_ns,
        state=state,
        speed_scale=0.0 if state is SafetyState.STOP else 1.0,
    )


def make(**kw: object) -> FrameChecker:
    return FrameChecker(CheckerConfig(connection_id=9, **kw))  # type: ignore[arg-type]


def feed(checker: FrameChecker, seqs: range, transit: int = MS) -> None:
    """Frames every 20 ms (sender clock), each arriving ``transit`` after sending."""
    for s in seqs:
        t = T0 + s * 20 * MS
        assert checker.check(frame(s, t), t + OFFSET + transit).accepted


def only(checker: FrameChecker, kind: ErrorKind, n: int = 1) -> None:
    assert checker.counters[kind] == n
    assert sum(checker.counters.values()) == n


def test_in_order_frames_accepted() -> None:
    c = make()
    feed(c, range(10))
    assert c.accepted == 10
    assert sum(c.counters.values()) == 0
    assert c.offset_ns == OFFSET + MS


def test_corrupt_bytes_rejected() -> None:
    c = make()
    data = bytearray(encode_frame(frame(0, T0)))
    data[5] ^= 0x10
    r = c.check_bytes(bytes(data), T0 + OFFSET)
    assert not r.accepted and r.error is ErrorKind.CORRUPTION and "CRC" in r.detail
    only(c, ErrorKind.CORRUPTION)
    assert c.check_bytes(encode_frame(frame(0, T0)), T0 + OFFSET).accepted


def test_wrong_connection_id_rejected() -> None:
    c = make()
    r = c.check(frame(0, T0, conn=10), T0 + OFFSET)
    assert not r.accepted and r.error is ErrorKind.ADDRESSING
    only(c, ErrorKind.ADDRESSING)
    assert not c.synchronised


def test_repetition_rejected() -> None:
    c = make()
    feed(c, range(3))
    t = T0 + 2 * 20 * MS
    r = c.check(frame(2, t), t + OFFSET + 2 * MS)
    assert not r.accepted and r.error is ErrorKind.UNINTENDED_REPETITION
    only(c, ErrorKind.UNINTENDED_REPETITION)


def test_older_sequence_rejected() -> None:
    c = make()
    feed(c, range(5))
    r = c.check(frame(3, T0 + 60 * MS), T0 + OFFSET + 100 * MS)
    assert not r.accepted and r.error is ErrorKind.INCORRECT_SEQUENCE
    only(c, ErrorKind.INCORRECT_SEQUENCE)


def test_gap_counted_as_loss() -> None:
    c = make()
    feed(c, range(3))
    t = T0 + 6 * 20 * MS
    r = c.check(frame(6, t), t + OFFSET + MS)
    assert r.accepted and r.error is ErrorKind.LOSS and r.lost == 3
    only(c, ErrorKind.LOSS, 3)


def test_far_ahead_rejected_as_insertion() -> None:
    c = make(max_gap=16)
    feed(c, range(3))
    t = T0 + 3 * 20 * MS
    r = c.check(frame(2 + 17, t), t + OFFSET + MS)
    assert not r.accepted and r.error is ErrorKind.INSERTION
    assert c.check(frame(2 + 16, t), t + OFFSET + MS).accepted  # 16 ahead: loss of 15
    assert c.counters[ErrorKind.INSERTION] == 1 and c.counters[ErrorKind.LOSS] == 15


def test_sender_clock_going_back_is_masquerade() -> None:
    c = make()
    feed(c, range(3))
    # Next sequence, but from a sender whose clock is behind ours: not the synchronised sender.
    r = c.check(frame(3, T0 + 10 * MS), T0 + OFFSET + 61 * MS)
    assert not r.accepted and r.error is ErrorKind.MASQUERADE
    only(c, ErrorKind.MASQUERADE)


def test_frame_from_the_future_is_masquerade() -> None:
    c = make()
    feed(c, range(3))
    # Sender time 1 s ahead of what the clock relation allows.
    t = T0 + 3 * 20 * MS
    r = c.check(frame(3, t + 1000 * MS), t + OFFSET + MS)
    assert not r.accepted and r.error is ErrorKind.MASQUERADE


def test_delayed_frame_rejected() -> None:
    c = make(max_delay_ns=50 * MS)
    feed(c, range(5))
    t = T0 + 5 * 20 * MS
    r = c.check(frame(5, t), t + OFFSET + MS + 60 * MS)
    assert not r.accepted and r.error is ErrorKind.UNACCEPTABLE_DELAY
    assert r.age_ns is not None and 59 * MS < r.age_ns <= 60 * MS  # less the drift allowance
    only(c, ErrorKind.UNACCEPTABLE_DELAY)
    # 40 ms late is still acceptable.
    assert c.check(frame(5, t), t + OFFSET + 41 * MS).accepted


def test_offset_follows_fastest_message_and_drift() -> None:
    c = make(max_drift_ppm=1000.0)
    feed(c, range(3), transit=5 * MS)
    assert c.offset_ns == OFFSET + 5 * MS
    feed(c, range(3, 6), transit=MS)  # faster messages lower the estimate at once
    assert c.offset_ns == OFFSET + MS
    # Sender clock 800 ppm slow for 50 s: ages stay small because the estimate may drift.
    for s in range(6, 2506):
        t = T0 + s * 20 * MS
        rx = t + OFFSET + MS + int((s - 6) * 20 * MS * 800e-6)
        assert c.check(frame(s, t), rx).accepted, s


def test_same_clock_ages_are_exact() -> None:
    c = make(same_clock=True, max_delay_ns=50 * MS)
    assert c.check(frame(0, T0), T0 + 2 * MS).accepted
    r = c.check(frame(1, T0 + 20 * MS), T0 + 20 * MS + 51 * MS)
    assert r.error is ErrorKind.UNACCEPTABLE_DELAY
    # First frame after start is checked too: a stale replay is refused.
    c2 = make(same_clock=True)
    assert c2.check(frame(0, T0), T0 + 500 * MS).error is ErrorKind.UNACCEPTABLE_DELAY


def test_sequence_wraps() -> None:
    c = make()
    top = 2**32 - 2
    for i, seq in enumerate([top, top + 1, 0, 1]):
        t = T0 + i * 20 * MS
        assert c.check(frame(seq % 2**32, t), t + OFFSET).accepted, seq
    assert sum(c.counters.values()) == 0
    t = T0 + 4 * 20 * MS
    assert c.check(frame(2**32 - 1, t), t + OFFSET).error is ErrorKind.INCORRECT_SEQUENCE


def test_resync_after_silence() -> None:
    c = make(resync_after_ns=100 * MS)
    feed(c, range(5))
    # Publisher restarted: sequence from 0 again, 1 s later.
    t = T0 + 1000 * MS
    r = c.check(frame(0, t), t + OFFSET + MS)
    assert r.accepted and c.resyncs == 1
    # ...but not within the re-sync time.
    c2 = make(resync_after_ns=100 * MS)
    feed(c2, range(5))
    t = T0 + 90 * MS
    assert c2.check(frame(0, t), t + OFFSET + MS).error is ErrorKind.INCORRECT_SEQUENCE


def test_rejected_frames_do_not_change_state() -> None:
    c = make()
    feed(c, range(3))
    t = T0 + 3 * 20 * MS
    c.check(frame(3, t, conn=1), t + OFFSET)  # addressing
    c.check(frame(500, t), t + OFFSET)  # insertion
    assert c.check(frame(3, t), t + OFFSET + MS).error is None  # no loss counted


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_report_counts_external_errors(kind: ErrorKind) -> None:
    c = make()
    c.report(kind, 2)
    assert c.counters[kind] == 2
