"""Fault table of `safetymon run`: injected fault → STOP at the controller, timed.

Runs the scenarios of `tests/monitor/test_run_faults.py` (shared code in
`tests/monitor/run_site.py`) several times each with the real processes: `safetymon run`
on the rendered demo cell (image glob at 15 frames/s, foreground detector), a `safetymon
robot-sim` subprocess, and a `SafetyClient` in this process (watchdog 0.3 s). Each run waits
for RUN, injects the fault and measures, on this process's monotonic clock, the time from
the injection to the first STOP carrying the fault's reason at the client. Prints one row
per fault: reaction (state, reason), configured limit, median and max reaction over the runs.

Usage::

    .venv/bin/python benchmarks/bench_faults.py [--runs 3] [--only camera] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.monitor import run_site  # noqa: E402 (needs the repository root on sys.path)


@dataclass(frozen=True)
class Row:
    """One line of the fault table (times in seconds; inf: the STOP was not seen)."""

    fault: str
    reaction: str
    limit_text: str
    limit_s: float
    times_s: tuple[float, ...]

    @property
    def median_s(self) -> float:
        """Median reaction, seconds."""
        return statistics.median(self.times_s)

    @property
    def max_s(self) -> float:
        """Slowest reaction, seconds."""
        return max(self.times_s)


def _input_fault(fault: run_site.InputFault) -> Callable[[Path, run_site.FrameSet], list[Row]]:
    def measure(folder: Path, frame_set: run_site.FrameSet) -> list[Row]:
        outcome = run_site.measure_input_fault(folder, frame_set, fault)
        seen = outcome.seen
        reaction = f"STOP {run_site.reasons_text(seen.state.reasons)}" if seen else "no STOP seen"
        return [Row(fault.name, reaction, fault.limit_text, fault.limit_s, (outcome.reaction_s,))]

    return measure


def _pause(folder: Path, frame_set: run_site.FrameSet) -> list[Row]:
    outcome = run_site.measure_pause(folder, frame_set, pause_s=0.8)
    overrun = outcome.overrun
    return [
        Row(
            "decision loop overrun: process SIGSTOPped 0.8 s (controller side)",
            "STOP OUTPUT_FAULT (client watchdog)" if outcome.watchdog else "no STOP seen",
            f"controller watchdog_s {run_site.WATCHDOG_S}",
            run_site.WATCHDOG_S,
            (outcome.watchdog_s,),
        ),
        Row(
            "decision loop overrun: after SIGCONT (monitor side)",
            f"STOP {run_site.reasons_text(overrun.state.reasons)}" if overrun else "none",
            "first frame after SIGCONT",
            0.0,
            (outcome.overrun_s,),
        ),
        Row(
            "decision loop overrun: RUN again after SIGCONT",
            "RUN" if outcome.run_again else "no RUN",
            f"restart_delay_s {run_site.RESTART_DELAY_S}",
            run_site.RESTART_DELAY_S,
            (outcome.run_again_s,),
        ),
    ]


def _sigkill(folder: Path, frame_set: run_site.FrameSet) -> list[Row]:
    outcome = run_site.measure_sigkill(folder, frame_set)
    seen = outcome.seen
    reaction = f"STOP ({seen.state.cause})" if seen else "no STOP seen"
    return [
        Row(outcome.fault, reaction, outcome.limit_text, outcome.limit_s, (outcome.reaction_s,))
    ]


SCENARIOS: dict[str, Callable[[Path, run_site.FrameSet], list[Row]]] = {
    **{fault.name: _input_fault(fault) for fault in run_site.INPUT_FAULTS},
    "loop overrun": _pause,
    "sigkill": _sigkill,
}


def merge(rows: list[Row]) -> list[Row]:
    """One row per fault: the runs' times together, their distinct reactions joined."""
    merged: dict[str, Row] = {}
    for row in rows:
        old = merged.get(row.fault)
        if old is None:
            merged[row.fault] = row
            continue
        reactions = old.reaction.split(" / ")
        reaction = old.reaction if row.reaction in reactions else f"{old.reaction} / {row.reaction}"
        merged[row.fault] = Row(
            old.fault, reaction, old.limit_text, old.limit_s, old.times_s + row.times_s
        )
    return list(merged.values())


def _ms(seconds: float) -> str:
    return "not seen" if not math.isfinite(seconds) else f"{seconds * 1000:.0f}"


def table(rows: list[Row], runs: int) -> str:
    """The fault table as Markdown."""
    lines = [
        f"| fault | reaction at the controller | configured limit | median ms | max ms "
        f"(n={runs}) | max − limit ms |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        over = row.max_s - row.limit_s
        lines.append(
            f"| {row.fault} | {row.reaction} | {row.limit_text} ({row.limit_s * 1000:.0f} ms) | "
            f"{_ms(row.median_s)} | {_ms(row.max_s)} | {_ms(over)} |"
        )
    return "\n".join(lines)


def main() -> int:
    """Run the scenarios and print the fault table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario (default 3)")
    parser.add_argument("--only", help="only scenarios whose name contains this text")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error(f"--runs must be >= 1, got {args.runs}")
    chosen = {k: v for k, v in SCENARIOS.items() if not args.only or args.only in k}
    if not chosen:
        parser.error(f"--only {args.only!r} matches no scenario of {sorted(SCENARIOS)}")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        folder = Path(tmp)
        frame_set = run_site.render_frame_set(folder / "frames")
        for number, (name, measure) in enumerate(chosen.items()):
            for index in range(args.runs):
                try:
                    got = measure(folder / f"scenario{number}-run{index}", frame_set)
                except AssertionError as error:  # no healthy baseline: not a fault reaction
                    print(f"{name} run {index + 1}: skipped: {error}"[:400], file=sys.stderr)
                    continue
                rows.extend(got)
                print(
                    f"{name} run {index + 1}: "
                    + ", ".join(f"{r.reaction} {_ms(r.times_s[0])} ms" for r in got),
                    file=sys.stderr,
                    flush=True,
                )
    merged = merge(rows)
    if args.json:
        finite = [
            {**vars(r), "times_s": [t if math.isfinite(t) else None for t in r.times_s]}
            for r in merged
        ]
        print(json.dumps(finite, indent=2))
        return 0
    print(
        f"Fault table, {args.runs} run(s) per fault; {platform.platform()}, "
        f"{os.cpu_count()} CPU(s), Python {platform.python_version()}"
    )
    print(table(merged, args.runs))
    return 0 if all(math.isfinite(r.max_s) for r in merged) else 1


if __name__ == "__main__":
    raise SystemExit(main())
