"""Controller-side client for the ROS 2 (DDS) safety output; fail-safe to STOP.

Reads ``std_msgs/msg/UInt8MultiArray`` samples on ``rt/<frame_topic>`` of a DDS domain
(``safetymon.signals.dds_output`` writes them) and hands each sample's ``data`` -- the
32-byte frame, unchanged -- to :class:`~safetymon.signals.receiver.FrameReceiver`: the same
frame checks, two-publisher rule and watchdog as the ZeroMQ
:class:`~safetymon.signals.client.SafetyClient` (hw/PROTOCOL.md, "Receiver rules"). One DDS
sample is one transport unit; ``layout`` is ignored. A sample the binding cannot decode is
*corruption* (STOP). Samples without data (a writer that went away) are not messages: the
watchdog turns the silence into STOP.

Reader QoS: reliable, keep-last ``depth`` (default 8: a burst from two publishers is still
seen whole, so the two-publisher rule can tell them apart), volatile -- a late joiner is
never handed a frame from the past.

DDS without DDS-Security authenticates nobody: see docs/ROS2.md for what the frame checks
still catch. Importing this module needs the ``cyclonedds`` package.

Example:
    >>> with DdsSafetyClient(1, domain_id=0) as client:  # doctest: +SKIP
    ...     if client.state is SafetyState.RUN:
    ...         drive(speed=client.speed_scale)
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

from cyclonedds.core import (
    DDSException,
    InstanceState,
    ReadCondition,
    SampleState,
    ViewState,
    WaitSet,
)
from cyclonedds.qos import Policy, Qos
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration

from safetymon.dds.domain import join_domain
from safetymon.dds.topics import dds_topic
from safetymon.signals.checker import ErrorKind
from safetymon.signals.dds_types import UInt8MultiArray_
from safetymon.signals.frame import SafetyState
from safetymon.signals.receiver import FrameReceiver, PermittedState

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_FRAME_TOPIC", "DdsSafetyClient", "PermittedState", "SafetyState"]

DEFAULT_FRAME_TOPIC = "/safetymon/safety_frame"
"""The frame topic of ``outputs.dds`` unless the site sets another."""
TAKE_MAX = 64
"""Samples taken per wake-up."""


def reader_qos(depth: int) -> Qos:
    """Reliable, keep-last ``depth``, volatile: the frame reader's QoS."""
    return Qos(
        Policy.Reliability.Reliable(max_blocking_time=0),
        Policy.History.KeepLast(depth),
        Policy.Durability.Volatile,
    )


class DdsSafetyClient(FrameReceiver):
    """Subscribe to the safety frames on a DDS domain and expose the permitted state.

    Args:
        connection_id: the connection id configured for this monitor/controller pair.
        domain_id: DDS domain id (ROS_DOMAIN_ID), 0..232.
        loopback_only: join the domain on loopback only (the monitor runs on this host).
        frame_topic: ROS 2 topic of the frames.
        watchdog_s: STOP when no frame was accepted for this long, seconds.
        max_delay_s: largest accepted frame age, seconds (default: half the watchdog).
        same_clock: publisher runs on this host (shared monotonic clock: exact ages).
        on_change: called from the receive thread with the new :class:`PermittedState`.
        max_gap: largest accepted sequence step (further ahead: insertion).
        depth: reader keep-last depth, samples.
    """

    def __init__(
        self,
        connection_id: int,
        *,
        domain_id: int = 0,
        loopback_only: bool = True,
        frame_topic: str = DEFAULT_FRAME_TOPIC,
        watchdog_s: float = 0.1,
        max_delay_s: float | None = None,
        same_clock: bool = False,
        on_change: Callable[[PermittedState], None] | None = None,
        max_gap: int = 256,
        depth: int = 8,
    ) -> None:
        """Configure the client; call :meth:`start` (or use ``with``) to join the domain."""
        if not 0 <= domain_id <= 232:
            raise ValueError(f"domain_id must be 0..232, got {domain_id}")
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.endpoint = (
            f"DDS domain {domain_id} {dds_topic(frame_topic)}"
            + (" (loopback)" if loopback_only else "")
        )
        super().__init__(
            connection_id,
            watchdog_s=watchdog_s,
            max_delay_s=max_delay_s,
            same_clock=same_clock,
            on_change=on_change,
            max_gap=max_gap,
            source=self.endpoint,
        )
        self.domain_id = domain_id
        self.loopback_only = loopback_only
        self.frame_topic = frame_topic
        self.depth = depth
        self._entities: list[object] = []
        self._reader: DataReader | None = None
        self._waitset: WaitSet | None = None
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> DdsSafetyClient:
        """Join the domain, create the reader and start the receive thread; returns self.

        Raises:
            OSError: the domain cannot be joined or the reader cannot be created (naming the
                domain and topic); nothing is left open.
        """
        if self._thread is not None:
            raise RuntimeError("client already started")
        try:
            participant = join_domain(self.domain_id, self.loopback_only)
            self._entities.append(participant)
            topic = Topic(participant, dds_topic(self.frame_topic), UInt8MultiArray_)
            self._entities.append(topic)
            self._reader = DataReader(participant, topic, qos=reader_qos(self.depth))
            self._entities.append(self._reader)
            mask = SampleState.Any | ViewState.Any | InstanceState.Any
            condition = ReadCondition(self._reader, mask)
            self._entities.append(condition)
            self._waitset = WaitSet(participant)
            self._waitset.attach(condition)
        except (DDSException, ValueError) as error:
            self._release()
            raise OSError(f"cannot subscribe to {self.endpoint}: {error}") from error
        self._thread = threading.Thread(
            target=self._run, name="safetymon-dds-client", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the receive thread and delete the reader; the state becomes STOP."""
        self._stop_event.set()
        if self._thread is not None:
            self._thread.join(5.0)
        self._release()
        self.set_closed()

    def __enter__(self) -> DdsSafetyClient:
        """Start on entering a ``with`` block."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Close on leaving a ``with`` block."""
        self.close()

    @property
    def matched_publishers(self) -> int:
        """Frame writers currently matched (discovered) on the topic."""
        reader = self._reader
        if reader is None:
            return 0
        try:
            return len(reader.get_matched_publications())
        except Exception:  # a deleted reader
            return 0

    # -- receive thread ------------------------------------------------------------------
    def _run(self) -> None:
        waitset, reader = self._waitset, self._reader
        assert waitset is not None and reader is not None
        try:
            while not self._stop_event.is_set():
                waitset.wait(duration(milliseconds=self.poll_timeout_ms()))
                self._drain(reader)
                self.check_watchdog()
        except Exception:  # reading the state still applies the watchdog: STOP follows
            log.exception("%s: the receive thread failed", self.endpoint)
            self.fail("the receive thread failed", time.monotonic_ns())

    def _drain(self, reader: DataReader) -> None:
        while True:
            try:
                samples = reader.take(N=TAKE_MAX)
            except Exception as error:  # a sample the binding cannot decode
                self.reject(
                    ErrorKind.CORRUPTION,
                    f"DDS sample could not be decoded: {type(error).__name__}: "
                    f"{str(error)[:200]}",
                    time.monotonic_ns(),
                )
                return  # the waitset wakes again while samples remain
            if not samples:
                return
            now = time.monotonic_ns()
            for sample in samples:
                if not getattr(sample.sample_info, "valid_data", False):
                    continue  # a writer went away or was disposed: not a message
                data = sample.data
                self.receive(data if isinstance(data, bytes) else bytes(data), now)

    def _release(self) -> None:
        """Delete the DDS entities, children first (the participant last); never raises."""
        doomed = [self._waitset, *reversed(self._entities)]
        for entity in doomed:
            if entity is not None:
                with contextlib.suppress(Exception):  # closing must not raise
                    entity.__del__()  # type: ignore[attr-defined]
        self._entities = []
        self._waitset = None
        self._reader = None
