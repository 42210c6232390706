"""Controller-side client: ZeroMQ SUB, frame checks and a watchdog; fail-safe to STOP.

Imports only the standard library, pyzmq and pydantic (through the frame codec), so a
controller PC can use it without OpenCV, Numba or Shapely.

The checks, the two-publisher rule, the watchdog and the permitted state are
:class:`~safetymon.signals.receiver.FrameReceiver`'s (shared with the DDS client,
``safetymon.signals.dds_client``); this module adds the ZeroMQ transport. The permitted
state starts as STOP and becomes RUN/SLOW only from an accepted frame. It returns to STOP
when a message is rejected (any error kind but LOSS), and stays in STOP while rejected
frames interleave with accepted ones (two publishers on the endpoint: ``second_publisher``,
held 2 s after the last sign), or when no accepted frame arrived for ``watchdog_s`` -- the
watchdog is also checked on every read of :attr:`SafetyClient.state`, so a starved receive
thread cannot keep a stale RUN alive.

Example:
    >>> with SafetyClient("tcp://127.0.0.1:5560", connection_id=1) as client:  # doctest: +SKIP
    ...     if client.state is SafetyState.RUN:
    ...         drive(speed=client.speed_scale)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import zmq
from zmq.utils.monitor import recv_monitor_message

from safetymon.signals.checker import ErrorKind
from safetymon.signals.frame import SafetyState
from safetymon.signals.receiver import TWO_PUBLISHERS, FrameReceiver, PermittedState

__all__ = ["TWO_PUBLISHERS", "PermittedState", "SafetyClient", "SafetyState"]

_AUTH_FAILURES = (
    zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
)


class SafetyClient(FrameReceiver):
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
        super().__init__(
            connection_id,
            watchdog_s=watchdog_s,
            max_delay_s=max_delay_s,
            same_clock=same_clock,
            on_change=on_change,
            max_gap=max_gap,
            source=endpoint,
        )
        self.endpoint = endpoint
        self._curve_server_key = curve_server_key
        self._curve_client_keys = curve_client_keys
        if curve_server_key is not None and curve_client_keys is None:
            self._curve_client_keys = zmq.curve_keypair()
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
        self.set_closed()

    def __enter__(self) -> SafetyClient:
        """Start on entering a ``with`` block."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Close on leaving a ``with`` block."""
        self.close()

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
                events = dict(poller.poll(self.poll_timeout_ms()))
                if sock in events:
                    self._drain(sock)
                if monitor in events:
                    self._drain_monitor(monitor)
                self.check_watchdog()
        finally:
            sock.disable_monitor()
            monitor.close(0)
            sock.close(0)
            ctx.term()

    def _drain(self, sock: zmq.Socket) -> None:
        while True:
            try:
                parts = sock.recv_multipart(zmq.NOBLOCK, copy=True)
            except zmq.Again:
                return
            now = time.monotonic_ns()
            if len(parts) != 1:
                self.reject(
                    ErrorKind.CORRUPTION, f"message of {len(parts)} parts, expected 1", now
                )
                continue
            self.receive(parts[0], now)

    def _drain_monitor(self, monitor: zmq.Socket) -> None:
        while True:
            try:
                event = recv_monitor_message(monitor, zmq.NOBLOCK)
            except zmq.Again:
                return
            if event["event"] & _AUTH_FAILURES:
                self.reject(
                    ErrorKind.MASQUERADE,
                    f"CURVE handshake failed ({event['value']})",
                    time.monotonic_ns(),
                    received=False,
                )
