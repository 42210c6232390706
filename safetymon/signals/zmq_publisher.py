"""ZeroMQ PUB output of the safety frames: heartbeat thread plus immediate publish on change.

The endpoint is bound only if it is safe to (``signals.endpoints``): an ``ipc://`` path
naming an existing file that is not a socket, or the socket of a live publisher, is refused
(OSError naming the endpoint) instead of being deleted or silently shared.

The publisher starts in STOP (reason STARTUP). If ``publish()`` has not been called for
``state_timeout_s`` (a hung decision loop) the heartbeat turns the state into STOP with
LOOP_OVERRUN instead of repeating a stale RUN. Every frame gets the next sequence number
(modulo 2**32) and the sender's ``time.monotonic_ns()``. ``close()`` (also on leaving a
``with`` block) sends STOP with reason SHUTDOWN ``stop_repeats`` times, then closes with a
linger so they are flushed. One ZeroMQ message = one frame of ``FRAME_SIZE`` bytes.

Example:
    >>> cfg = ZmqOutputConfig(endpoint="ipc:///tmp/safetymon.ipc", connection_id=7)
    >>> with ZmqPublisher(cfg) as pub:  # doctest: +SKIP
    ...     pub.publish(SafetyState.RUN, 1.0, 0)
"""

from __future__ import annotations

import threading
import time

import zmq

from safetymon.config.outputs import ZmqOutputConfig
from safetymon.signals.endpoints import EndpointInUseError, bind_checked
from safetymon.signals.frame import (
    U32_MAX,
    SafetyFrame,
    SafetyState,
    encode_frame,
    quantize_speed_scale,
)
from safetymon.signals.keys import load_keypair
from safetymon.signals.reasons import Reason


class ZmqPublisher:
    """Bind a PUB socket and publish the monitor's decision as safety frames.

    Args:
        config: endpoint, connection id, heartbeat rate, optional CURVE secret key file.
        context: ZeroMQ context to use (default: a private one, terminated on close).
        curve_keys: (public, secret) Z85 server keys; overrides ``curve_secret_key_file``.
    """

    def __init__(
        self,
        config: ZmqOutputConfig,
        *,
        context: zmq.Context | None = None,
        curve_keys: tuple[bytes, bytes] | None = None,
    ) -> None:
        """Bind the socket and start the heartbeat thread."""
        self.config = config
        if curve_keys is None and config.curve_secret_key_file:
            curve_keys = load_keypair(config.curve_secret_key_file)
        self._own_context = context is None
        self._ctx = context or zmq.Context()
        self._sock = self._ctx.socket(zmq.PUB)
        self._sock.setsockopt(zmq.LINGER, config.linger_ms)
        self._sock.setsockopt(zmq.SNDHWM, 1000)
        if curve_keys is not None:
            self._sock.curve_server = True
            self._sock.curve_publickey, self._sock.curve_secretkey = curve_keys
        try:
            bind_checked(self._sock, config.endpoint)
        except (zmq.ZMQError, EndpointInUseError) as exc:
            self._sock.close(0)
            if self._own_context:
                self._ctx.term()
            raise OSError(f"cannot bind {config.endpoint!r}: {exc}") from exc
        self.endpoint: str = self._sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self._lock = threading.Lock()
        self._sequence = 0
        self._state = SafetyState.STOP
        self._speed_scale = 0.0
        self._reasons = int(Reason.STARTUP)
        self._sent = 0
        self._closed = False
        self._last_send = time.monotonic()
        self._last_publish = self._last_send
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._heartbeat, name="safetymon-pub", daemon=True)
        self._thread.start()

    @property
    def sent(self) -> int:
        """Frames sent so far."""
        return self._sent

    @property
    def sequence(self) -> int:
        """Sequence number the next frame will carry."""
        return self._sequence

    def publish(
        self, state: SafetyState, speed_scale: float, reasons: int = 0
    ) -> SafetyFrame | None:
        """Set the decision; a change is sent at once, an unchanged one waits for the heartbeat.

        ``speed_scale`` is clamped to 0..1 (NaN: 0) and forced to 0 for STOP.
        Returns the frame sent, or None when nothing changed.

        Raises:
            ValueError: unknown state or a reason mask outside u32.
        """
        state = SafetyState(state)
        if not 0 <= int(reasons) <= U32_MAX:
            raise ValueError(f"reasons must be a u32 mask, got {reasons}")
        scale = speed_scale if state is not SafetyState.STOP and speed_scale >= 0.0 else 0.0
        scale = quantize_speed_scale(min(1.0, scale))
        with self._lock:
            if self._closed:
                raise RuntimeError("publisher is closed")
            self._last_publish = time.monotonic()
            changed = (state, scale, reasons) != (self._state, self._speed_scale, self._reasons)
            self._state, self._speed_scale, self._reasons = state, scale, int(reasons)
            return self._send_locked() if changed else None

    def close(self) -> None:
        """Send STOP (SHUTDOWN) ``stop_repeats`` times, then close the socket."""
        with self._lock:
            if self._closed:
                return
            self._state, self._speed_scale = SafetyState.STOP, 0.0
            self._reasons = int(Reason.SHUTDOWN)
            for i in range(self.config.stop_repeats):
                if i:
                    time.sleep(0.002)
                self._send_locked()
            self._closed = True
        self._wake.set()
        self._thread.join(2.0)
        self._sock.close()
        if self._own_context:
            self._ctx.term()

    def __enter__(self) -> ZmqPublisher:
        """Use as a context manager; ``close()`` on exit."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close (sending STOP) on leaving the ``with`` block, also on an exception."""
        self.close()

    def _frame_locked(self, sequence: int) -> SafetyFrame:
        return SafetyFrame(
            connection_id=self.config.connection_id,
            sequence=sequence,
            sender_time_ns=time.monotonic_ns(),
            state=self._state,
            speed_scale=self._speed_scale,
            reasons=self._reasons,
        )

    def _send_locked(self) -> SafetyFrame:
        frame = self._frame_locked(self._sequence)
        self._sock.send(encode_frame(frame), copy=True)
        self._sequence = (self._sequence + 1) & U32_MAX
        self._sent += 1
        self._last_send = time.monotonic()
        return frame

    def _heartbeat(self) -> None:
        period = 1.0 / self.config.heartbeat_hz
        while True:
            wait = self._last_send + period - time.monotonic()
            if wait > 0 and self._wake.wait(wait):
                return
            with self._lock:
                if self._closed:
                    return
                now = time.monotonic()
                stale = now - self._last_publish > self.config.state_timeout_s
                if stale and self._state is not SafetyState.STOP:
                    self._state, self._speed_scale = SafetyState.STOP, 0.0
                    self._reasons = int(Reason.LOOP_OVERRUN)
                    self._send_locked()
                elif now - self._last_send >= period * 0.999:
                    self._send_locked()
