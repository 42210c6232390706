"""The reference stop-relay firmware's pure logic, driven with real frames (encode_frame + COBS).

``hw/firmware/stop_relay.py`` runs on MicroPython and cannot import safetymon, so it is loaded
here by path, exactly as the board would run it.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import zlib
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safetymon.signals.cobs import CobsError, decode, encode, encode_packet
from safetymon.signals.frame import SafetyFrame, SafetyState, encode_frame

FIRMWARE = Path(__file__).resolve().parents[2] / "hw" / "firmware"


def load_firmware() -> ModuleType:
    spec = importlib.util.spec_from_file_location("stop_relay_fw", FIRMWARE / "stop_relay.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


fw = load_firmware()
CONN = 0xC0FFEE01
PERIOD_MS = 20  # 50 Hz heartbeat


class Sender:
    """Builds consecutive wire frames like the serial output does."""

    def __init__(self, conn: int = CONN, seq: int = 0, t_ns: int = 10**9) -> None:
        self.conn, self.seq, self.t_ns = conn, seq, t_ns

    def frame(self, state: SafetyState = SafetyState.RUN, **kw: int) -> SafetyFrame:
        f = SafetyFrame(
            connection_id=kw.get("conn", self.conn),
            sequence=kw.get("seq", self.seq),
            sender_time_ns=kw.get("t_ns", self.t_ns),
            state=state,
            speed_scale=0.0 if state == SafetyState.STOP else 0.5,
            reasons=kw.get("reasons", 0),
        )
        self.seq = (self.seq + 1) & 0xFFFFFFFF
        self.t_ns += PERIOD_MS * 1_000_000
        return f

    def wire(self, state: SafetyState = SafetyState.RUN, **kw: int) -> bytes:
        return encode_packet(encode_frame(self.frame(state, **kw)))


def run_closed(logic: object, sender: Sender, n: int = 3, t0: int = 0) -> int:
    """Feed ``n`` RUN frames every 20 ms from ``t0``; return the next time."""
    t = t0
    for _ in range(n):
        logic.feed(sender.wire(), t)  # type: ignore[attr-defined]
        t = (t + PERIOD_MS) % fw.CLOCK_PERIOD
    assert logic.closed  # type: ignore[attr-defined]
    return t


def new_logic(**kw: object) -> object:
    return fw.RelayLogic(CONN, **kw)


def test_needs_min_frames_then_closes_and_reports_fields() -> None:
    logic, s = new_logic(), Sender()
    assert logic.tick(0) is False
    assert logic.feed(s.wire(reasons=4), 0) is False  # first frame only synchronises
    assert logic.feed(s.wire(reasons=4), 20) is True
    assert logic.state == fw.RUN and logic.speed_raw == 32768 and logic.reasons == 4
    assert logic.accepted == 2


def test_slow_closes_stop_opens_and_run_recloses_at_once() -> None:
    logic, s = new_logic(), Sender()
    assert logic.feed(s.wire(SafetyState.SLOW) + s.wire(SafetyState.SLOW), 0)
    assert logic.feed(s.wire(SafetyState.STOP), 20) is False
    assert logic.faults[fw.F_STOP] == 1
    assert logic.feed(s.wire(SafetyState.RUN), 40) is True  # STOP was a good frame


def test_watchdog_opens_after_silence() -> None:
    logic, s = new_logic(watchdog_ms=100), Sender()
    t = run_closed(logic, s)  # last frame accepted at t - 20
    last = t - PERIOD_MS
    assert logic.tick(last + 100) is True
    assert logic.tick(last + 101) is False
    assert logic.faults[fw.F_WATCHDOG] == 1
    assert logic.last_fault == fw.F_WATCHDOG


def test_late_frame_after_silence_does_not_close_alone() -> None:
    """No tick() during the silence: the late frame itself notices the expired reference."""
    logic, s = new_logic(watchdog_ms=100), Sender()
    t = run_closed(logic, s)
    assert logic.feed(s.wire(), t + 500) is False
    assert logic.faults[fw.F_WATCHDOG] == 1
    assert logic.feed(s.wire(), t + 520) is True


def test_restarted_sender_resynchronises_after_watchdog() -> None:
    logic, s = new_logic(), Sender(seq=5000)
    t = run_closed(logic, s)
    restarted = Sender(seq=0, t_ns=10)  # new process: sequence and clock start again
    assert logic.feed(restarted.wire(), t) is False  # old sequence, within the watchdog
    assert logic.faults[fw.F_OLD] == 1
    assert logic.feed(restarted.wire(), t + 150) is False  # reference expired: resync
    assert logic.feed(restarted.wire(), t + 170) is True


@pytest.mark.parametrize(
    ("fault", "make_bad"),
    [
        (fw.F_CONNECTION, lambda s: s.wire(conn=CONN + 1)),
        (fw.F_REPEAT, lambda s: s.wire(seq=s.seq - 1)),
        (fw.F_OLD, lambda s: s.wire(seq=s.seq - 5)),
        (fw.F_JUMP, lambda s: s.wire(seq=s.seq + 17)),
        (fw.F_TIME, lambda s: s.wire(t_ns=5)),
        (fw.F_CRC, lambda s: encode_packet(_flip_bit(encode_frame(s.frame()), 13))),
        (fw.F_LENGTH, lambda s: encode_packet(encode_frame(s.frame())[:31])),
        (fw.F_COBS, lambda s: b"\x09ab\x00"),
        (fw.F_OVERFLOW, lambda s: b"\x07" * 100),
    ],
)
def test_each_fault_opens_relay_then_two_good_frames_reclose(fault: str, make_bad: object) -> None:
    logic, s = new_logic(), Sender(seq=100)
    t = run_closed(logic, s)
    bad = make_bad(s)  # type: ignore[operator]
    assert logic.feed(bad, t) is False
    assert logic.faults[fault] == 1
    assert logic.last_fault == fault
    good = Sender(seq=s.seq + 1, t_ns=s.t_ns + 10**9)  # continue past whatever bad used
    assert logic.feed(b"\x00" + good.wire(), t + 5) is False  # one good frame is not enough
    assert logic.feed(good.wire(), t + 10) is True


def _flip_bit(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 1]) + data[index + 1 :]


def _with_crc(body: bytes) -> bytes:
    return body[:28] + zlib.crc32(body[:28]).to_bytes(4, "little")


@pytest.mark.parametrize(
    ("offset", "value"),
    [(0, 0x54), (1, 0x00), (2, 2), (3, 3), (3, 0xFF), (22, 1), (23, 1), (20, 1)],
    ids=["magic0", "magic1", "version", "state3", "state255", "reserved0", "reserved1", "speed"],
)
def test_format_errors_with_valid_crc(offset: int, value: int) -> None:
    logic, s = new_logic(), Sender()
    t = run_closed(logic, s)
    raw = bytearray(encode_frame(s.frame(SafetyState.STOP)))
    raw[offset] = value
    assert logic.feed(encode_packet(_with_crc(bytes(raw))), t) is False
    assert logic.faults[fw.F_FORMAT] == 1


def test_sequence_wraps() -> None:
    logic, s = new_logic(), Sender(seq=0xFFFFFFFE)
    t = run_closed(logic, s, n=2)  # 0xFFFFFFFE, 0xFFFFFFFF
    assert s.seq == 0
    assert logic.feed(s.wire(), t) is True
    assert logic.feed(s.wire(), t + 20) is True
    assert sum(logic.faults.values()) == 0


def test_lost_frames_within_gap_are_tolerated() -> None:
    logic, s = new_logic(), Sender()
    t = run_closed(logic, s)
    s.frame()
    s.frame()  # two frames lost on the wire
    assert logic.feed(s.wire(), t) is True


def test_clock_wrap() -> None:
    """The millisecond clock wraps (time.ticks_ms); the watchdog still measures elapsed time."""
    logic, s = new_logic(watchdog_ms=100), Sender()
    t = run_closed(logic, s, n=3, t0=fw.CLOCK_PERIOD - 50)  # crosses the wrap
    assert t < 50
    assert logic.tick(t + 60) is True
    assert logic.tick(t + 90) is False  # last accepted at t - 20, now 110 ms later


def test_custom_ticks_diff_is_used() -> None:
    calls: list[tuple[int, int]] = []

    def diff(now: int, then: int) -> int:
        calls.append((now, then))
        return now - then

    logic, s = new_logic(ticks_diff=diff), Sender()
    run_closed(logic, s)
    assert calls


def test_frames_split_at_every_byte_and_glued() -> None:
    logic, s = new_logic(), Sender()
    stream = b"".join(s.wire() for _ in range(3))
    for i, b in enumerate(stream):
        logic.feed(bytes([b]), i // 10)
    assert logic.closed and logic.accepted == 3


@settings(max_examples=150, deadline=None)
@given(garbage=st.binary(min_size=1, max_size=200))
def test_garbage_never_closes_and_stream_recovers(garbage: bytes) -> None:
    logic, s = new_logic(), Sender()
    assert logic.feed(garbage, 0) is False
    t = run_closed(logic, s)
    logic.feed(garbage, t)
    # The next frame may be swallowed by garbage's unfinished packet; then min_frames more.
    for k in range(4):
        logic.feed(s.wire(), t + 20 * (k + 1))
    assert logic.closed


def test_garbage_glued_to_frames_opens_then_recovers() -> None:
    logic, s = new_logic(), Sender()
    t = run_closed(logic, s)
    assert logic.feed(b"\x13\x37garbage" + s.wire(), t) is False  # the glued frame is lost
    assert logic.feed(s.wire(), t + 20) is False
    assert logic.feed(s.wire(), t + 40) is True


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_crc32_matches_zlib(data: bytes) -> None:
    assert fw.crc32(data) == zlib.crc32(data)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300).map(encode), st.binary(max_size=40)))
def test_cobs_decode_matches_reference(packet: bytes) -> None:
    try:
        expected: bytes | None = decode(packet)
    except CobsError:
        expected = None
    assert fw.cobs_decode(packet) == expected


@pytest.mark.parametrize("name", ["stop_relay.py", "main.py"])
def test_firmware_source_is_micropython_friendly(name: str) -> None:
    """No typing/dataclasses/f-strings/annotations; only modules MicroPython has."""
    tree = ast.parse((FIRMWARE / name).read_text())
    allowed = {"time", "machine", "stop_relay"}
    for node in ast.walk(tree):
        assert not isinstance(node, (ast.JoinedStr, ast.AnnAssign)), ast.dump(node)
        if isinstance(node, ast.Import):
            assert {a.name for a in node.names} <= allowed
        if isinstance(node, ast.ImportFrom):
            assert node.module in allowed and node.level == 0
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            every = args.args + args.kwonlyargs + args.posonlyargs
            assert node.returns is None and all(a.annotation is None for a in every)


# hw/PROTOCOL.md section 8: (hex, connection id, accepted state or the expected fault).
PROTOCOL_VECTORS = [
    ("534d0102010000000000000000ca9a3b00000000ffff000000000000b7ef74ed", 1, fw.RUN),
    ("534d010178563412ffffffff79df0d86487000000080000014000000f212f7d9", 305419896, fw.SLOW),
    ("534d0100010000000100000020189b3b00000000000000000a0000000d611d21", 1, fw.STOP),
    ("534d0100ffffffff0000000000000000000000000000000001000000e81ffd98", 0xFFFFFFFF, fw.STOP),
    ("534d0103010000000000000000ca9a3b00000000ffff000000000000b7ef74ed", 1, fw.F_CRC),
    ("534d0103010000000200000040669b3b00000000ffff0000000000007879f7b2", 1, fw.F_FORMAT),
    ("534d0100010000000300000060b49b3b00000000010000000000000040660de5", 1, fw.F_FORMAT),
    ("534d0202010000000400000080029c3b00000000ffff000000000000150804be", 1, fw.F_FORMAT),
    ("534d01020100000005000000a0509c3b00000000ffff010000000000d02348d3", 1, fw.F_FORMAT),
    ("4d5301020100000006000000c09e9c3b00000000ffff000000000000e5b410d4", 1, fw.F_FORMAT),
    ("534d0102010000000000000000ca9a3b00000000ffff000000000000b7ef74", 1, fw.F_LENGTH),
]


@pytest.mark.parametrize(("hex_frame", "conn", "expected"), PROTOCOL_VECTORS)
def test_protocol_vectors(hex_frame: str, conn: int, expected: object) -> None:
    logic = fw.RelayLogic(conn, min_frames=1)
    closed = logic.feed(encode_packet(bytes.fromhex(hex_frame)), 0)
    if isinstance(expected, int):
        assert logic.accepted == 1 and logic.state == expected
        assert closed is (expected != fw.STOP)
    else:
        assert logic.accepted == 0 and not closed
        assert logic.faults[expected] == 1
