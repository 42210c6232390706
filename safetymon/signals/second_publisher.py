"""Receiver-side sign of two publishers on one endpoint (pure: no I/O, no threads).

One publisher's frames never interleave with rejected ones: a live stream is accepted frame
after frame, and a restarted publisher's frames are rejected only until the receiver
re-synchronises (no accepted frame comes in between). Two live publishers on one endpoint
(a leftover ``safetymon publish`` beside the monitor, an impostor on a freed port, frames of
another connection id) show as rejections *interleaved* with accepted frames: the frames of
the stream the receiver is not synchronised to fail the sequence, clock or connection-id
checks while the other stream's frames keep being accepted.

``SecondPublisherDetector`` turns that into a fault that holds: ``SIGNS`` such rejections
within ``WINDOW_NS`` with an accepted frame after the first of them latch it, and it holds
until ``HOLD_NS`` after the newest sign. While it holds the receiver must stay in STOP
whatever the accepted frames say (hw/PROTOCOL.md, "Receiver rules"). It never latches for
good: once one of the two is quiet for ``HOLD_NS`` the other is obeyed again.
"""

from __future__ import annotations

from collections import deque

from safetymon.signals.checker import ErrorKind

SIGNS = 3
"""Rejections of ``SIGN_KINDS`` within ``WINDOW_NS`` (with accepted frames between) that
make the fault."""
WINDOW_NS = 1_000_000_000
HOLD_NS = 2_000_000_000
"""The fault holds this long after the newest sign, ns."""
SIGN_KINDS = frozenset(
    {
        ErrorKind.ADDRESSING,
        ErrorKind.INCORRECT_SEQUENCE,
        ErrorKind.INSERTION,
        ErrorKind.MASQUERADE,
        ErrorKind.UNINTENDED_REPETITION,
    }
)
"""Rejections another live stream causes (corruption and delay are the link's own faults)."""


class SecondPublisherDetector:
    """Latches "two publishers" from rejections interleaved with accepted frames."""

    def __init__(self) -> None:
        self._signs: deque[int] = deque(maxlen=SIGNS)
        self._last_accepted_ns: int | None = None
        self._latched_until_ns: int | None = None
        self.detail = ""
        self.episodes = 0

    def accepted(self, receive_ns: int) -> None:
        """An accepted frame arrived at ``receive_ns`` (receiver monotonic clock)."""
        self._last_accepted_ns = receive_ns

    def rejected(self, kind: ErrorKind, receive_ns: int, detail: str = "") -> bool:
        """A rejected frame; True when this rejection latched (or extended) the fault."""
        if kind not in SIGN_KINDS:
            return False
        latched = self.active(receive_ns)
        self._signs.append(receive_ns)
        recent = [t for t in self._signs if receive_ns - t <= WINDOW_NS]
        interleaved = (
            self._last_accepted_ns is not None and len(recent) >= 2
            and self._last_accepted_ns > recent[0]
        )  # fmt: skip
        if latched or (len(recent) >= SIGNS and interleaved):
            if not latched:
                self.episodes += 1
            self._latched_until_ns = receive_ns + HOLD_NS
            self.detail = (
                f"two publishers on the endpoint: {len(recent)} frames rejected within "
                f"{WINDOW_NS / 1e9:g} s between accepted ones (newest: {kind.value}"
                + (f": {detail}" if detail else "")
                + ")"
            )
            return True
        return False

    def active(self, now_ns: int) -> bool:
        """Whether the fault holds at ``now_ns``."""
        return self._latched_until_ns is not None and now_ns <= self._latched_until_ns
