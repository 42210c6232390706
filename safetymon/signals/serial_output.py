"""Serial output: the safety frame, COBS-framed, at a fixed heartbeat rate.

Each frame is ``COBS(encode_frame(frame)) + b"\\x00"`` (hw/PROTOCOL.md; byte framing in
:mod:`safetymon.signals.cobs`). A heartbeat thread sends the current state every
``1 / heartbeat_hz`` seconds and at once when the state, speed scale or reasons change; each
frame carries the next sequence number (u32, wrapping) and the sender's ``time.monotonic_ns()``.
The receiver (e.g. the stop-relay board in ``hw/firmware/``) closes its relay only while valid
RUN/SLOW frames keep arriving, so silence from this process is STOP there.

Fail-safe rules on this side:

- until the first :meth:`SerialOutput.set_state`, and after ``close()``, STOP is sent
  (reasons ``STARTUP`` and ``SHUTDOWN``);
- if no new decision arrived for ``state_timeout_s``, STOP with ``LOOP_OVERRUN`` is sent, so a
  hung decision loop cannot keep the heartbeat saying RUN;
- a write error or write timeout is counted (``errors``), kept (``last_error``), flagged
  (``fault``) and passed to ``on_error``; the port is closed and reopened on the next beat.
  Nothing ever escapes the heartbeat thread.

The port is anything ``serial.serial_for_url`` accepts: ``/dev/ttyACM0``, a pty path,
``rfc2217://host:port``, ``loop://``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

import serial

from safetymon.config.outputs import SerialOutputConfig
from safetymon.signals.cobs import DELIMITER, encode_packet
from safetymon.signals.frame import SafetyFrame, SafetyState, encode_frame
from safetymon.signals.reasons import Reason

_log = logging.getLogger(__name__)

ErrorCallback = Callable[[BaseException], None]
"""Called from the heartbeat thread with each write/open error; must not block."""

U32_MASK = 0xFFFFFFFF


class SerialPort(Protocol):
    """The part of ``serial.Serial`` this output uses."""

    def write(self, data: bytes, /) -> int | None: ...

    def close(self) -> None: ...


def open_port(config: SerialOutputConfig) -> SerialPort:
    """Open ``config.port`` with pyserial: 8N1, no flow control, the configured write timeout."""
    port: SerialPort = serial.serial_for_url(
        config.port,
        baudrate=config.baudrate,
        bytesize=serial.EIGHTBITS,
        parity=serial.PARITY_NONE,
        stopbits=serial.STOPBITS_ONE,
        timeout=0,
        write_timeout=config.write_timeout_s,
        exclusive=True,
    )
    return port


class SerialOutput:
    """Send the monitor's state as safety frames over a serial port.

    Usage::

        out = SerialOutput(SerialOutputConfig(port="/dev/ttyACM0", connection_id=7))
        out.start()
        out.set_state(SafetyState.RUN, speed_scale=1.0)   # at every decision
        ...
        out.close()                                        # sends STOP, closes the port

    Args:
        config: port, baud rate, connection id, heartbeat rate, timeouts.
        on_error: optional callback for each write/open error (from the heartbeat thread).
        port_factory: opens the port (tests may inject one); default :func:`open_port`.
        initial_sequence: sequence number of the first frame (u32).
    """

    def __init__(
        self,
        config: SerialOutputConfig,
        *,
        on_error: ErrorCallback | None = None,
        port_factory: Callable[[SerialOutputConfig], SerialPort] = open_port,
        initial_sequence: int = 0,
    ) -> None:
        self.config = config
        self._on_error = on_error
        self._port_factory = port_factory
        self._port: SerialPort | None = None
        self._lock = threading.Lock()  # guards the decision fields below
        self._io_lock = threading.Lock()  # one writer at a time (thread or close)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = SafetyState.STOP
        self._speed = 0.0
        self._reasons = int(Reason.STARTUP)
        self._state_time = time.monotonic()
        self._fresh = True  # STARTUP STOP is never stale
        self._sequence = initial_sequence & U32_MASK
        self.frames_sent = 0
        """Frames written completely."""
        self.errors = 0
        """Failed opens, writes and write timeouts."""
        self.reopens = 0
        """Successful opens after the first one."""
        self.last_error: BaseException | None = None
        """Most recent error."""
        self.fault = False
        """True while the most recent open/write failed."""
        self.last_frame: SafetyFrame | None = None
        """The last frame written completely."""

    # --- decision side --------------------------------------------------------------------

    def set_state(
        self, state: SafetyState | int, speed_scale: float | None = None, reasons: int = 0
    ) -> None:
        """Record the newest decision; a change is sent at once, else at the next beat.

        Args:
            state: permitted state; any value that is not a :class:`SafetyState` means STOP.
            speed_scale: permitted speed fraction 0..1 (default 1.0); forced to 0 for STOP.
            reasons: :class:`~safetymon.signals.reasons.Reason` bit mask (u32).
        """
        try:
            st = SafetyState(int(state))
        except ValueError:
            st = SafetyState.STOP
            reasons |= int(Reason.INTERNAL_ERROR)
        speed = 0.0 if st == SafetyState.STOP else 1.0 if speed_scale is None else speed_scale
        if not 0.0 <= speed <= 1.0:  # NaN fails too
            st, speed, reasons = SafetyState.STOP, 0.0, reasons | int(Reason.INTERNAL_ERROR)
        with self._lock:
            changed = (st, speed, reasons) != (self._state, self._speed, self._reasons)
            self._state, self._speed, self._reasons = st, speed, reasons & U32_MASK
            self._state_time = time.monotonic()
            self._fresh = False
        if changed:
            self._wake.set()

    def current(self, now: float | None = None) -> tuple[SafetyState, float, int]:
        """State, speed scale and reasons that the next frame will carry.

        Args:
            now: ``time.monotonic()`` seconds; defaults to the current time.
        """
        now = time.monotonic() if now is None else now
        with self._lock:
            st, speed, reasons, t, fresh = (
                self._state,
                self._speed,
                self._reasons,
                self._state_time,
                self._fresh,
            )
        if not fresh and now - t > self.config.state_timeout_s:
            return SafetyState.STOP, 0.0, reasons | int(Reason.LOOP_OVERRUN)
        return st, speed, reasons

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the heartbeat thread (idempotent)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="safetymon-serial", daemon=True)
        self._thread.start()

    def close(self, stop_frames: int = 3, timeout_s: float = 2.0) -> None:
        """Stop the heartbeat, send STOP (``SHUTDOWN``) ``stop_frames`` times, close the port.

        Args:
            stop_frames: STOP frames sent before closing (best effort).
            timeout_s: seconds to wait for the heartbeat thread to finish a write.
        """
        with self._lock:
            self._state, self._speed = SafetyState.STOP, 0.0
            self._reasons |= int(Reason.SHUTDOWN)
            self._fresh = True
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        for _ in range(stop_frames):
            self._send()
        with self._io_lock:
            self._close_port()

    def __enter__(self) -> SerialOutput:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- heartbeat thread -----------------------------------------------------------------

    def _run(self) -> None:
        period = 1.0 / self.config.heartbeat_hz
        next_due = time.monotonic()
        while not self._stop.is_set():
            self._send()
            next_due += period
            now = time.monotonic()
            if next_due < now:  # late (slow write, starved thread): no burst to catch up
                next_due = now + period
            if self._wake.wait(next_due - now):
                self._wake.clear()
                next_due = time.monotonic()

    def _next_frame(self) -> SafetyFrame:
        state, speed, reasons = self.current()
        frame = SafetyFrame(
            connection_id=self.config.connection_id,
            sequence=self._sequence,
            sender_time_ns=time.monotonic_ns(),
            state=state,
            speed_scale=speed,
            reasons=reasons,
        )
        self._sequence = (self._sequence + 1) & U32_MASK
        return frame

    def _send(self) -> bool:
        """Build and write one frame; every failure is caught, counted and reported."""
        with self._io_lock:
            try:
                frame = self._next_frame()
                wire = encode_packet(encode_frame(frame))
                if self._port is None:
                    self._port = self._port_factory(self.config)
                    if self.frames_sent or self.errors:
                        self.reopens += 1
                    wire = DELIMITER + wire  # flush whatever partial packet the receiver holds
                self._port.write(wire)
            except Exception as exc:  # any failure is a fault, never a crash
                self._fail(exc)
                return False
            self.frames_sent += 1
            self.last_frame = frame
            self.fault = False
            return True

    def _close_port(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            except Exception:  # closing a broken port
                _log.debug("closing the serial port failed", exc_info=True)
            self._port = None

    def _fail(self, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = exc
        self.fault = True
        self._close_port()  # reopen on the next beat
        if self.errors == 1 or self.errors % 100 == 0:
            _log.warning(
                "serial output %s failed (%d so far): %s", self.config.port, self.errors, exc
            )
        if self._on_error is not None:
            try:
                self._on_error(exc)
            except Exception:
                _log.exception("serial on_error callback raised")
