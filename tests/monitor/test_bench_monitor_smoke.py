"""The live-monitor benchmark runs end to end: a real monitor, a subscriber process, STOPs.

Speed is not asserted (benchmarks print it); the test checks that the benchmark measured
what it claims: at least one person appearance matched to the STOP received by the other
process, a complete budget table, and decision-loop cost rows for 10 and 200 people.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks" / "bench_monitor.py"


@pytest.mark.slow
def test_bench_monitor_short_run_matches_appearances_to_stops() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--seconds",
            "6",
            "--switch",
            "1.0",
            "--detectors",
            "foreground",
            "--cycles",
            "200",
            "--cameras",
            "1,2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    row = re.search(r"^\| foreground \| (\d+) of (\d+) \| ([\d.]+) \| ([\d.]+) \|", out, re.M)
    assert row is not None, out
    timed, appearances = int(row.group(1)), int(row.group(2))
    assert 1 <= timed <= appearances
    p50_ms, p99_ms = float(row.group(3)), float(row.group(4))
    assert math.isfinite(p50_ms) and 0.0 < p50_ms <= p99_ms
    assert "| **end to end** |" in out
    for stage in ("detect", "track", "wait for decision cycle", "publish"):
        assert re.search(rf"^\| {re.escape(stage)}[^|]* \| [\d.]+ \|", out, re.M), stage
    # the camera-count table: one row per count, the 2-camera row with a share per camera
    # (each worker processed some of its offered frames), and the 2-camera run's latency
    # and the OpenCV threads the monitor chose: CPUs / cameras, at least 1
    cpus = os.cpu_count() or 1
    one = re.search(rf"^\| foreground \| 1 \| {cpus} \| (\d+)% \|", out, re.M)
    two = re.search(rf"^\| foreground \| 2 \| {max(1, cpus // 2)} \| (\d+)%, (\d+)% \|", out, re.M)
    assert one is not None and two is not None, out
    assert all(0 < int(share) <= 100 for share in (*one.groups(), *two.groups()))
    assert re.search(r"^\| foreground, 2 cameras \| [1-9]\d* of \d+ \|", out, re.M), out
    for people in (10, 200):
        assert re.search(rf"^\| `DecisionLoop.run_cycle` \(real parts\) \| {people} \|", out, re.M)
        assert re.search(rf"^\| `DecisionEngine.step` \| {people} \| \d+ \|", out, re.M)
