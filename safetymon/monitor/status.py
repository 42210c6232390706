"""The one-line live status of the monitor on the terminal."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping
from typing import TextIO

from safetymon.signals.frame import SafetyState
from safetymon.signals.reasons import Reason


def format_status(
    state: SafetyState,
    speed_scale: float,
    reasons: int,
    people: int,
    min_distance_m: float,
    loop_rate_hz: float,
    input_ages_s: Mapping[str, float],
) -> str:
    """One status line: state, reasons, people, closest distance, loop rate, input ages.

    Args:
        state: current decision.
        speed_scale: permitted speed fraction 0..1.
        reasons: Reason bit mask.
        people: people tracked now.
        min_distance_m: closest human-robot separation in metres (NaN or inf: none).
        loop_rate_hz: measured decision-loop rate.
        input_ages_s: age of each input (camera or robot id → seconds; inf: never seen).
    """
    names = [flag.name or "?" for flag in Reason if flag & reasons] or ["-"]
    distance = f"{min_distance_m:.2f} m" if math.isfinite(min_distance_m) else "-"
    ages = " ".join(
        f"{name}={age * 1000:.0f}ms" if math.isfinite(age) else f"{name}=none"
        for name, age in input_ages_s.items()
    )
    speed = f" x{speed_scale:.2f}" if state is SafetyState.SLOW else ""
    return (
        f"{SafetyState(state).name:<4}{speed} | {','.join(names)} | people {people} | "
        f"closest {distance} | loop {loop_rate_hz:.0f} Hz | {ages}"
    )


class StatusLine:
    """Writes the status line: rewritten in place on a terminal, every few seconds otherwise.

    Args:
        stream: where to write (default stderr).
        interval_s: minimum seconds between lines (terminal: 0.1; pipe/file: ``log_interval_s``).
        log_interval_s: seconds between lines when ``stream`` is not a terminal.
    """

    def __init__(
        self, stream: TextIO | None = None, interval_s: float = 0.1, log_interval_s: float = 5.0
    ) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval_s = interval_s if self.tty else log_interval_s
        self._last = -math.inf
        self._last_state: SafetyState | None = None
        self._width = 0

    def due(self, state: SafetyState, now_s: float) -> bool:
        """Whether a line for ``state`` at monotonic ``now_s`` would be shown (format it then)."""
        return now_s - self._last >= self.interval_s or state != self._last_state

    def show(self, line: str, state: SafetyState, now_s: float | None = None) -> None:
        """Show ``line`` if the interval passed or the state changed."""
        now_s = time.monotonic() if now_s is None else now_s
        if not self.due(state, now_s):
            return
        self._last, self._last_state = now_s, state
        try:
            if self.tty:
                padded = line.ljust(self._width)
                self._width = len(line)
                self.stream.write("\r" + padded)
            else:
                self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed terminal must not stop the monitor

    def finish(self) -> None:
        """End the in-place line (terminal) so later output starts on a new line."""
        if self.tty:
            try:
                self.stream.write("\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass
