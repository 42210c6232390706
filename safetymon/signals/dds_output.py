"""ROS 2 (DDS) output: each safety frame's exact bytes, and a status message, on DDS topics.

On the site's ``outputs.dds`` domain (Cyclone DDS; loopback only by default) two writers:

- ``rt/<frame_topic>``, ``std_msgs/msg/UInt8MultiArray``: ``data`` is the 32-byte frame of
  hw/PROTOCOL.md, unchanged (empty layout), so a receiver applies the same rules as on
  ZeroMQ or serial (``safetymon.signals.dds_client``);
- ``rt/<status_topic>``, ``diagnostic_msgs/msg/DiagnosticStatus`` (:func:`status_message`):
  level OK / WARN / ERROR for RUN / SLOW / STOP, the state in words and key/value pairs.
  Informative: it carries no CRC, sequence check or connection check a receiver can rely on.

Both are written by the heartbeat (:mod:`safetymon.signals.heartbeat`, shared with the
serial output) every ``1 / heartbeat_hz`` seconds and at once when the state, speed scale or
reasons change. QoS: reliable (``max_blocking_time`` 10 ms), keep-last ``history_depth``,
volatile, plain CDR (XCDR1, as ROS 2's ``rmw_cyclonedds`` writes).

Fail-safe rules on this side are the heartbeat's: STOP (``STARTUP``) until the first decision,
STOP (``SHUTDOWN``) ``stop_repeats`` times on ``close()``, STOP (``LOOP_OVERRUN``) when no
decision came for ``state_timeout_s``; a failed write is counted, flagged (``fault``, which
the monitor turns into an OUTPUT_FAULT STOP on every output), logged and passed to
``on_error``, and the next beat tries again. A receiver sees silence as STOP (its watchdog).

Importing this module needs the ``cyclonedds`` package (``pip install safetymon[ros2]``).
"""

from __future__ import annotations

import logging

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
from safetymon.signals.heartbeat import ErrorCallback, HeartbeatOutput
from safetymon.signals.reasons import Reason

_log = logging.getLogger(__name__)

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


def status_fields(
    frame: SafetyFrame, reason_names: tuple[str, ...] | None = None
) -> list[tuple[str, str]]:
    """The status message's key/value pairs for ``frame`` (all strings); ``reason_names``
    are ``Reason(frame.reasons).names`` when the caller has them already."""
    names = Reason(frame.reasons).names if reason_names is None else reason_names
    return [
        ("state", frame.state.name),
        ("speed_scale", f"{frame.speed_scale:.5f}"),
        ("reasons", ",".join(names)),
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
    reason_names = tuple(Reason(frame.reasons).names)  # once per frame, for both uses
    names = ", ".join(reason_names)
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
        values=[KeyValue_(key=k, value=v) for k, v in status_fields(frame, reason_names)],
    )


class DdsOutput(HeartbeatOutput):
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

    thread_name = "safetymon-dds"
    stop_frame_gap_s = 0.002

    def __init__(
        self,
        config: DdsOutputConfig,
        *,
        on_error: ErrorCallback | None = None,
        initial_sequence: int = 0,
    ) -> None:
        """Join the domain and create the writers (no frame is sent before :meth:`start`)."""
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
            self._close_transport()
            raise OSError(f"outputs.dds (domain {config.domain_id}): {error}") from error
        self.endpoint = (
            f"DDS domain {config.domain_id} {dds_topic(config.frame_topic)}"
            + (" (loopback)" if config.loopback_only else "")
        )
        super().__init__(
            config, label=f"DDS output {self.endpoint}", on_error=on_error,
            initial_sequence=initial_sequence,
        )  # fmt: skip
        self.config: DdsOutputConfig = config

    def _writer(self, ros_topic: str, kind: type, qos: Qos) -> DataWriter:
        topic = Topic(self._participant, dds_topic(ros_topic), kind)
        self._entities.append(topic)
        writer = DataWriter(self._participant, topic, qos=qos)
        self._entities.append(writer)
        return writer

    @property
    def matched_readers(self) -> int:
        """Frame-topic readers currently matched (0 after close or on an error)."""
        try:
            return len(self._frame_writer.get_matched_subscriptions())
        except Exception:  # a deleted writer
            return 0

    def close(self, stop_frames: int | None = None, timeout_s: float = 2.0) -> None:
        """Stop the heartbeat, send STOP (``SHUTDOWN``) ``stop_repeats`` times (or
        ``stop_frames``), delete the writers and the participant (idempotent).

        Args:
            stop_frames: STOP frames to send; default the config's ``stop_repeats``.
            timeout_s: seconds to wait for the heartbeat thread to finish a write.
        """
        repeats = self.config.stop_repeats if stop_frames is None else stop_frames
        super().close(repeats, timeout_s)

    def __enter__(self) -> DdsOutput:
        """Start the heartbeat on entering a ``with`` block."""
        self.start()
        return self

    def _write_frame(self, frame: SafetyFrame) -> None:
        if not self._entities:
            raise OSError("the DDS writers are deleted")
        self._frame_writer.write(UInt8MultiArray_(data=encode_frame(frame)))
        if self._status_writer is not None:
            self._status_writer.write(status_message(frame, self.config.status_name))

    def _before_close_transport(self) -> None:
        try:  # let matched readers take the STOP frames before the writer disappears
            self._frame_writer.wait_for_acks(CLOSE_ACK_WAIT_NS)
        except Exception:
            _log.debug("waiting for acknowledgements failed", exc_info=True)

    def _close_transport(self) -> None:
        """Delete the writers, topics and the participant, children first (never raises)."""
        for entity in reversed(self._entities):
            try:
                entity.__del__()  # type: ignore[attr-defined]
            except Exception as error:  # closing must not raise
                _log.debug("deleting %r failed: %s", entity, error)
        self._entities = []
