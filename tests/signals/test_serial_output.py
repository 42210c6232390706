"""Serial output over real pseudo-terminals: the output writes the slave, the test reads the master.

Frames are checked with the receiver's own pieces: the COBS stream decoder, the protocol's
FrameChecker (same host, so the shared monotonic clock gives exact ages) and, for the killed
writer, the reference firmware's RelayLogic.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tty
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from safetymon.config.outputs import SerialOutputConfig
from safetymon.signals.checker import CheckerConfig, FrameChecker
from safetymon.signals.cobs import CobsStreamDecoder
from safetymon.signals.frame import SafetyFrame, SafetyState, decode_frame
from safetymon.signals.reasons import Reason
from safetymon.signals.serial_output import SerialOutput

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX pseudo-terminals")

CONN = 42
FIRMWARE = Path(__file__).resolve().parents[2] / "hw" / "firmware" / "stop_relay.py"


def wait_for(pred: Callable[[], bool], timeout_s: float, step_s: float = 0.005) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step_s)
    return pred()


class PtyReader:
    """Owns a pty pair; a thread reads the master and decodes frames as a receiver would."""

    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self.frames: list[tuple[int, SafetyFrame]] = []  # (receive time ns, frame)
        self.bad = 0
        self.decoder = CobsStreamDecoder()
        self.reading = threading.Event()
        self.reading.set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.reading.is_set():
                time.sleep(0.005)
                continue
            ready, _, _ = select.select([self.master], [], [], 0.02)
            if not ready:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                time.sleep(0.005)
                continue
            now = time.monotonic_ns()
            for packet in self.decoder.feed(data):
                try:
                    self.frames.append((now, decode_frame(packet)))
                except ValueError:
                    self.bad += 1

    def since(self, t_ns: int) -> list[SafetyFrame]:
        return [f for t, f in list(self.frames) if t >= t_ns]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1)
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


@pytest.fixture
def pty() -> Iterator[PtyReader]:
    r = PtyReader()
    yield r
    r.close()


def cfg(port: str, **kw: object) -> SerialOutputConfig:
    base: dict[str, object] = {"port": port, "connection_id": CONN}
    base.update(kw)
    return SerialOutputConfig.model_validate(base)


def feed(out: SerialOutput, state: SafetyState, seconds: float, **kw: object) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        out.set_state(state, **kw)  # type: ignore[arg-type]
        time.sleep(0.01)


def test_startup_stop_then_frames_at_heartbeat_rate_pass_the_checker(pty: PtyReader) -> None:
    out = SerialOutput(cfg(pty.port, heartbeat_hz=50))
    out.start()
    try:
        assert wait_for(lambda: len(pty.frames) >= 1, 2)
        first = pty.frames[0][1]
        assert first.state == SafetyState.STOP and first.reasons == Reason.STARTUP
        t0 = time.monotonic_ns()
        feed(out, SafetyState.RUN, 1.0, speed_scale=0.75, reasons=int(Reason.WARNING_ZONE))
        t1 = time.monotonic_ns()
    finally:
        out.close()
    assert wait_for(lambda: len(pty.frames) == out.frames_sent, 1)  # close's STOPs included
    window = [f for t, f in pty.frames if t0 + 50_000_000 <= t <= t1]
    assert 35 <= len(window) <= 70, len(window)  # 50 Hz for ~0.95 s (+1 change frame)
    assert all(
        f.state == SafetyState.RUN and f.speed_scale == pytest.approx(0.75, abs=1e-4)
        for f in window
    )
    checker = FrameChecker(
        CheckerConfig(connection_id=CONN, same_clock=True, max_delay_ns=500_000_000)
    )
    results = [checker.check(f, t) for t, f in pty.frames]
    assert all(r.accepted and r.lost == 0 for r in results), [r.detail for r in results][:5]
    seqs = [f.sequence for _, f in pty.frames]
    assert seqs == list(range(len(seqs)))
    assert pty.bad == 0 and pty.decoder.errors == 0
    assert out.errors == 0 and not out.fault and out.frames_sent == len(seqs)


def test_change_is_sent_at_once(pty: PtyReader) -> None:
    with SerialOutput(cfg(pty.port, heartbeat_hz=1)) as out:  # heartbeat every 1 s
        assert wait_for(lambda: len(pty.frames) >= 1, 2)
        for state in (SafetyState.RUN, SafetyState.SLOW, SafetyState.STOP):
            t0 = time.monotonic_ns()
            out.set_state(state, speed_scale=0.5)
            assert wait_for(lambda st=state, t=t0: any(f.state == st for f in pty.since(t)), 0.5)
            t_rx = next(t for t, f in pty.frames if t >= t0 and f.state == state)
            assert (t_rx - t0) / 1e6 < 200  # ms; the heartbeat alone would take up to 1000


def test_stop_on_close(pty: PtyReader) -> None:
    out = SerialOutput(cfg(pty.port))
    out.start()
    feed(out, SafetyState.RUN, 0.2)
    assert wait_for(lambda: any(f.state == SafetyState.RUN for _, f in pty.frames), 1)
    out.close()

    def shutdown_frames() -> list[SafetyFrame]:
        return [f for _, f in list(pty.frames) if f.reasons & Reason.SHUTDOWN]

    assert wait_for(lambda: len(shutdown_frames()) >= 3, 1)
    time.sleep(0.1)
    n = len(pty.frames)
    tail = [f for _, f in pty.frames[-3:]]
    assert tail == shutdown_frames()  # the last three frames, nothing after them
    assert all(f.state == SafetyState.STOP and f.speed_scale == 0 for f in tail)
    time.sleep(0.1)
    assert len(pty.frames) == n  # nothing after close


def test_stale_decision_sends_stop(pty: PtyReader) -> None:
    with SerialOutput(cfg(pty.port, state_timeout_s=0.2)) as out:
        feed(out, SafetyState.RUN, 0.1)
        t_last = time.monotonic_ns()
        assert wait_for(lambda: any(f.state == SafetyState.STOP for f in pty.since(t_last)), 1)
        t_stop = next(t for t, f in pty.frames if t >= t_last and f.state == SafetyState.STOP)
        assert 0.15 <= (t_stop - t_last) / 1e9 <= 0.2 + 0.2
        stop = next(f for f in pty.since(t_last) if f.state == SafetyState.STOP)
        assert stop.reasons & Reason.LOOP_OVERRUN


@pytest.mark.parametrize("bad", [3, -1, float("nan"), 1.5])
def test_invalid_decision_is_stop(pty: PtyReader, bad: float) -> None:
    with SerialOutput(cfg(pty.port)) as out:
        if bad in (3, -1):
            out.set_state(int(bad))
        else:
            out.set_state(SafetyState.RUN, speed_scale=bad)

        def flagged() -> list[SafetyFrame]:
            return [f for _, f in list(pty.frames) if f.reasons & Reason.INTERNAL_ERROR]

        assert wait_for(lambda: len(flagged()) >= 3, 1)
    assert all(f.state == SafetyState.STOP for _, f in pty.frames)


def test_sequence_wraps_on_the_wire(pty: PtyReader) -> None:
    with SerialOutput(cfg(pty.port, heartbeat_hz=200), initial_sequence=0xFFFFFFFD) as out:
        feed(out, SafetyState.RUN, 0.1)
    seqs = [f.sequence for _, f in pty.frames[:6]]
    assert seqs == [0xFFFFFFFD, 0xFFFFFFFE, 0xFFFFFFFF, 0, 1, 2]


def test_write_timeout_is_reported_and_recovers(pty: PtyReader) -> None:
    """Nobody reads: the pty fills, writes time out; reading again, the output recovers."""
    errors: list[BaseException] = []
    pty.reading.clear()
    out = SerialOutput(
        cfg(pty.port, heartbeat_hz=1000, write_timeout_s=0.02), on_error=errors.append
    )
    out.start()
    try:
        feed(out, SafetyState.RUN, 0.05)
        assert wait_for(lambda: len(errors) >= 1, 8)
        assert errors and "timeout" in str(errors[0]).lower()
        assert out._thread is not None and out._thread.is_alive()
        pty.reading.set()
        sent = out.frames_sent
        assert wait_for(lambda: out.frames_sent > sent + 20 and not out.fault, 5)
        assert out.reopens >= 1
        t0 = time.monotonic_ns()
        feed(out, SafetyState.RUN, 0.2)
        assert any(f.state == SafetyState.RUN for f in pty.since(t0))
    finally:
        out.close()


def test_vanished_port_never_raises() -> None:
    master, slave = os.openpty()
    port = os.ttyname(slave)
    errors: list[BaseException] = []
    out = SerialOutput(cfg(port, heartbeat_hz=100), on_error=errors.append)
    out.start()
    try:
        time.sleep(0.1)
        assert out.frames_sent >= 1
        os.close(master)  # the adapter is unplugged
        os.close(slave)
        assert wait_for(lambda: out.errors >= 3, 3)
        assert out.fault and out._thread is not None and out._thread.is_alive()
    finally:
        out.close()  # STOP frames cannot be written; still no exception
    assert len(errors) == out.errors


def test_missing_port_never_raises() -> None:
    out = SerialOutput(cfg("/dev/does-not-exist-safetymon", heartbeat_hz=100))
    with out:
        feed(out, SafetyState.RUN, 0.1)
    assert out.errors >= 3 and out.frames_sent == 0


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from safetymon.config.outputs import SerialOutputConfig
    from safetymon.signals.frame import SafetyState
    from safetymon.signals.serial_output import SerialOutput
    out = SerialOutput(SerialOutputConfig(port=sys.argv[1], connection_id=int(sys.argv[2])))
    out.start()
    while True:
        out.set_state(SafetyState.RUN)
        time.sleep(0.01)
    """
)


def load_firmware():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("stop_relay_fw_serial", FIRMWARE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_firmware_logic_opens_relay_when_writer_is_killed() -> None:
    """SIGKILL the writer: the board logic, fed from the pty, opens within its watchdog."""
    fw = load_firmware()
    master, slave = os.openpty()
    tty.setraw(slave)
    logic = fw.RelayLogic(CONN, watchdog_ms=100)
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, os.ttyname(slave), str(CONN)])
    try:

        def pump(until: Callable[[], bool], limit_s: float) -> None:
            end = time.monotonic() + limit_s
            while not until():
                assert time.monotonic() < end, "timed out"
                ready, _, _ = select.select([master], [], [], 0.002)
                now_ms = time.monotonic_ns() // 1_000_000
                if ready:
                    logic.feed(os.read(master, 4096), now_ms)
                else:
                    logic.tick(now_ms)

        pump(lambda: logic.closed, 10)  # the subprocess starts and sends RUN
        t_closed = time.monotonic()
        pump(lambda: time.monotonic() - t_closed > 0.3, 1)  # frames keep arriving
        assert logic.closed and logic.faults["watchdog"] == 0
        proc.send_signal(signal.SIGKILL)
        t_kill = time.monotonic()
        while logic.closed:
            elapsed = time.monotonic() - t_kill
            assert elapsed < 1.0, "relay still closed 1 s after the writer died"
            ready, _, _ = select.select([master], [], [], 0.001)
            now_ms = time.monotonic_ns() // 1_000_000
            if ready:
                try:
                    logic.feed(os.read(master, 4096), now_ms)
                except OSError:  # slave side closed by the dying process
                    logic.tick(now_ms)
            else:
                logic.tick(now_ms)
        opened_after_s = time.monotonic() - t_kill
        # Watchdog 100 ms after the last frame (sent <= 20 ms before the kill) + scheduling.
        assert opened_after_s <= 0.100 + 0.150, opened_after_s
        assert logic.last_fault == "watchdog"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)
        os.close(master)
        os.close(slave)
