"""Modbus RTU relay output: a coil that is ON only while RUN is being refreshed.

Drives an off-the-shelf RS-485 relay module (function 0x05, Write Single Coil). The coil is
written every ``refresh_period_s`` even when unchanged, and at once on a change, so a module
with a communication-loss timeout drops its relay when refreshing stops. **Enable that
timeout on the module** (often a holding register, e.g. "watchdog"/"comm timeout", set to 2-5
refresh periods): it is the only thing that opens the relay if this process is killed, hangs,
or the cable is cut; this class cannot act once it is dead.

Wire the relay's normally-open contact in series with the robot's safety input, so that an
unpowered or dropped-out relay means STOP. Not a rated safety function: feed a safety relay.

The coil is OFF when: the state is STOP (or SLOW with ``slow_means_run=False``); no new state
has been set for ``state_timeout_s``; a write failed (until a later write succeeds); the output
is closed (best effort). Errors are counted, kept in ``last_error`` and passed to ``on_error``;
they never escape the refresh thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from pymodbus import FramerType
from pymodbus.client import ModbusSerialClient

from safetymon.config.outputs import ModbusOutputConfig
from safetymon.signals.frame import SafetyState

_log = logging.getLogger(__name__)

ErrorCallback = Callable[[BaseException], None]
"""Called from the refresh thread with each write error; must not block."""


def make_client(config: ModbusOutputConfig) -> ModbusSerialClient:
    """A pymodbus RTU client for ``config`` (no retries: the next refresh is the retry)."""
    return ModbusSerialClient(
        config.port,
        framer=FramerType.RTU,
        baudrate=config.baudrate,
        parity=config.parity,
        stopbits=config.stopbits,
        bytesize=8,
        timeout=config.timeout_s,
        retries=0,
        reconnect_delay=0,
    )


class ModbusOutput:
    """Refresh a relay module's coil from the monitor's safety state.

    Usage::

        out = ModbusOutput(cfg, on_error=print)
        out.start()
        out.set_state(SafetyState.RUN)   # at every decision (e.g. 100 Hz)
        ...
        out.close()                      # coil OFF (best effort)

    Args:
        config: port, line settings, device and coil address, refresh period.
        on_error: optional callback for each failed write (from the refresh thread).
        client_factory: builds the Modbus client (tests may inject one).
    """

    def __init__(
        self,
        config: ModbusOutputConfig,
        *,
        on_error: ErrorCallback | None = None,
        client_factory: Callable[[ModbusOutputConfig], ModbusSerialClient] = make_client,
    ) -> None:
        self.config = config
        self._on_error = on_error
        self._client_factory = client_factory
        self._client: ModbusSerialClient | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = SafetyState.STOP
        self._state_time = time.monotonic()
        self._written: bool | None = None  # last coil value the module acknowledged
        self.writes = 0
        """Coil writes acknowledged by the module."""
        self.errors = 0
        """Failed coil writes (timeouts, exception replies, port errors)."""
        self.last_error: BaseException | None = None
        """Most recent write error, kept until close."""
        self.fault = False
        """True while the most recent write failed."""

    @property
    def coil_on(self) -> bool:
        """Last coil value the module acknowledged (False if none yet or after a failure)."""
        return bool(self._written) and not self.fault

    def desired_coil(self, now: float | None = None) -> bool:
        """Coil value for the current state: ON only for a fresh RUN (or SLOW, if configured).

        Args:
            now: ``time.monotonic()`` seconds; defaults to the current time.
        """
        now = time.monotonic() if now is None else now
        with self._lock:
            state, t = self._state, self._state_time
        if now - t > self.config.state_timeout_s:
            return False
        return state == SafetyState.RUN or (
            state == SafetyState.SLOW and self.config.slow_means_run
        )

    def set_state(self, state: SafetyState | int) -> None:
        """Record the newest decision; a change of coil value is written at once.

        Any value that is not a :class:`SafetyState` member counts as STOP.
        """
        try:
            st = SafetyState(int(state))
        except ValueError:
            st = SafetyState.STOP
        before = self.desired_coil()
        with self._lock:
            self._state = st
            self._state_time = time.monotonic()
        if self.desired_coil() != before:
            self._wake.set()

    def start(self) -> None:
        """Start the refresh thread (idempotent)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="safetymon-modbus", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop refreshing, write the coil OFF (best effort) and close the port.

        Args:
            timeout_s: seconds to wait for the refresh thread to finish its current write.
        """
        with self._lock:
            self._state = SafetyState.STOP
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():  # pragma: no cover - a write hung beyond its timeout
                _log.error("Modbus refresh thread did not stop within %.1f s", timeout_s)
                return
        self._write(False)
        if self._client is not None:
            try:
                self._client.close()
            except Exception:  # pragma: no cover - closing a broken port
                _log.exception("closing the Modbus port failed")
            self._client = None

    def __enter__(self) -> ModbusOutput:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- refresh thread -------------------------------------------------------------------

    def _run(self) -> None:
        period = self.config.refresh_period_s
        next_due = time.monotonic()
        while not self._stop.is_set():
            self._write(self.desired_coil())
            next_due += period
            now = time.monotonic()
            if next_due < now:  # a slow write: do not burst to catch up
                next_due = now + period
            # Wake early on a change (set_state) or close; the timeout also catches staleness.
            timeout = min(next_due - now, self.config.state_timeout_s)
            if self._wake.wait(max(0.0, timeout)):
                self._wake.clear()
                next_due = time.monotonic()

    def _write(self, value: bool) -> None:
        """Write the coil once; every failure is caught, counted and reported."""
        try:
            if self._client is None:
                self._client = self._client_factory(self.config)
            if not self._client.connect():
                raise ConnectionError(f"cannot open Modbus port {self.config.port!r}")
            rr = self._client.write_coil(
                self.config.coil_address, value, device_id=self.config.slave_id
            )
            if rr.isError():
                raise ConnectionError(f"Modbus exception reply: {rr}")
        except Exception as exc:  # any failure is a fault, never a crash
            self._fail(exc)
            return
        self._written = value
        self.writes += 1
        self.fault = False

    def _fail(self, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = exc
        self.fault = True
        self._written = None
        if self._client is not None:  # reopen on the next write
            try:
                self._client.close()
            except Exception:  # pragma: no cover
                _log.debug("closing after error failed", exc_info=True)
            self._client = None
        if self.errors == 1 or self.errors % 100 == 0:
            _log.warning("Modbus coil write failed (%d so far): %s", self.errors, exc)
        if self._on_error is not None:
            try:
                self._on_error(exc)
            except Exception:
                _log.exception("Modbus on_error callback raised")
