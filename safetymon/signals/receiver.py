"""The transport-independent part of a controller-side receiver: checks, watchdog, state.

:class:`FrameReceiver` is what ``SafetyClient`` (ZeroMQ) and ``DdsSafetyClient`` (ROS 2 over
DDS) share: each received message goes through the :class:`~safetymon.signals.checker.
FrameChecker` (hw/PROTOCOL.md, "Receiver rules") and the two-publisher rule
(:mod:`safetymon.signals.second_publisher`); the permitted state and the watchdog deadline
live here. A transport subclass only runs a receive thread that hands every message's bytes
to :meth:`FrameReceiver.receive` with its receive time, reports errors it finds itself
(a multi-part message, a failed handshake, an undecodable sample) with
:meth:`FrameReceiver.reject`, and calls :meth:`FrameReceiver.check_watchdog` at least every
:meth:`FrameReceiver.poll_timeout_ms`.

The permitted state starts as STOP and becomes RUN/SLOW only from an accepted frame. It
returns to STOP when a message is rejected (any error kind but LOSS), and stays in STOP
while rejected frames interleave with accepted ones (two publishers: held 2 s after the last
sign), or when no accepted frame arrived for ``watchdog_s`` -- the watchdog is also applied on
every read of :attr:`FrameReceiver.status`, so a starved receive thread cannot keep a stale
RUN alive. Times are the receiver's ``time.monotonic_ns()``, nanoseconds.

No I/O and no threads of its own; imports only the frame codec's light dependencies.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from safetymon.signals.checker import CheckerConfig, ErrorKind, FrameChecker
from safetymon.signals.frame import SafetyState
from safetymon.signals.reasons import Reason
from safetymon.signals.second_publisher import SecondPublisherDetector

log = logging.getLogger(__name__)

POLL_CAP_MS = 20
"""Longest wait of a receive thread, so that close() is noticed and the watchdog re-checked, ms."""
_RATE_WINDOW_NS = 1_000_000_000
TWO_PUBLISHERS = "rejected: two publishers"
"""The permitted state's cause while two publishers' frames interleave (STOP that holds)."""


@dataclass(frozen=True)
class PermittedState:
    """What the controller may do now.

    Attributes:
        state: permitted state (STOP unless a valid frame says otherwise).
        speed_scale: permitted speed fraction 0..1 (0 for STOP).
        reasons: reason mask (the frame's, or a client-side one for client STOPs).
        cause: ``"frame"``, ``"startup"``, ``"watchdog"``, ``"closed"``, ``"failed"`` or
            ``"rejected: <error kind>"``.
        sequence: sequence number of the frame behind this state, if any.
        since_ns: receiver monotonic time of the change, ns.
    """

    state: SafetyState
    speed_scale: float
    reasons: int
    cause: str
    sequence: int | None
    since_ns: int

    def allowed_scale(self) -> float:
        """The speed scale (0..1) this permits: RUN 1, SLOW its scale (clipped), else 0."""
        if self.state is SafetyState.RUN:
            return 1.0
        if self.state is SafetyState.SLOW:
            return min(1.0, max(0.0, float(self.speed_scale)))
        return 0.0

    def same_permission(self, other: PermittedState) -> bool:
        """Whether state, speed scale and reasons are equal (the change criterion)."""
        return (self.state, self.speed_scale, self.reasons) == (
            other.state,
            other.speed_scale,
            other.reasons,
        )


def stop_state(cause: str, reasons: int, now_ns: int) -> PermittedState:
    """A STOP permitted state with this cause and reason mask, since ``now_ns``."""
    return PermittedState(SafetyState.STOP, 0.0, reasons, cause, None, now_ns)


class FrameReceiver:
    """Permitted state from received frames (see the module docstring); thread-safe.

    Args:
        connection_id: the connection id configured for this monitor/controller pair.
        watchdog_s: STOP when no frame was accepted for this long, seconds.
        max_delay_s: largest accepted frame age, seconds (default: half the watchdog).
        same_clock: publisher runs on this host (shared monotonic clock: exact ages).
        on_change: called (from the receiving thread) with each new :class:`PermittedState`.
        max_gap: largest accepted sequence step (further ahead: insertion).
        source: where the frames come from, for log lines (an endpoint, a DDS topic).

    Raises:
        ValueError: ``watchdog_s`` is not a finite number > 0.
    """

    def __init__(
        self,
        connection_id: int,
        *,
        watchdog_s: float = 0.1,
        max_delay_s: float | None = None,
        same_clock: bool = False,
        on_change: Callable[[PermittedState], None] | None = None,
        max_gap: int = 256,
        source: str = "",
    ) -> None:
        """Start in STOP (cause ``startup``)."""
        if not math.isfinite(watchdog_s) or watchdog_s <= 0:
            raise ValueError(f"watchdog_s must be > 0, got {watchdog_s}")
        self.source = source
        self.watchdog_ns = int(watchdog_s * 1e9)
        delay = watchdog_s / 2 if max_delay_s is None else max_delay_s
        self._checker = FrameChecker(
            CheckerConfig(
                connection_id=connection_id,
                max_delay_ns=int(delay * 1e9),
                max_gap=max_gap,
                resync_after_ns=self.watchdog_ns,
                same_clock=same_clock,
            )
        )
        self.on_change = on_change
        self._lock = threading.Lock()
        self._permitted = stop_state("startup", int(Reason.STARTUP), time.monotonic_ns())
        self._deadline_ns = 0
        self._received = 0
        self._rate_times: deque[int] = deque()
        self._last_error: str = ""
        self._publishers = SecondPublisherDetector()
        self._two_publishers_logged = 0

    # -- what the controller reads -------------------------------------------------------
    @property
    def status(self) -> PermittedState:
        """The permitted state now, with the watchdog applied at the time of the call."""
        now = time.monotonic_ns()
        with self._lock:
            permitted, deadline = self._permitted, self._deadline_ns
        if permitted.state is not SafetyState.STOP and now > deadline:
            return stop_state("watchdog", int(Reason.OUTPUT_FAULT), deadline)
        return permitted

    @property
    def state(self) -> SafetyState:
        """Permitted state now (STOP on silence, rejection, start-up or close)."""
        return self.status.state

    @property
    def speed_scale(self) -> float:
        """Permitted speed fraction 0..1 now (0 when STOP)."""
        return self.status.speed_scale

    @property
    def reasons(self) -> int:
        """Reason mask of the permitted state now."""
        return self.status.reasons

    @property
    def counters(self) -> dict[str, int]:
        """Error counters per IEC 61784-3 kind (``ErrorKind`` values as keys)."""
        with self._lock:
            return {kind.value: n for kind, n in self._checker.counters.items()}

    @property
    def two_publishers(self) -> int:
        """Episodes of two publishers on the endpoint (``second_publisher``) so far."""
        return self._publishers.episodes

    @property
    def received(self) -> int:
        """Messages received (valid or not)."""
        return self._received

    @property
    def accepted(self) -> int:
        """Frames accepted."""
        return self._checker.accepted

    @property
    def last_error(self) -> str:
        """Explanation of the last rejected or lossy message ('' if none)."""
        return self._last_error

    @property
    def message_rate_hz(self) -> float:
        """Accepted frames per second over the last second (0 when fewer than two)."""
        now = time.monotonic_ns()
        with self._lock:
            times = [t for t in self._rate_times if now - t <= _RATE_WINDOW_NS]
        if len(times) < 2 or now == times[0]:
            return 0.0
        # measured up to now, so the rate falls when frames stop arriving
        return (len(times) - 1) * 1e9 / (now - times[0])

    def wait_for(self, state: SafetyState, timeout_s: float) -> bool:
        """Poll until the permitted state equals ``state``; False on timeout (for tools/tests)."""
        end = time.monotonic() + timeout_s
        while True:
            if self.state is state:
                return True
            if time.monotonic() >= end:
                return False
            time.sleep(0.001)

    # -- what a transport calls ----------------------------------------------------------
    def receive(self, data: bytes, now_ns: int) -> PermittedState:
        """Check one received message (its whole payload) received at ``now_ns``.

        Returns the permitted state it leads to (STOP unless accepted and no second
        publisher holds).
        """
        self._received += 1
        with self._lock:
            result = self._checker.check_bytes(data, now_ns)
        if result.error is not None:
            self._last_error = f"{result.error.value}: {result.detail}"
        if result.accepted and result.frame is not None:
            f = result.frame
            self._publishers.accepted(now_ns)
            with self._lock:
                self._deadline_ns = now_ns + self.watchdog_ns
                self._rate_times.append(now_ns)
                while self._rate_times and now_ns - self._rate_times[0] > _RATE_WINDOW_NS:
                    self._rate_times.popleft()
            new = PermittedState(f.state, f.speed_scale, f.reasons, "frame", f.sequence, now_ns)
            if self._publishers.active(now_ns):  # the other stream's frames still arrive
                new = stop_state(TWO_PUBLISHERS, int(Reason.OUTPUT_FAULT), now_ns)
        else:
            assert result.error is not None
            cause = f"rejected: {result.error.value}"
            if self._publishers.rejected(result.error, now_ns, result.detail):
                if self._two_publishers_logged != self._publishers.episodes:
                    self._two_publishers_logged = self._publishers.episodes
                    log.warning("%s: %s (STOP)", self.source, self._publishers.detail)
                self._last_error = self._publishers.detail
                cause = TWO_PUBLISHERS
            new = stop_state(cause, int(Reason.OUTPUT_FAULT), now_ns)
        self._set(new)
        return new

    def reject(
        self, kind: ErrorKind, detail: str, now_ns: int, *, received: bool = True
    ) -> None:
        """An error the transport found outside the frame checks: count it, STOP at once.

        Args:
            kind: the error kind (e.g. CORRUPTION for a multi-part message, MASQUERADE for a
                failed CURVE handshake).
            detail: what was wrong, for :attr:`last_error`.
            now_ns: receiver monotonic time, ns.
            received: whether a message arrived (counted in :attr:`received`).
        """
        if received:
            self._received += 1
        with self._lock:
            self._checker.report(kind)
        self._last_error = f"{kind.value}: {detail}"
        self._set(stop_state(f"rejected: {kind.value}", int(Reason.OUTPUT_FAULT), now_ns))

    def poll_timeout_ms(self, cap_ms: int = POLL_CAP_MS) -> int:
        """How long a receive thread may wait before the watchdog must be re-checked, ms."""
        with self._lock:
            running = self._permitted.state is not SafetyState.STOP
            deadline = self._deadline_ns
        if not running:
            return cap_ms
        left_ms = math.ceil((deadline - time.monotonic_ns()) / 1e6)
        return max(0, min(cap_ms, left_ms))

    def check_watchdog(self) -> None:
        """STOP (cause ``watchdog``) when the deadline of the last accepted frame has passed."""
        with self._lock:
            expired = (
                self._permitted.state is not SafetyState.STOP
                and time.monotonic_ns() > self._deadline_ns
            )
            deadline = self._deadline_ns
        if expired:
            self._set(stop_state("watchdog", int(Reason.OUTPUT_FAULT), deadline))

    def fail(self, detail: str, now_ns: int) -> None:
        """The transport cannot receive any more (its thread failed): STOP for good
        (cause ``failed``, reason INTERNAL_ERROR)."""
        self._last_error = f"failed: {detail}"
        self._set(stop_state("failed", int(Reason.INTERNAL_ERROR | Reason.OUTPUT_FAULT), now_ns))

    def set_closed(self) -> None:
        """STOP for good (cause ``closed``, reason SHUTDOWN): the transport has closed."""
        self._set(stop_state("closed", int(Reason.SHUTDOWN), time.monotonic_ns()))

    def _set(self, new: PermittedState) -> None:
        with self._lock:
            old = self._permitted
            if new.same_permission(old):
                if new.cause == "frame":  # keep sequence fresh without a callback
                    self._permitted = replace(old, sequence=new.sequence)
                elif new.cause != old.cause:  # same STOP, newer cause (e.g. two publishers)
                    self._permitted = replace(old, cause=new.cause)
                return
            self._permitted = new
        callback = self.on_change
        if callback is not None:
            try:
                callback(new)
            except Exception:  # a broken callback must not stop the watchdog
                log.exception("on_change callback failed")
