"""Reason codes carried by every decision and every safety frame.

A decision may have several reasons at once, so they travel as a 32-bit mask (one bit each).
The numbering is part of the wire protocol (hw/PROTOCOL.md): never renumber a member, only add.
"""

from __future__ import annotations

from enum import IntFlag


class Reason(IntFlag):
    """Why the monitor is not (fully) permitting motion; empty mask = RUN with nothing to report."""

    STARTUP = 1 << 0
    """Monitor has just started and the start-up conditions are not yet met."""
    SEPARATION = 1 << 1
    """A person is closer to a robot than the protective separation distance S_p (STOP)."""
    SEPARATION_WARNING = 1 << 2
    """A person is within S_p + warning margin: speed reduced by velocity scaling (SLOW)."""
    PROTECTIVE_ZONE = 1 << 3
    """A person or unclassified foreground is inside a protective zone (STOP)."""
    WARNING_ZONE = 1 << 4
    """A person or unclassified foreground is inside a warning zone (SLOW)."""
    ROBOT_OUT_OF_BOUNDS = 1 << 5
    """A robot link is inside a restricted zone or outside its permitted zone (STOP)."""
    CAMERA_STALE = 1 << 6
    """A camera's newest frame is older than its limit (STOP)."""
    CAMERA_FAULT = 1 << 7
    """A camera reported a fault: disconnected, frozen image (STOP)."""
    DETECTOR_FAULT = 1 << 8
    """The person detector failed on a frame (STOP)."""
    ROBOT_STATE_STALE = 1 << 9
    """A robot's newest state is older than its limit (STOP)."""
    ROBOT_STATE_INVALID = 1 << 10
    """A robot's state is malformed or non-finite (STOP)."""
    HUMAN_STATE_INVALID = 1 << 11
    """A tracked person's state is non-finite (STOP)."""
    CALIBRATION_MISSING = 1 << 12
    """A camera has no usable floor calibration (STOP)."""
    AWAITING_RESET = 1 << 13
    """A manual-reset zone latched a STOP that needs an explicit reset."""
    RESTART_DELAY = 1 << 14
    """Causes have cleared but not yet for the configured restart delay."""
    LOOP_OVERRUN = 1 << 15
    """The decision loop missed its deadline (STOP)."""
    EVIDENCE_FAULT = 1 << 16
    """The evidence store cannot record (STOP by default)."""
    OUTPUT_FAULT = 1 << 17
    """A signal output failed (STOP)."""
    OPERATOR_STOP = 1 << 18
    """An operator or commissioning tool asked for STOP."""
    SHUTDOWN = 1 << 19
    """The monitor is shutting down (STOP)."""
    INTERNAL_ERROR = 1 << 20
    """An unexpected error inside the monitor (STOP)."""

    @property
    def names(self) -> list[str]:
        """Names of the set bits, lowest first (unknown bits as ``BIT<n>``)."""
        out = []
        for bit in range(32):
            value = 1 << bit
            if int(self) & value:
                try:
                    out.append(Reason(value).name or f"BIT{bit}")
                except ValueError:
                    out.append(f"BIT{bit}")
        return out
