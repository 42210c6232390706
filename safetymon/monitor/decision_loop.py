"""The fixed-rate decision loop: gather inputs, decide, signal, hand over to evidence.

It runs in its own thread at ``safety.decision_rate_hz`` (default 100 Hz) and is never blocked
by detection: it reads the newest tracks (predicted to the cycle time), the newest robot
states and the camera health that the other threads keep up to date.

Fail-safe rules of the loop itself:
- a cycle that starts more than ``overrun_factor`` periods after the previous one is a loop
  overrun: that cycle carries a LOOP_OVERRUN fault (STOP, then the restart delay);
- an exception while gathering inputs becomes an INTERNAL_ERROR fault for that cycle (STOP);
- a hung loop is caught outside it: the outputs send STOP when no decision arrived within
  their ``state_timeout_s``, and the controller's own watchdog covers a dead process.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from safetymon.safety.decision import Decision, DecisionEngine
from safetymon.safety.inputs import CycleInput

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CycleRecord:
    """One finished cycle, as handed to listeners (evidence, status, metrics, live view).

    Attributes:
        cycle: the input the decision saw.
        decision: the decision.
        signal_started_s: monotonic time just before the outputs were handed it, seconds.
        signal_sent_s: monotonic time the outputs were handed the decision, seconds.
        compute_s: time spent gathering, deciding and signalling, seconds.
        loop_rate_hz: measured loop rate (exponential average).
    """

    cycle: CycleInput
    decision: Decision
    signal_sent_s: float
    compute_s: float
    loop_rate_hz: float
    signal_started_s: float = math.nan


Gather = Callable[[float], CycleInput]
Signal = Callable[[Decision], None]
Listener = Callable[[CycleRecord], None]


class DecisionLoop:
    """Runs ``gather → engine.step → signal → listeners`` at a fixed rate in a thread.

    Args:
        engine: the pure decision engine of the site.
        gather: builds the cycle input for a monotonic time (seconds).
        signal: hands a decision to the outputs (must not block).
        rate_hz: cycles per second.
        overrun_factor: lateness, in periods, beyond which a cycle is an overrun.
        listeners: called after signalling, in the loop thread (must be quick; a listener
            that raises is logged and reported as INTERNAL_ERROR on the next cycle).
        clock: monotonic clock in seconds (tests may pass a fake one).
    """

    def __init__(
        self,
        engine: DecisionEngine,
        gather: Gather,
        signal: Signal,
        *,
        rate_hz: float = 100.0,
        overrun_factor: float = 5.0,
        listeners: tuple[Listener, ...] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (math.isfinite(rate_hz) and rate_hz > 0):
            raise ValueError(f"rate_hz must be a positive number, got {rate_hz!r}")
        self.engine = engine
        self.period_s = 1.0 / rate_hz
        self.overrun_factor = overrun_factor
        self._gather = gather
        self._signal = signal
        self._listeners = listeners
        self._clock = clock
        self._memory = engine.initial_memory(clock())
        self._last_start: float | None = None
        self._pending_faults: list[tuple[str, str]] = []
        self._rate_hz = 0.0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_engine: DecisionEngine | None = None
        self._engine_lock = threading.Lock()
        self.cycles = 0
        self.overruns = 0
        self.last: CycleRecord | None = None

    @property
    def loop_rate_hz(self) -> float:
        """Measured cycles per second (exponential average)."""
        return self._rate_hz

    def replace_engine(self, engine: DecisionEngine) -> None:
        """Use ``engine`` from the next cycle on, starting from its start-up memory.

        The new engine starts as the monitor does (STOP with STARTUP, then the restart delay
        and, where configured, a reset), so a configuration change never carries causes or
        hysteresis of the old zones over.
        """
        with self._engine_lock:
            self._next_engine = engine

    def run_cycle(self) -> CycleRecord:
        """Run one cycle now (the thread calls this; tests may call it directly)."""
        start = self._clock()
        with self._engine_lock:
            engine, self._next_engine = self._next_engine, None
        if engine is not None:
            self.engine = engine
            self._memory = engine.initial_memory(start)
        faults = list(self._pending_faults)
        self._pending_faults.clear()
        if self._last_start is not None:
            interval = start - self._last_start
            if interval > 0:
                rate = 1.0 / interval
                self._rate_hz = rate if self._rate_hz == 0 else 0.9 * self._rate_hz + 0.1 * rate
            if interval > self.overrun_factor * self.period_s:
                self.overruns += 1
                faults.append(
                    (
                        "LOOP_OVERRUN",
                        f"cycle started {interval * 1000:.0f} ms after the previous one "
                        f"(period {self.period_s * 1000:.0f} ms)",
                    )
                )
        self._last_start = start
        try:
            cycle = self._gather(start)
        except Exception as exc:  # fail-safe: no input is a STOP, never a dead loop
            log.exception("gathering the cycle input failed")
            cycle = CycleInput(time_s=start)
            detail = f"gathering inputs failed: {type(exc).__name__}: {exc}"
            faults.append(("INTERNAL_ERROR", detail))
        if faults:
            cycle = replace(cycle, faults=(*cycle.faults, *faults))
        decision, memory = self.engine.step(cycle, self._memory)
        ready = self._clock() - start
        if ready > self.overrun_factor * self.period_s:
            # The process stalled between reading the clock and signalling (SIGSTOP, a VM
            # pause, swapping): this decision is about a moment long past, and a RUN in it
            # may no longer hold. Decide again from the same memory with the overrun as a
            # cause, so the signal is STOP and speed returns only after the restart delay.
            self.overruns += 1
            late = (
                "LOOP_OVERRUN",
                f"decision ready {ready * 1000:.0f} ms after the cycle began "
                f"(limit {self.overrun_factor * self.period_s * 1000:.0f} ms)",
            )
            cycle = replace(cycle, faults=(*cycle.faults, late))
            decision, memory = self.engine.step(cycle, self._memory)
            self._last_start = self._clock()  # counted here: not again as a late next cycle
        self._memory = memory
        signal_started = self._clock()
        try:
            self._signal(decision)
        except Exception as exc:  # the outputs stay fail-safe; the next cycle STOPs
            log.exception("signalling the decision failed")
            self._pending_faults.append(
                ("OUTPUT_FAULT", f"signalling failed: {type(exc).__name__}: {exc}")
            )
        sent = self._clock()
        record = CycleRecord(cycle, decision, sent, sent - start, self._rate_hz, signal_started)
        self.cycles += 1
        self.last = record
        for listener in self._listeners:
            try:
                listener(record)
            except Exception as exc:
                log.exception("a decision listener failed")
                self._pending_faults.append(
                    ("INTERNAL_ERROR", f"listener failed: {type(exc).__name__}: {exc}")
                )
        return record

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener`` after every cycle from now on (before ``start``: from the first)."""
        self._listeners = (*self._listeners, listener)

    def nudge(self) -> None:
        """Run a cycle now instead of at the next period (new perception data arrived).

        The camera workers call this after updating the tracks, so a person who just
        appeared is decided on at once rather than up to one period later; the regular
        period resumes from that cycle. Thread-safe and cheap.
        """
        self._wake.set()

    def start(self) -> None:
        """Start the loop thread."""
        self._thread = threading.Thread(target=self._run, name="safetymon-decision", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Ask the loop to finish its current cycle and end."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        """Whether the loop thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        next_start = self._clock()
        while not self._stop.is_set():
            self.run_cycle()
            next_start += self.period_s
            now = self._clock()
            if next_start < now - self.period_s:
                next_start = now  # late: do not try to catch up with a burst of cycles
            if self._wake.wait(max(0.0, next_start - now)):
                self._wake.clear()
                next_start = self._clock()  # a nudge: cycle now, period counted from here
