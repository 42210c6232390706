"""Serial output: the safety frame, COBS-framed, at a fixed heartbeat rate.

Each frame is ``COBS(encode_frame(frame)) + b"\\x00"`` (hw/PROTOCOL.md; byte framing in
:mod:`safetymon.signals.cobs`). A heartbeat thread sends the current state every
``1 / heartbeat_hz`` seconds and at once when the state, speed scale or reasons change; each
frame carries the next sequence number (u32, wrapping) and the sender's ``time.monotonic_ns()``.
The receiver (e.g. the stop-relay board in ``hw/firmware/``) closes its relay only while valid
RUN/SLOW frames keep arriving, so silence from this process is STOP there.

Fail-safe rules on this side are the heartbeat's (:mod:`safetymon.signals.heartbeat`: STOP
until the first decision and on close, LOOP_OVERRUN STOP when decisions stop, every failure
counted, flagged and reported, nothing escaping the thread); a write error or write timeout
also closes the port, which is reopened on the next beat.

The port is anything ``serial.serial_for_url`` accepts: ``/dev/ttyACM0``, a pty path,
``rfc2217://host:port``, ``loop://``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

import serial

from safetymon.config.outputs import SerialOutputConfig
from safetymon.signals.cobs import DELIMITER, encode_packet
from safetymon.signals.frame import SafetyFrame, encode_frame
from safetymon.signals.heartbeat import ErrorCallback, HeartbeatOutput

_log = logging.getLogger(__name__)


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


class SerialOutput(HeartbeatOutput):
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

    thread_name = "safetymon-serial"

    def __init__(
        self,
        config: SerialOutputConfig,
        *,
        on_error: ErrorCallback | None = None,
        port_factory: Callable[[SerialOutputConfig], SerialPort] = open_port,
        initial_sequence: int = 0,
    ) -> None:
        super().__init__(
            config, label=f"serial output {config.port}", on_error=on_error,
            initial_sequence=initial_sequence,
        )  # fmt: skip
        self.config: SerialOutputConfig = config
        self._port_factory = port_factory
        self._port: SerialPort | None = None
        self.reopens = 0
        """Successful opens after the first one."""

    def __enter__(self) -> SerialOutput:
        """Start the heartbeat on entering a ``with`` block."""
        self.start()
        return self

    def _write_frame(self, frame: SafetyFrame) -> None:
        wire = encode_packet(encode_frame(frame))
        if self._port is None:
            self._port = self._port_factory(self.config)
            if self.frames_sent or self.errors:
                self.reopens += 1
            wire = DELIMITER + wire  # flush whatever partial packet the receiver holds
        self._port.write(wire)

    def _after_failure(self) -> None:
        self._close_transport()  # reopen on the next beat

    def _close_transport(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            except Exception:  # closing a broken port
                _log.debug("closing the serial port failed", exc_info=True)
            self._port = None
