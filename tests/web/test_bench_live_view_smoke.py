"""benchmarks/bench_live_view.py runs end to end (short windows; figures not asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_live_view_prints_its_tables() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_live_view.py"), "--seconds", "2",
         "--warmup", "2", "--rate", "50"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert any(line.startswith("| quiet |") for line in lines)
    assert any(line.startswith("| 50 req/s per endpoint |") for line in lines)
    assert any("`POST /api/zones/preview`" in line and "429" in line for line in lines)
