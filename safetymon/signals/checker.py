"""Receiver-side checks of the black channel (IEC 61784-3 errors), pure: no I/O, no threads.

A :class:`FrameChecker` is given each received message (bytes or a decoded frame) with its
receive time on the receiver's monotonic clock (ns) and accepts or rejects it with one
:class:`ErrorKind`. Checks, in order (hw/PROTOCOL.md, "Receiver rules"):

1. decode (length, CRC, magic, version, fields)        -> ``CORRUPTION``
2. connection id equals the configured one              -> ``ADDRESSING``
3. sequence (serial-number arithmetic modulo 2**32), relative to the last accepted frame:
   same -> ``UNINTENDED_REPETITION``; behind -> ``INCORRECT_SEQUENCE``;
   more than ``max_gap`` ahead -> ``INSERTION``; 2..max_gap ahead -> accepted, the frames in
   between are counted as ``LOSS``
4. sender clock consistency: sender time must increase with the sequence and must not be
   younger than the clock relation allows                -> ``MASQUERADE``
5. age (extra transit delay, see below) <= ``max_delay_ns`` -> else ``UNACCEPTABLE_DELAY``

Delay without a shared clock: the transit ``receive_time - sender_time`` equals the unknown
clock offset plus the delay. The offset estimate is the smallest transit seen (the fastest
message), allowed to rise by at most ``max_drift_ppm`` of the elapsed receive time so a
clock-rate difference does not pile up; a frame's age is its transit minus the estimate.
With ``same_clock=True`` (sender and receiver on one host, one ``CLOCK_MONOTONIC``) the
offset is 0 and the age is exact. Limits: the first frame after (re)synchronisation sets
the reference, and a delay that grows slower than the drift allowance is not seen by this
check; the receiver's watchdog still bounds the time between fresh frames.

Rejected frames never change the checker's state. After ``resync_after_ns`` without an
accepted frame (the receiver's watchdog has already reported STOP), the next valid frame with
the right connection id re-synchronises sequence and clock (e.g. a restarted publisher).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from safetymon.signals.frame import ProtocolError, SafetyFrame, decode_frame

SEQ_MODULUS = 1 << 32
"""Sequence numbers wrap modulo 2**32 (0xFFFFFFFF is followed by 0)."""


class ErrorKind(str, Enum):
    """The eight communication errors of IEC 61784-3, as counted by a receiver."""

    CORRUPTION = "corruption"
    UNINTENDED_REPETITION = "unintended_repetition"
    INCORRECT_SEQUENCE = "incorrect_sequence"
    LOSS = "loss"
    UNACCEPTABLE_DELAY = "unacceptable_delay"
    INSERTION = "insertion"
    MASQUERADE = "masquerade"
    ADDRESSING = "addressing"


@dataclass(frozen=True)
class CheckerConfig:
    """Receiver parameters.

    Attributes:
        connection_id: the connection id this receiver expects (u32).
        max_delay_ns: largest accepted age of a frame, ns.
        max_gap: largest accepted sequence step; further ahead is an insertion.
        resync_after_ns: without an accepted frame for this long, re-synchronise, ns.
        same_clock: sender and receiver share one monotonic clock (offset 0).
        max_drift_ppm: how fast the clock-offset estimate may rise, parts per million.
        clock_tolerance_ns: how much younger than the clock relation a frame may look, ns.
    """

    connection_id: int
    max_delay_ns: int = 50_000_000
    max_gap: int = 256
    resync_after_ns: int = 100_000_000
    same_clock: bool = False
    max_drift_ppm: float = 500.0
    clock_tolerance_ns: int = 50_000_000


@dataclass(frozen=True)
class CheckResult:
    """Outcome of checking one message.

    Attributes:
        accepted: the frame may refresh the receiver's permitted state.
        frame: the decoded frame (None when it could not be decoded).
        error: why it was rejected; ``LOSS`` on an accepted frame after a gap; else None.
        lost: frames missing before this accepted frame.
        age_ns: estimated age of the frame (None when rejected before the age check).
        detail: human-readable explanation.
    """

    accepted: bool
    frame: SafetyFrame | None
    error: ErrorKind | None = None
    lost: int = 0
    age_ns: int | None = None
    detail: str = ""


class FrameChecker:
    """Stateful, pure checker for one connection (see the module docstring)."""

    def __init__(self, config: CheckerConfig) -> None:
        """Create a checker; it starts unsynchronised."""
        self.config = config
        self.counters: dict[ErrorKind, int] = dict.fromkeys(ErrorKind, 0)
        self.accepted = 0
        self.resyncs = 0
        self._last: SafetyFrame | None = None
        self._last_receive_ns = 0
        self._offset_ns: int | None = None

    @property
    def offset_ns(self) -> int | None:
        """Current clock-offset estimate (receiver minus sender time), ns."""
        return 0 if self.config.same_clock else self._offset_ns

    @property
    def synchronised(self) -> bool:
        """Whether a reference frame has been accepted and not timed out."""
        return self._last is not None

    def reset(self) -> None:
        """Forget the reference frame and clock offset (counters are kept)."""
        self._last = None
        self._offset_ns = None

    def report(self, kind: ErrorKind, count: int = 1) -> None:
        """Count an error detected outside the frame, e.g. a failed CURVE handshake."""
        self.counters[kind] += count

    def check_bytes(self, data: bytes, receive_time_ns: int) -> CheckResult:
        """Decode and check one received message."""
        try:
            frame = decode_frame(data)
        except ProtocolError as exc:
            return self._reject(None, ErrorKind.CORRUPTION, str(exc))
        return self.check(frame, receive_time_ns)

    def check(self, frame: SafetyFrame, receive_time_ns: int) -> CheckResult:
        """Check one decoded frame received at ``receive_time_ns`` (receiver clock, ns)."""
        cfg = self.config
        if frame.connection_id != cfg.connection_id:
            return self._reject(
                frame,
                ErrorKind.ADDRESSING,
                f"connection id {frame.connection_id}, expected {cfg.connection_id}",
            )
        last = self._last
        if last is not None and receive_time_ns - self._last_receive_ns > cfg.resync_after_ns:
            self.reset()
            self.resyncs += 1
            last = None
        transit = receive_time_ns - frame.sender_time_ns
        lost = 0
        if last is not None:
            step = (frame.sequence - last.sequence) % SEQ_MODULUS
            if step == 0:
                return self._reject(
                    frame, ErrorKind.UNINTENDED_REPETITION, f"sequence {frame.sequence} again"
                )
            if step >= SEQ_MODULUS // 2:
                return self._reject(
                    frame,
                    ErrorKind.INCORRECT_SEQUENCE,
                    f"sequence {frame.sequence} is older than {last.sequence}",
                )
            if step > cfg.max_gap:
                return self._reject(
                    frame,
                    ErrorKind.INSERTION,
                    f"sequence {frame.sequence} is {step} ahead of {last.sequence} "
                    f"(max gap {cfg.max_gap})",
                )
            if frame.sender_time_ns <= last.sender_time_ns:
                return self._reject(
                    frame,
                    ErrorKind.MASQUERADE,
                    f"sender time {frame.sender_time_ns} ns does not advance past "
                    f"{last.sender_time_ns} ns: not the synchronised sender",
                )
            lost = step - 1
        offset = self._next_offset(transit, receive_time_ns)
        if offset is not None and transit < offset - cfg.clock_tolerance_ns:
            return self._reject(
                frame,
                ErrorKind.MASQUERADE,
                f"frame is {offset - transit} ns younger than the sender's clock allows",
            )
        offset = transit if offset is None else min(offset, transit)
        age = transit - offset
        if age > cfg.max_delay_ns:
            return self._reject(
                frame,
                ErrorKind.UNACCEPTABLE_DELAY,
                f"age {age / 1e6:.3f} ms exceeds {cfg.max_delay_ns / 1e6:.3f} ms",
                age_ns=age,
            )
        if not cfg.same_clock:
            self._offset_ns = offset
        self._last = frame
        self._last_receive_ns = receive_time_ns
        self.accepted += 1
        if lost:
            self.counters[ErrorKind.LOSS] += lost
            return CheckResult(
                True, frame, ErrorKind.LOSS, lost, age, f"{lost} frame(s) lost before this one"
            )
        return CheckResult(True, frame, None, 0, age)

    def _next_offset(self, transit: int, receive_time_ns: int) -> int | None:
        """Offset estimate before this frame, with the allowed upward drift applied."""
        if self.config.same_clock:
            return 0
        if self._offset_ns is None or self._last is None:
            return None
        elapsed = max(0, receive_time_ns - self._last_receive_ns)
        return self._offset_ns + int(elapsed * self.config.max_drift_ppm * 1e-6)

    def _reject(
        self, frame: SafetyFrame | None, kind: ErrorKind, detail: str, age_ns: int | None = None
    ) -> CheckResult:
        self.counters[kind] += 1
        return CheckResult(False, frame, kind, 0, age_ns, detail)
