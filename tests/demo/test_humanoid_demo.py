"""`safetymon demo --scenario humanoid-counter`, run as a real process: a walking humanoid
whose state arrives over the real ``ros2`` input from a simulated robot in another process,
people approaching it, the monitor slowing and stopping it, evidence written; and the
robot's own record showing that it really slowed and stood still through the real client.

Needs ``cyclonedds`` (the dev extra): skipped without it, failed with
``SAFETYMON_REQUIRE_OPTIONAL=1``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from tests.conftest import REPO, require_optional

DOMAIN = random.SystemRandom().randrange(62, 100)
"""A DDS domain of this test's own (the demo's default is 61; the ros2 tests use 100..229)."""


def run_demo(out: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "safetymon", "demo", "--scenario", "humanoid-counter",
         "--out", str(out), "--zmq", "tcp://127.0.0.1:0", "--ros2-domain", str(DOMAIN)],
        cwd=cwd, capture_output=True, text=True, timeout=240,
    )  # fmt: skip


def subsequence(wanted: list[str], states: list[str]) -> bool:
    """Whether ``wanted`` occurs in ``states`` in order (other states may come between)."""
    found = iter(states)
    return all(state in found for state in wanted)


@pytest.mark.slow
def test_humanoid_demo_runs_slows_stops_and_the_robot_obeys(tmp_path: Path) -> None:
    require_optional(importlib.util.find_spec("cyclonedds") is not None,
                     "Python package cyclonedds (pip install -e .[dev])")  # fmt: skip
    out = tmp_path / "demo-out"
    # As for the arm cell: on a loaded machine the camera's frames can grow too old, a STOP
    # for CAMERA_STALE that can swallow a SLOW episode (the run exits 1 and says so) or
    # split the sequence. Such a run, and only such, is repeated once; a second one, or any
    # other failure, fails.
    for attempt in (1, 2):
        run = run_demo(out, tmp_path)
        summary_file = out / "summary.json"
        summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
        stale = any("CAMERA_STALE" in change["reasons"] and (change["scene_s"] or 0) > 0
                    for change in summary.get("states", []))  # fmt: skip
        too_slow = run.returncode == 1 and "did not record both a SLOW and a STOP" in run.stderr
        if attempt == 1 and (too_slow or stale):
            print(f"humanoid demo run 1: the camera fell behind (machine loaded):\n{run.stderr}")
            continue
        break
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert "scenario humanoid-counter" in run.stderr
    assert "robot:    walked up to 0.40 m/s on RUN" in run.stdout
    assert summary["scenario"] == "humanoid-counter" and summary["problems"] == []

    # the decision went RUN -> SLOW -> STOP -> RUN once the camera ran, for people
    states = [change["state"] for change in summary["states"]]
    assert subsequence(["RUN", "SLOW", "STOP", "RUN"], states), summary["states"]
    slows = [c for c in summary["states"] if c["state"] == "SLOW"]
    assert any("WARNING_ZONE" in c["reasons"] for c in slows)
    stops = [c for c in summary["states"] if c["state"] == "STOP" and c["scene_s"] > 0]
    assert any({"PROTECTIVE_ZONE", "SEPARATION"} & set(c["reasons"]) for c in stops)
    # ... and the evidence holds a SLOW episode for a person on the shop floor before a STOP
    # episode for one at the counter
    proximity = [e for e in summary["episodes"] if e["category"] == "proximity"]
    worst = [e["worst_state"] for e in proximity]
    assert subsequence(["SLOW", "STOP"], worst), proximity
    first_slow = next(e for e in proximity if e["worst_state"] == "SLOW")
    assert "shop-floor" in first_slow["zones"] and first_slow["min_speed_scale"] > 0.0
    last_stop = [e for e in proximity if e["worst_state"] == "STOP"][-1]
    assert {"PROTECTIVE_ZONE", "SEPARATION"} & set(last_stop["reasons"])

    # the simulated humanoid's own record (its process, its client): it walked at full
    # speed on RUN, came down to the permitted speed on SLOW and to a standstill on STOP,
    # each change caused by a frame of the monitor's output
    lines = [json.loads(line) for line in (out / "humanoid-record.jsonl").read_text().splitlines()]
    assert lines[0]["event"] == "start" and lines[-1]["event"] == "stop"
    samples = lines[1:-1]
    walk = lines[0]["walk_speed_mps"]
    assert max(s["base_speed_mps"] for s in samples if s["permitted"] == "RUN") == walk
    slowed = [s for s in samples if s["permitted"] == "SLOW" and s["cause"] == "frame"
              and 0.0 < s["speed_scale"] <= s["permitted_scale"] + 0.02]  # fmt: skip
    assert slowed and max(s["base_speed_mps"] for s in slowed) < 0.5 * walk
    stood = [i for i, s in enumerate(samples) if s["permitted"] == "STOP"
             and s["cause"] == "frame" and s["base_speed_mps"] == 0.0
             and s["speed_scale"] == 0.0]  # fmt: skip
    walking_then_stopped = [i for i in stood if any(
        p["speed_scale"] > 0 and p["permitted"] != "STOP" for p in samples[max(0, i - 60):i])]
    assert walking_then_stopped, "the humanoid never stood still after walking on a STOP"
    # it slowed before it stopped (person 2 before person 3) and walked again after
    first_slow_t = slowed[0]["t"]
    stop_t = samples[walking_then_stopped[-1]]["t"]
    assert first_slow_t < stop_t
    assert any(s["t"] > stop_t and s["base_speed_mps"] == walk for s in samples)

    # the evidence verifies; the video, plan and the robot's log are there
    verify = subprocess.run(
        [sys.executable, "-m", "safetymon", "verify", "--db", str(out / "evidence.db")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    video = cv2.VideoCapture(str(out / "demo.mp4"))
    frames = int(video.get(cv2.CAP_PROP_FRAME_COUNT))
    video.release()
    assert frames > 100
    assert cv2.imread(str(out / "plan.png")) is not None
    assert (out / "demo-humanoid-counter.yaml").is_file() and (out / "demo-humanoid.urdf").is_file()
    assert "sent" in (out / "humanoid-robot.log").read_text()


def test_humanoid_demo_refuses_without_cyclonedds(tmp_path: Path) -> None:
    """A package on the path that fails to import stands for a machine without it: the
    scenario refuses before it writes anything, naming the package."""
    broken = tmp_path / "broken" / "cyclonedds"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('cyclonedds is not installed')\n")
    env = {**os.environ, "PYTHONPATH": f"{broken.parent}{os.pathsep}{REPO}"}
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "safetymon", "demo", "--scenario", "humanoid-counter",
         "--out", str(out)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert run.returncode == 2, run.stdout + run.stderr
    assert "needs the Python package 'cyclonedds'" in run.stderr
    assert "Traceback" not in run.stderr
    assert not out.exists()


def test_demo_help_lists_the_scenarios_and_rejects_a_wrong_domain(tmp_path: Path) -> None:
    shown = subprocess.run([sys.executable, "-m", "safetymon", "demo", "--help"],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert shown.returncode == 0
    assert "--scenario {arm-cell,humanoid-counter}" in shown.stdout
    assert "default: arm-cell" in shown.stdout
    for args in (["--ros2-domain", "233", "--scenario", "humanoid-counter"],
                 ["--ros2-domain", "5"]):  # fmt: skip
        run = subprocess.run(
            [sys.executable, "-m", "safetymon", "demo", "--out", str(tmp_path / "o"), *args],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert run.returncode == 2 and "--ros2-domain" in run.stderr, run.stderr
    assert not (tmp_path / "o").exists()


def test_a_site_that_does_not_fit_the_scenario_is_refused_naming_it(tmp_path: Path) -> None:
    examples = Path(__file__).resolve().parents[2] / "safetymon" / "examples"
    for scenario, site, needs in (("humanoid-counter", "demo-cell.yaml", "ros2"),
                                  ("arm-cell", "humanoid-counter.yaml", "zmq")):  # fmt: skip
        run = subprocess.run(
            [sys.executable, "-m", "safetymon", "demo", "--scenario", scenario,
             "--config", str(examples / site), "--out", str(tmp_path / scenario)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert run.returncode == 2, run.stderr
        assert site in run.stderr and f"must have a {needs} state_input" in run.stderr
        assert "Traceback" not in run.stderr
