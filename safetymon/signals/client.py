"""Controller-side client: ZeroMQ SUB, frame checks and a watchdog; fail-safe to STOP.

Imports only the standard library, pyzmq and pydantic (through the frame codec), so a
controller PC can use it without OpenCV, Numba or Shapely.

The permitted state starts as STOP and becomes RUN/SLOW only from an accepted frame. It
returns to STOP when a message is rejected (any error kind but LOSS), and stays in STOP
while rejected frames interleave with accepted ones (two publishers on the endpoint:
``second_publisher``, held 2 s after the last sign), or when no accepted frame arrived for
``watchdog_s`` -- the watchdog is also checked on every read of
:attr:`SafetyClient.state`, so a starved receive thread cannot keep a stale RUN alive.

Example:
    >>> with SafetyClient("tcp://127.0.0.1:5560", connection_id=1) as client:  # doctest: +SKIP
    ...     if client.state is SafetyState.RUN:
    ...         drive(speed=client.speed_scale)
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

import zmq
from zmq.utils.monitor import recv_monitor_message

from safetymon.signals.checker import CheckerConfig, ErrorKind, FrameChecker
from safetymon.signals.frame import SafetyState
from safetymon.signals.reasons import Reason
from safetymon.signals.second_publisher import SecondPublisherDetector

log = logging.getLogger(__name__)

_AUTH_FAILURES = (
    zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
)
_POLL_CAP_MS = 20
"""Longest poll, so that close() is noticed and the watchdog re-checked, ms."""
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
        cause: ``"frame"``, ``"startup"``, ``"watchdog"``, ``"closed"`` or
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

    def same_permission(self, other: PermittedState) -> bool:
        """Whether state, speed scale and reasons are equal (the change criterion)."""
        return (self.state, self.speed_scale, self.reasons) == (
            other.state,
            other.speed_scale,
            other.reasons,
        )


def _stop(cause: str, reasons: int, now_ns: int) -> PermittedState:
    return PermittedState(SafetyState.STOP, 0.0, reasons, cause, None, now_ns)


class SafetyClient:
    """Subscribe to a safety publisher and expose the permitted state.

    Args:
        endpoint: ZeroMQ endpoint to connect, e.g. ``tcp://10.0.0.5:5560`` or ``ipc:///run/x``.
        connection_id: the connection id configured for this monitor/controller pair.
        watchdog_s: STOP when no frame was accepted for this long, seconds.
        max_delay_s: largest accepted frame age, seconds (default: half the watchdog).
        same_clock: publisher runs on this host (shared monotonic clock: exact ages).
        curve_server_key: the publisher's Z85 public key; enables CURVE.
        curve_client_keys: this client's (public, secret) Z85 keys (default: ephemeral).
        on_change: called from the receive thread with the new :class:`PermittedState`.
        max_gap: largest accepted sequence step (further ahead: insertion).
    """

    def __init__(
        self,
        endpoint: str,
        connection_id: int,
        *,
        watchdog_s: float = 0.1,
        max_delay_s: float | None = None,
        same_clock: bool = False,
        curve_server_key: bytes | None = None,
        curve_client_keys: tuple[bytes, bytes] | None = None,
        on_change: Callable[[PermittedState], None] | None = None,
        max_gap: int = 256,
    ) -> None:
        """Configure the client; call :meth:`start` (or use ``with``) to connect."""
        if not math.isfinite(watchdog_s) or watchdog_s <= 0:
            raise ValueError(f"watchdog_s must be > 0, got {watchdog_s}")
        self.endpoint = endpoint
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
        self._curve_server_key = curve_server_key
        self._curve_client_keys = curve_client_keys
        if curve_server_key is not None and curve_client_keys is None:
            self._curve_client_keys = zmq.curve_keypair()
        self.on_change = on_change
        self._lock = threading.Lock()
        self._permitted = _stop("startup", int(Reason.STARTUP), time.monotonic_ns())
        self._deadline_ns = 0
        self._received = 0
        self._rate_times: deque[int] = deque()
        self._last_error: str = ""
        self._publishers = SecondPublisherDetector()
        self._two_publishers_logged = 0
        self._stop_event = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_error: BaseException | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> SafetyClient:
        """Start the receive thread (connects the SUB socket); returns self."""
        if self._thread is not None:
            raise RuntimeError("client already started")
        self._thread = threading.Thread(target=self._run, name="safetymon-client", daemon=True)
        self._thread.start()
        self._ready.wait(5.0)
        if self._start_error is not None:
            raise self._start_error
        return self

    def close(self) -> None:
        """Stop the receive thread and close the socket; the state becomes STOP."""
        self._stop_event.set()
        if self._thread is not None:
            self._thread.join(5.0)
        self._set(_stop("closed", int(Reason.SHUTDOWN), time.monotonic_ns()))

    def __enter__(self) -> SafetyClient:
        """Start on entering a ``with`` block."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Close on leaving a ``with`` block."""
        self.close()

    # -- what the controller reads -------------------------------------------------------
    @property
    def status(self) -> PermittedState:
        """The permitted state now, with the watchdog applied at the time of the call."""
        now = time.monotonic_ns()
        with self._lock:
            permitted, deadline = self._permitted, self._deadline_ns
        if permitted.state is not SafetyState.STOP and now > deadline:
            return _stop("watchdog", int(Reason.OUTPUT_FAULT), deadline)
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

    # -- receive thread ------------------------------------------------------------------
    def _open(self, ctx: zmq.Context) -> tuple[zmq.Socket, zmq.Socket]:
        sock = ctx.socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        if self._curve_server_key is not None:
            assert self._curve_client_keys is not None
            sock.curve_serverkey = self._curve_server_key
            sock.curve_publickey, sock.curve_secretkey = self._curve_client_keys
        sock.setsockopt(zmq.SUBSCRIBE, b"")
        monitor = sock.get_monitor_socket(_AUTH_FAILURES)
        sock.connect(self.endpoint)
        return sock, monitor

    def _run(self) -> None:
        ctx = zmq.Context()
        try:
            sock, monitor = self._open(ctx)
        except (zmq.ZMQError, ValueError, TypeError) as exc:
            self._start_error = ValueError(f"cannot connect to {self.endpoint!r}: {exc}")
            self._ready.set()
            ctx.term()
            return
        self._ready.set()
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(monitor, zmq.POLLIN)
        try:
            while not self._stop_event.is_set():
                events = dict(poller.poll(self._poll_timeout_ms()))
                if sock in events:
                    self._drain(sock)
                if monitor in events:
                    self._drain_monitor(monitor)
                self._check_watchdog()
        finally:
            sock.disable_monitor()
            monitor.close(0)
            sock.close(0)
            ctx.term()

    def _poll_timeout_ms(self) -> int:
        with self._lock:
            running = self._permitted.state is not SafetyState.STOP
            deadline = self._deadline_ns
        if not running:
            return _POLL_CAP_MS
        left_ms = math.ceil((deadline - time.monotonic_ns()) / 1e6)
        return max(0, min(_POLL_CAP_MS, left_ms))

    def _drain(self, sock: zmq.Socket) -> None:
        while True:
            try:
                parts = sock.recv_multipart(zmq.NOBLOCK, copy=True)
            except zmq.Again:
                return
            now = time.monotonic_ns()
            self._received += 1
            if len(parts) != 1:
                with self._lock:
                    self._checker.report(ErrorKind.CORRUPTION)
                self._last_error = f"corruption: message of {len(parts)} parts, expected 1"
                self._set(_stop("rejected: corruption", int(Reason.OUTPUT_FAULT), now))
                continue
            with self._lock:
                result = self._checker.check_bytes(parts[0], now)
            if result.error is not None:
                self._last_error = f"{result.error.value}: {result.detail}"
            if result.accepted and result.frame is not None:
                f = result.frame
                self._publishers.accepted(now)
                with self._lock:
                    self._deadline_ns = now + self.watchdog_ns
                    self._rate_times.append(now)
                    while self._rate_times and now - self._rate_times[0] > _RATE_WINDOW_NS:
                        self._rate_times.popleft()
                new = PermittedState(f.state, f.speed_scale, f.reasons, "frame", f.sequence, now)
                if self._publishers.active(now):  # the other stream's frames still arrive
                    new = _stop(TWO_PUBLISHERS, int(Reason.OUTPUT_FAULT), now)
            else:
                assert result.error is not None
                cause = f"rejected: {result.error.value}"
                if self._publishers.rejected(result.error, now, result.detail):
                    if self._two_publishers_logged != self._publishers.episodes:
                        self._two_publishers_logged = self._publishers.episodes
                        log.warning("%s: %s (STOP)", self.endpoint, self._publishers.detail)
                    self._last_error = self._publishers.detail
                    cause = TWO_PUBLISHERS
                new = _stop(cause, int(Reason.OUTPUT_FAULT), now)
            self._set(new)

    def _drain_monitor(self, monitor: zmq.Socket) -> None:
        while True:
            try:
                event = recv_monitor_message(monitor, zmq.NOBLOCK)
            except zmq.Again:
                return
            if event["event"] & _AUTH_FAILURES:
                now = time.monotonic_ns()
                with self._lock:
                    self._checker.report(ErrorKind.MASQUERADE)
                self._last_error = f"masquerade: CURVE handshake failed ({event['value']})"
                self._set(_stop("rejected: masquerade", int(Reason.OUTPUT_FAULT), now))

    def _check_watchdog(self) -> None:
        with self._lock:
            expired = (
                self._permitted.state is not SafetyState.STOP
                and time.monotonic_ns() > self._deadline_ns
            )
            deadline = self._deadline_ns
        if expired:
            self._set(_stop("watchdog", int(Reason.OUTPUT_FAULT), deadline))

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
