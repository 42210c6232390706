"""`safetymon calc` as a user runs it: real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SSM = [
    "--human-speed", "1.6", "--robot-speed", "1.0", "--reaction-time", "0.1",
    "--intrusion", "0.2", "--human-uncertainty", "0.1", "--robot-uncertainty", "0.02",
]  # fmt: skip


def safetymon(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "safetymon", *args], capture_output=True, text=True, timeout=60
    )


def test_ssm_json_with_deceleration_and_distance() -> None:
    result = safetymon("calc", "ssm", *SSM, "--deceleration", "4", "--distance", "1.5", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["S_s_m"] == pytest.approx(0.125)
    assert out["S_h_m"] == pytest.approx(1.6 * (0.1 + 0.25))
    assert out["S_r_m"] == pytest.approx(0.1)
    assert out["protective_separation_distance_m"] == pytest.approx(1.105)
    assert out["max_robot_speed_mps"] == pytest.approx(1.48712, abs=1e-4)


def test_ssm_measured_stopping_text() -> None:
    result = safetymon("calc", "ssm", *SSM, "--stopping-time", "0.3", "--stopping-distance", "0.2")
    assert result.returncode == 0, result.stderr
    assert "S_p" in result.stdout
    assert "1.260 m" in result.stdout  # 1.6·(0.1+0.3) + 1.0·0.1 + 0.2 + 0.2 + 0.1 + 0.02


def test_ssm_zero_speed_when_nothing_is_safe() -> None:
    result = safetymon("calc", "ssm", *SSM, "--deceleration", "4", "--distance", "0.2", "--json")
    assert json.loads(result.stdout)["max_robot_speed_mps"] == 0.0


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--human-speed", "-1"], "--human-speed"),
        (["--reaction-time", "nan"], "--reaction-time"),
        (["--deceleration", "0"], "--deceleration"),
        (["--deceleration", "4", "--stopping-time", "0.2"], "not both"),
        (["--stopping-time", "0.2"], "--stopping-distance is missing"),
        (["--stopping-time", "0.2", "--stopping-distance", "0.1", "--distance", "2"], "--distance"),
    ],
)
def test_ssm_bad_inputs_exit_2_naming_the_input(args: list[str], fragment: str) -> None:
    base = list(SSM)
    for option, value in zip(args[::2], args[1::2], strict=True):
        if option in base:
            base[base.index(option) + 1] = value
        else:
            base += [option, value]
    result = safetymon("calc", "ssm", *base)
    assert result.returncode == 2
    assert fragment in result.stderr


def test_ssm_missing_required_input_exits_2() -> None:
    result = safetymon("calc", "ssm", "--human-speed", "1.6")
    assert result.returncode == 2
    assert "--robot-speed" in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--approach", "perpendicular", "--stopping-time", "0.32", "--resolution", "14"], 512.0),
        (["--approach", "perpendicular", "--stopping-time", "0.208", "--resolution", "14"], 416.0),
        (["--approach", "perpendicular", "--stopping-time", "0.30", "--resolution", "40"], 688.0),
        (["--approach", "single-beam", "--stopping-time", "0.1"], 1360.0),
        (["--approach", "parallel", "--stopping-time", "0.1", "--height", "300"], 1240.0),
    ],
)
def test_iso13855_worked_examples(args: list[str], expected: float) -> None:
    result = safetymon("calc", "iso13855", *args, "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["minimum_distance_mm"] == pytest.approx(expected)
    assert {"K_mm_per_s", "C_mm"} <= out.keys()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--approach", "perpendicular", "--stopping-time", "0.3"], "--resolution"),
        (["--approach", "parallel", "--stopping-time", "0.3"], "--height"),
        (["--approach", "single-beam", "--stopping-time", "-0.3"], "--stopping-time"),
        (["--approach", "perpendicular", "--stopping-time", "inf", "--resolution", "14"], "time"),
    ],
)
def test_iso13855_bad_inputs(args: list[str], fragment: str) -> None:
    result = safetymon("calc", "iso13855", *args)
    assert result.returncode == 2
    assert fragment in result.stderr
