"""ROS 2 (DDS) output: each safety frame's exact bytes, and a status message, on DDS topics.

On the site's ``outputs.dds`` domain (Cyclone DDS; loopback only by default) two writers:

- ``rt/<frame_topic>``, ``std_msgs/msg/UInt8MultiArray``: ``data`` is the 32-byte frame of
  hw/PROTOCOL.md, unchanged (empty layout), so a receiver applies the same rules as on
  ZeroMQ or serial (``safetymon.signals.dds_client``);
- ``rt/<status_topic>``, ``diagnostic_msgs/msg/DiagnosticStatus`` (:func:`status_message`):
  level OK / WARN / ERROR for RUN / SLOW / STOP, the state in words and key/value pairs.
  Informative: it carries no CRC, sequence check or connection check a receiver can rely on.

Both are written by a heartbeat thread every ``1 / heartbeat_hz`` seconds and at once when
the state, speed scale or reasons change; every frame carries the next sequence number (u32,
wrapping) and the sender's ``time.monotonic_ns()``. QoS: reliable (``max_blocking_time``
10 ms), keep-last ``history_depth``, volatile, plain CDR (XCDR1, as ROS 2's
``rmw_cyclonedds`` writes).

Fail-safe rules on this side (as :class:`~safetymon.signals.serial_output.SerialOutput`):

- until the first :meth:`DdsOutput.set_state`, and on ``close()``, STOP is sent (reasons
  ``STARTUP`` and ``SHUTDOWN``);
- if no new decision arrived for ``state_timeout_s``, STOP with ``LOOP_OVERRUN`` is sent;
- a failed write is counted (``errors``), kept (``last_error``), flagged (``fault``, which the
  monitor turns into an OUTPUT_FAULT STOP on every output), logged and passed to
  ``on_error``; the next beat tries again. Nothing escapes the heartbeat thread, and a
  receiver sees the silence as STOP (its watchdog).

Importing this module needs the ``cyclonedds`` package (``pip install safetymon[ros2]``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from cyclonedds.core import DDSException
from cyclonedds.pub import DataWriter
from cyclonedds.qos import Policy, Qos
from cyclonedds.topic import Topic

from safetymon.config.outputs import DdsOutputConfig
from safetymon.dds.domain import join_domain
from safetymon.dds.topics import dds_topic
from safetymon.signals.dds_types import (
    LEVEL_ERROR,
    LEVEL_OK,
    LEVEL_WARN,
    DiagnosticStatus_,
    KeyValue_,
    UInt8MultiArray_,
)
from safetymon.signals.frame import SafetyFrame, SafetyState, encode_frame
from safetymon.signals.reasons import Reason

_log = logging.getLogger(__name__)

ErrorCallback = Callable[[BaseException], None]
"""Called from the heartbeat thread with each write error; must not block."""

U32_MASK = 0xFFFFFFFF
MAX_BLOCKING_NS = 10_000_000
"""Longest a reliable write may block on a full writer history, ns (keep-last: rarely)."""
CLOSE_ACK_WAIT_NS = 100_000_000
"""On close, how long to wait for matched readers to acknowledge the STOP frames, ns."""
_LEVELS = {SafetyState.RUN: LEVEL_OK, SafetyState.SLOW: LEVEL_WARN, SafetyState.STOP: LEVEL_ERROR}


def writer_qos(depth: int) -> Qos:
    """Reliable, keep-last ``depth``, volatile, XCDR1: the QoS of both writers."""
    return Qos(
        Policy.Reliability.Reliable(max_blocking_time=MAX_BLOCKING_NS),
        Policy.History.KeepLast(depth),
        Policy.Durability.Volatile,
        Policy.DataRepresentation(use_cdrv0_representation=True),
    )


def status_fields(frame: SafetyFrame) -> list[tuple[str, str]]:
    """The status message's key/value pairs for ``frame`` (all strings)."""
    return [
        ("state", frame.state.name),
        ("speed_scale", f"{frame.speed_scale:.5f}"),
        ("reasons", ",".join(Reason(frame.reasons).names)),
        ("reason_mask", f"0x{frame.reasons:08x}"),
        ("sequence", str(frame.sequence)),
        ("connection_id", str(frame.connection_id)),
        ("sender_time_ns", str(frame.sender_time_ns)),
    ]


def status_message(frame: SafetyFrame, name: str) -> DiagnosticStatus_:
    """``diagnostic_msgs/DiagnosticStatus`` describing ``frame``.

    ``level``: OK (RUN), WARN (SLOW), ERROR (STOP); ``message``: e.g. ``"SLOW at 0.420 of the
    programmed speed: SEPARATION_WARNING"``; ``hardware_id``: ``safetymon-<connection id>``.
    """
    names = ", ".join(Reason(frame.reasons).names)
    if frame.state is SafetyState.STOP:
        message = "STOP" + (f": {names}" if names else "")
    else:
        message = f"{frame.state.name} at {frame.speed_scale:.3f} of the programmed speed"
        message += f": {names}" if names else ""
    return DiagnosticStatus_(
        level=_LEVELS[frame.state],
        name=name,
        message=message,
        hardware_id=f"safetymon-{frame.connection_id}",
        values=[KeyValue_(key=k, value=v) for k, v in status_fields(frame)],
    )


class DdsOutput:
    """Publish the monitor's state as safety frames (and a status) on ROS 2 topics.

    Usage::

        out = DdsOutput(DdsOutputConfig(domain_id=0, connection_id=7))
        out.start()
        out.set_state(SafetyState.RUN, speed_scale=1.0)   # at every decision
        ...
        out.close()                                        # sends STOP, deletes the writers

    Args:
        config: domain, topics, connection id, heartbeat rate, timeouts.
        on_error: optional callback for each write error (from the heartbeat thread).
        initial_sequence: sequence number of the first frame (u32).

    Raises:
        OSError: the domain cannot be joined or a writer cannot be created (naming the
            domain); nothing is left open.
    """

    def __init__(
        self,
        config: DdsOutputConfig,
        *,
        on_error: ErrorCallback | None = None,
        initial_sequence: int = 0,
    ) -> None:
        """Join the domain and create the writers (no frame is sent before :meth:`start`)."""
        self.config = config
        self._on_error = on_error
        self._entities: list[object] = []
        try:
            self._participant = join_domain(config.domain_id, config.loopback_only)
            self._entities.append(self._participant)
            qos = writer_qos(config.history_depth)
            self._frame_writer = self._writer(config.frame_topic, UInt8MultiArray_, qos)
            self._status_writer = (
                None
                if config.status_topic is None
                else self._writer(config.status_topic, DiagnosticStatus_, qos)
            )
        except (DDSException, ValueError) as error:
            self._delete_entities()
            raise OSError(f"outputs.dds (domain {config.domain_id}): {error}") from error
        self.endpoint = (
            f"DDS domain {config.domain_id} {dds_topic(config.frame_topic)}"
            + (" (loopback)" if config.loopback_only else "")
        )
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
        """Frames written (with their status)."""
        self.errors = 0
        """Failed writes."""
        self.last_error: BaseException | None = None
        """Most recent error."""
        self.fault = False
        """True while the most recent write failed."""
        self.last_frame: SafetyFrame | None = None
        """The last frame written."""

    def _writer(self, ros_topic: str, kind: type, qos: Qos) -> DataWriter:
        topic = Topic(self._participant, dds_topic(ros_topic), kind)
        self._entities.append(topic)
        writer = DataWriter(self._participant, topic, qos=qos)
        self._entities.append(writer)
        return writer

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
            if self._closed:
                return  # closed: STOP (SHUTDOWN) was the last word
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
            st, speed, reasons = self._state, self._speed, self._reasons
            t, fresh = self._state_time, self._fresh
        if not fresh and now - t > self.config.state_timeout_s:
            return SafetyState.STOP, 0.0, reasons | int(Reason.LOOP_OVERRUN)
        return st, speed, reasons

    @property
    def matched_readers(self) -> int:
        """Frame-topic readers currently matched (0 after close or on an error)."""
        try:
            return len(self._frame_writer.get_matched_subscriptions())
        except Exception:  # a deleted writer
            return 0

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the heartbeat thread (idempotent)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="safetymon-dds", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop the heartbeat, send STOP (``SHUTDOWN``) ``stop_repeats`` times, delete the
        writers and the participant (idempotent).

        Args:
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
        for i in range(self.config.stop_repeats):
            if i:
                time.sleep(0.002)
            self._send()
        try:  # let matched readers take the STOP frames before the writer disappears
            self._frame_writer.wait_for_acks(CLOSE_ACK_WAIT_NS)
        except Exception:
            _log.debug("waiting for acknowledgements failed", exc_info=True)
        with self._io_lock:
            self._delete_entities()

    def __enter__(self) -> DdsOutput:
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
            if next_due < now:  # late (starved thread): no burst to catch up
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
        """Build and write one frame and its status; every failure is caught and reported."""
        with self._io_lock:
            try:
                if not self._entities:
                    raise OSError("the DDS writers are deleted")
                frame = self._next_frame()
                self._frame_writer.write(UInt8MultiArray_(data=encode_frame(frame)))
                if self._status_writer is not None:
                    self._status_writer.write(status_message(frame, self.config.status_name))
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
        if self.errors == 1 or self.errors % 100 == 0:
            _log.warning("DDS output %s failed (%d so far): %s", self.endpoint, self.errors, exc)
        if self._on_error is not None:
            try:
                self._on_error(exc)
            except Exception:
                _log.exception("DDS on_error callback raised")

    def _delete_entities(self) -> None:
        """Delete the writers, topics and the participant, children first (never raises)."""
        for entity in reversed(self._entities):
            try:
                entity.__del__()  # type: ignore[attr-defined]
            except Exception as error:  # closing must not raise
                _log.debug("deleting %r failed: %s", entity, error)
        self._entities = []
