"""`safetymon simulate` runs the real decision on a scripted walk-through."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from safetymon.config.loader import load_site_config
from safetymon.sim.scenario import run_scenario

REPO = Path(__file__).resolve().parents[2]


def test_demo_cell_walk_through_slows_stops_and_recovers() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "safetymon", "simulate", "zones/demo-cell.yaml", "--json"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    states = [r["state"] for r in records]
    assert states[0] == "STOP" and "STARTUP" in records[0]["reasons"]
    assert "SLOW" in states and states[-1] == "RUN"
    first_stop = states.index("STOP", 1)
    assert states.index("SLOW") < first_stop  # slowed before it stopped
    stop = records[first_stop]
    assert "SEPARATION" in stop["reasons"]
    # STOP at d < S_p, or just above it where velocity scaling falls below min_speed_scale
    assert stop["distance_m"] < stop["S_p_m"] + 0.05


@pytest.mark.parametrize(
    "path",
    sorted(p for p in (REPO / "zones").glob("*.yaml") if p.name != "verification-plan.yaml"),
    ids=lambda p: p.name,
)
def test_every_example_site_simulates(path: Path) -> None:
    decisions = list(run_scenario(load_site_config(path), duration_s=3.0))
    assert decisions[0].state.name == "STOP"
    assert all(d.state.name in {"RUN", "SLOW", "STOP"} for d in decisions)


def test_bad_duration_exits_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "safetymon", "simulate", "zones/demo-cell.yaml", "--duration", "-1"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 2 and "--duration" in result.stderr
