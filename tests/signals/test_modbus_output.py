"""Modbus RTU relay output against a real pymodbus RTU server over linked pseudo-terminals.

Two pty pairs are joined by a byte-copying thread (a null-modem cable in Python, so no socat
is needed): the pymodbus server listens on one slave, the output writes to the other.
"""

from __future__ import annotations

import asyncio
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
from dataclasses import dataclass, field

import pytest
from pymodbus import FramerType
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from safetymon.config.outputs import ModbusOutputConfig
from safetymon.signals.frame import SafetyState
from safetymon.signals.modbus_output import ModbusOutput

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX pseudo-terminals")

SLAVE_ID = 3
COIL = 5


def wait_for(pred: Callable[[], bool], timeout_s: float, step_s: float = 0.005) -> bool:
    """Poll ``pred`` until true or ``timeout_s`` passes; returns its last value."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step_s)
    return pred()


class NullModem:
    """Two pty pairs whose masters are cross-connected by a thread: slave A <-> slave B."""

    def __init__(self) -> None:
        self._m1, self._s1 = os.openpty()
        self._m2, self._s2 = os.openpty()
        for fd in (self._s1, self._s2):
            tty.setraw(fd)  # no echo, no line discipline before pyserial opens the port
        self.a = os.ttyname(self._s1)
        self.b = os.ttyname(self._s2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        peer = {self._m1: self._m2, self._m2: self._m1}
        while not self._stop.is_set():
            ready, _, _ = select.select(list(peer), [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                    os.write(peer[fd], data)
                except OSError:  # other side momentarily closed
                    time.sleep(0.005)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1)
        for fd in (self._m1, self._s1, self._m2, self._s2):
            os.close(fd)


@dataclass
class CoilServer:
    """A pymodbus RTU server thread that records every Write Single Coil it executes."""

    port: str
    writes: list[tuple[float, bool]] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _server: ModbusSerialServer | None = None
    _thread: threading.Thread | None = None

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> None:
        if function_code == 5 and set_values is not None and address == COIL:
            self.writes.append((time.monotonic(), bool(set_values[0])))

    def start(self) -> CoilServer:
        device = SimDevice(
            SLAVE_ID,
            simdata=(
                [SimData(0, count=16, values=False, datatype=DataType.BITS)],
                [SimData(0, count=1, values=False, datatype=DataType.BITS)],
                [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)],
                [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)],
            ),
            action=self._action,
        )

        async def serve() -> None:
            self._server = ModbusSerialServer(
                device, framer=FramerType.RTU, port=self.port, baudrate=9600
            )
            await self._server.serve_forever()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(serve())

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert wait_for(lambda: self._server is not None, 5)
        time.sleep(0.1)  # let serve_forever open the port
        return self

    def stop(self) -> None:
        if self._server is not None:
            asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(5)
        if self._thread is not None:
            self._thread.join(5)
        self._loop.close()

    @property
    def coil(self) -> bool | None:
        """Value of the last coil write the server executed (None: never written)."""
        return self.writes[-1][1] if self.writes else None

    def writes_between(self, t0: float, t1: float) -> list[bool]:
        return [v for t, v in list(self.writes) if t0 <= t <= t1]


@pytest.fixture
def modem() -> Iterator[NullModem]:
    m = NullModem()
    yield m
    m.close()


@pytest.fixture
def server(modem: NullModem) -> Iterator[CoilServer]:
    s = CoilServer(modem.b).start()
    yield s
    s.stop()


def make_config(port: str, **kw: object) -> ModbusOutputConfig:
    base: dict[str, object] = {
        "port": port,
        "slave_id": SLAVE_ID,
        "coil_address": COIL,
        "refresh_period_s": 0.05,
        "timeout_s": 0.2,
        "state_timeout_s": 0.5,
    }
    base.update(kw)
    return ModbusOutputConfig.model_validate(base)


def feed(out: ModbusOutput, state: SafetyState, seconds: float, period_s: float = 0.01) -> None:
    """Call set_state at the decision rate for ``seconds``."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        out.set_state(state)
        time.sleep(period_s)


def test_coil_on_while_run_refreshed_then_off_on_stop_and_close(
    modem: NullModem, server: CoilServer
) -> None:
    errors: list[BaseException] = []
    out = ModbusOutput(make_config(modem.a), on_error=errors.append)
    out.start()
    try:
        feed(out, SafetyState.RUN, 0.3)
        assert wait_for(lambda: server.coil is True, 1.0)
        t0 = time.monotonic()
        feed(out, SafetyState.RUN, 1.0)
        t1 = time.monotonic()
        refreshes = server.writes_between(t0, t1)
        # Refreshed every 50 ms even though unchanged: about 20 writes in 1 s.
        assert 8 <= len(refreshes) <= 30, len(refreshes)
        assert all(refreshes)
        assert out.coil_on and not out.fault

        t_stop = time.monotonic()
        out.set_state(SafetyState.STOP)
        assert wait_for(lambda: server.coil is False, 1.0)
        off_at = next(t for t, v in server.writes if t >= t_stop and not v)
        assert off_at - t_stop < 0.25  # written at once, not at the next refresh tick
        feed(out, SafetyState.RUN, 0.3)
        assert wait_for(lambda: server.coil is True, 1.0)
    finally:
        out.close()
    assert server.coil is False  # OFF on close
    assert errors == []
    assert out.errors == 0


@pytest.mark.parametrize(("slow_means_run", "expected"), [(True, True), (False, False)])
def test_slow(modem: NullModem, server: CoilServer, slow_means_run: bool, expected: bool) -> None:
    with ModbusOutput(make_config(modem.a, slow_means_run=slow_means_run)) as out:
        feed(out, SafetyState.SLOW, 0.4)
        assert wait_for(lambda: server.coil is expected, 1.0)
        assert all(v is expected for v in server.writes_between(time.monotonic() - 0.2, 1e18))


def test_stale_state_switches_coil_off(modem: NullModem, server: CoilServer) -> None:
    """A hung decision loop (no set_state) must not keep the relay closed."""
    with ModbusOutput(make_config(modem.a, state_timeout_s=0.3)) as out:
        feed(out, SafetyState.RUN, 0.3)
        assert wait_for(lambda: server.coil is True, 1.0)
        t_last = time.monotonic()
        assert wait_for(lambda: server.coil is False, 2.0)
        off_at = next(t for t, v in server.writes if t >= t_last and not v)
        assert 0.25 <= off_at - t_last <= 0.3 + 0.4


def test_invalid_state_value_is_stop(modem: NullModem, server: CoilServer) -> None:
    with ModbusOutput(make_config(modem.a)) as out:
        feed(out, SafetyState.RUN, 0.2)
        assert wait_for(lambda: server.coil is True, 1.0)
        out.set_state(7)
        assert wait_for(lambda: server.coil is False, 1.0)


def test_no_reply_is_reported_and_recovers(modem: NullModem) -> None:
    """Nobody answers: errors counted, callback called, no exception; then the module appears."""
    errors: list[BaseException] = []
    out = ModbusOutput(make_config(modem.a, timeout_s=0.05), on_error=errors.append)
    out.start()
    try:
        feed(out, SafetyState.RUN, 0.4)
        assert out.errors >= 2 and len(errors) == out.errors
        assert out.fault and not out.coil_on
        assert out._thread is not None and out._thread.is_alive()
        srv = CoilServer(modem.b).start()
        try:
            feed(out, SafetyState.RUN, 0.2)
            assert wait_for(lambda: srv.coil is True and not out.fault, 2.0)
            assert out.coil_on
        finally:
            out.close()
            srv.stop()
        assert srv.coil is False
    finally:
        out.close()


def test_exception_reply_is_a_fault(modem: NullModem, server: CoilServer) -> None:
    errors: list[BaseException] = []
    with ModbusOutput(make_config(modem.a, coil_address=900), on_error=errors.append) as out:
        feed(out, SafetyState.RUN, 0.3)
        assert wait_for(lambda: out.errors >= 2, 1.0)
        assert out.fault and not out.coil_on
    # Every write is refused; on a loaded machine a reply can also come after the 0.2 s
    # timeout and count as "no response", so look for the refusal among all the errors.
    assert any("exception reply" in str(e).lower() for e in errors), errors


def test_missing_port_never_raises() -> None:
    errors: list[BaseException] = []
    cfg = make_config("/dev/does-not-exist-safetymon", refresh_period_s=0.02)
    with ModbusOutput(cfg, on_error=errors.append) as out:
        feed(out, SafetyState.RUN, 0.2)
        assert out.errors >= 3 and out.fault and not out.coil_on
    assert out.errors >= 4  # including the best-effort OFF on close


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from safetymon.config.outputs import ModbusOutputConfig
    from safetymon.signals.frame import SafetyState
    from safetymon.signals.modbus_output import ModbusOutput
    cfg = ModbusOutputConfig(port=sys.argv[1], slave_id=int(sys.argv[2]),
                             coil_address=int(sys.argv[3]), refresh_period_s=0.05)
    out = ModbusOutput(cfg)
    out.start()
    print("ready", flush=True)
    while True:
        out.set_state(SafetyState.RUN)
        time.sleep(0.01)
    """
)


def test_killed_output_leaves_coil_as_is(modem: NullModem, server: CoilServer) -> None:
    """SIGKILL cannot write OFF: the coil stays ON and refreshing stops.

    This is exactly why the relay module's own communication-loss timeout must be enabled
    (see safetymon/signals/modbus_output.py): the missing refresh is its signal to drop out.
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, modem.a, str(SLAVE_ID), str(COIL)],
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        assert wait_for(lambda: server.coil is True, 5.0)
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        t_kill = time.monotonic()
        time.sleep(0.5)
        assert server.coil is True  # nobody switched it off...
        assert server.writes_between(t_kill + 0.1, 1e18) == []  # ...and nobody refreshes it
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
