"""The heartbeat that serial and DDS outputs share: the newest decision, sent at a fixed rate.

A heartbeat output keeps the newest decision (state, speed scale, reasons) and a thread that
sends it as a safety frame every ``1 / heartbeat_hz`` seconds and at once when it changes;
each frame carries the next sequence number (u32, wrapping) and the sender's
``time.monotonic_ns()``. The transport (a serial port, DDS writers) is the subclass's:
:meth:`HeartbeatOutput._write_frame` and :meth:`HeartbeatOutput._close_transport`.

Fail-safe rules, the same for every transport:

- until the first :meth:`HeartbeatOutput.set_state`, and on ``close()``, STOP is sent
  (reasons ``STARTUP`` and ``SHUTDOWN``); a decision after ``close()`` is ignored;
- if no new decision arrived for ``state_timeout_s``, STOP with ``LOOP_OVERRUN`` is sent, so a
  hung decision loop cannot keep the heartbeat saying RUN;
- a failed write is counted (``errors``), kept (``last_error``), flagged (``fault``), logged
  (the first and every hundredth) and passed to ``on_error``; the next beat tries again.
  Nothing ever escapes the heartbeat thread, and the receiver sees silence as STOP.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from safetymon.signals.frame import U32_MAX as U32_MASK
from safetymon.signals.frame import SafetyFrame, SafetyState
from safetymon.signals.reasons import Reason

_log = logging.getLogger(__name__)

ErrorCallback = Callable[[BaseException], None]
"""Called from the heartbeat thread with each write error; must not block."""



class HeartbeatConfig(Protocol):
    """The settings a heartbeat output reads from its config model."""

    @property
    def connection_id(self) -> int: ...

    @property
    def heartbeat_hz(self) -> float: ...

    @property
    def state_timeout_s(self) -> float: ...


class HeartbeatOutput:
    """The decision side, the heartbeat thread and the failure bookkeeping of an output.

    Args:
        config: connection id, heartbeat rate (Hz) and decision timeout (s).
        label: how log lines name this output, e.g. ``"serial output /dev/ttyACM0"``.
        on_error: optional callback for each write error (from the heartbeat thread).
        initial_sequence: sequence number of the first frame (u32).
    """

    thread_name = "safetymon-heartbeat"
    """Name of the heartbeat thread."""
    stop_frame_gap_s = 0.0
    """Pause between the STOP frames sent on ``close()``, seconds."""

    def __init__(
        self,
        config: HeartbeatConfig,
        *,
        label: str,
        on_error: ErrorCallback | None = None,
        initial_sequence: int = 0,
    ) -> None:
        self.config = config
        self._label = label
        self._on_error = on_error
        self._lock = threading.Lock()  # guards the decision fields below
        self._io_lock = threading.Lock()  # one writer at a time (thread or close)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._state = SafetyState.STOP
        self._speed = 0.0
        self._reasons = int(Reason.STARTUP)
        self._state_time = time.monotonic()
        self._fresh = True  # STARTUP STOP is never stale
        self._sequence = initial_sequence & U32_MASK
        self.frames_sent = 0
        """Frames written completely."""
        self.errors = 0
        """Failed writes (and, for a port, failed opens)."""
        self.last_error: BaseException | None = None
        """Most recent error."""
        self.fault = False
        """True while the most recent write failed."""
        self.last_frame: SafetyFrame | None = None
        """The last frame written completely."""

    @property
    def label(self) -> str:
        """Where this output writes (port or endpoint), for messages."""
        return self._label

    # --- transport (subclasses) -----------------------------------------------------------

    def _write_frame(self, frame: SafetyFrame) -> None:
        """Write one frame; raise on any failure (called under the I/O lock)."""
        raise NotImplementedError

    def _close_transport(self) -> None:
        """Release the transport; must not raise (called under the I/O lock)."""
        raise NotImplementedError

    def _after_failure(self) -> None:
        """Called under the I/O lock after a failed write (e.g. close a port to reopen it)."""

    def _before_close_transport(self) -> None:
        """Called after the last STOP frame, before the transport is released."""

    # --- decision side --------------------------------------------------------------------

    def set_state(
        self, state: SafetyState | int, speed_scale: float | None = None, reasons: int = 0
    ) -> None:
        """Record the newest decision; a change is sent at once, else at the next beat.

        Args:
            state: permitted state; any value that is not a :class:`SafetyState` means STOP.
            speed_scale: permitted speed fraction 0..1 (default 1.0); forced to 0 for STOP.
            reasons: :class:`~safetymon.signals.reasons.Reason` bit mask (u32).

        A value that is not a state, a number or an integer mask is a STOP with
        INTERNAL_ERROR; this never raises into the decision loop.
        """
        try:
            reasons = int(reasons)
            st = SafetyState(int(state))
            speed = 0.0 if st == SafetyState.STOP else float(
                1.0 if speed_scale is None else speed_scale
            )
        except (TypeError, ValueError):  # not a state, scale or mask: STOP
            st, speed = SafetyState.STOP, 0.0
            reasons = (reasons if isinstance(reasons, int) else 0) | int(Reason.INTERNAL_ERROR)
        if not 0.0 <= speed <= 1.0:  # NaN fails too
            st, speed, reasons = SafetyState.STOP, 0.0, reasons | int(Reason.INTERNAL_ERROR)
        reasons &= U32_MASK
        with self._lock:
            if self._closed:
                return  # closed: STOP (SHUTDOWN) was the last word
            changed = (st, speed, reasons) != (self._state, self._speed, self._reasons)
            self._state, self._speed, self._reasons = st, speed, reasons
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
            st, speed, reasons = self._state, self._speed, self._reasons
            t, fresh = self._state_time, self._fresh
        if not fresh and now - t > self.config.state_timeout_s:
            return SafetyState.STOP, 0.0, reasons | int(Reason.LOOP_OVERRUN)
        return st, speed, reasons

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the heartbeat thread (idempotent)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def close(self, stop_frames: int = 3, timeout_s: float = 2.0) -> None:
        """Stop the heartbeat, send STOP (``SHUTDOWN``) ``stop_frames`` times and release the
        transport (idempotent).

        Args:
            stop_frames: STOP frames sent before releasing the transport (best effort).
            timeout_s: seconds to wait for the heartbeat thread to finish a write.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._state, self._speed = SafetyState.STOP, 0.0
            self._reasons |= int(Reason.SHUTDOWN)
            self._fresh = True
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        for i in range(stop_frames):
            if i and self.stop_frame_gap_s:
                time.sleep(self.stop_frame_gap_s)
            self._send()
        self._before_close_transport()
        with self._io_lock:
            self._close_transport()

    def __enter__(self) -> HeartbeatOutput:
        """Start the heartbeat on entering a ``with`` block."""
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Close (sending STOP) on leaving the ``with`` block, also on an exception."""
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
                self._write_frame(frame)
            except Exception as exc:  # any failure is a fault, never a crash
                self._fail(exc)
                return False
            self.frames_sent += 1
            self.last_frame = frame
            self.fault = False
            return True

    def _fail(self, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = exc
        self.fault = True
        self._after_failure()
        if self.errors == 1 or self.errors % 100 == 0:
            _log.warning("%s failed (%d so far): %s", self._label, self.errors, exc)
        if self._on_error is not None:
            try:
                self._on_error(exc)
            except Exception:
                _log.exception("%s: on_error callback raised", self._label)
