"""`safetymon demo`, the README's quick start, run as a real process on a clean output folder."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from safetymon.demo.runner import DEFAULT_SAFETY_PORT
from safetymon.signals.client import PermittedState, SafetyClient
from safetymon.signals.frame import SafetyState
from safetymon.signals.reasons import Reason

REPO = Path(__file__).resolve().parents[2]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as ZeroMQ binds
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.slow
def test_demo_shows_slow_and_stop_on_the_wire_and_in_the_evidence(tmp_path: Path) -> None:
    """The README's quick start exactly (no --zmq: the demo publishes on port 5560)."""
    out = tmp_path / "demo-out"
    endpoint = f"tcp://127.0.0.1:{DEFAULT_SAFETY_PORT}"
    # The demo's passers-by are slowed for, not stopped for, only while the camera frames
    # reach the decision young enough (their age adds to T_r): on a loaded machine a run can
    # record only STOP episodes, exit 1 and say so. Such a run, and only such, is repeated
    # once; a second one, or any other failure, fails the test.
    for attempt in (1, 2):
        assert port_is_free(DEFAULT_SAFETY_PORT), "port 5560 is taken: the demo would move away"
        seen: list[PermittedState] = []
        client = SafetyClient(endpoint, 1, watchdog_s=0.2, same_clock=True, on_change=seen.append)
        with client:
            run = subprocess.run(
                [sys.executable, "-m", "safetymon", "demo", "--out", str(out)],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=180,
            )
        too_slow = run.returncode == 1 and "did not record both a SLOW and a STOP" in run.stderr
        if attempt == 1 and too_slow:
            print(f"demo run 1 recorded no SLOW episode (machine loaded), once more:\n{run.stderr}")
            continue
        break
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"evidence: {out / 'evidence.db'}" in run.stdout
    assert f"safety output published on {endpoint}" in run.stdout
    assert "SLOW" in run.stdout and "STOP" in run.stdout
    # the live status line went to stderr
    assert "| people" in run.stderr
    # the controller-side client saw the real output go through RUN, SLOW and STOP
    states = {change.state for change in seen if change.cause == "frame"}
    assert {SafetyState.RUN, SafetyState.SLOW, SafetyState.STOP} <= states
    stop_reasons = Reason(0)
    for change in seen:
        if change.state is SafetyState.STOP and change.cause == "frame":
            stop_reasons |= Reason(change.reasons)
    assert Reason.PROTECTIVE_ZONE in stop_reasons
    assert seen[-1].state is SafetyState.STOP  # shutdown (or the watchdog after it)
    # the evidence verifies, the video and the plan open
    verify = subprocess.run(
        [sys.executable, "-m", "safetymon", "verify", "--db", str(out / "evidence.db")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    video = cv2.VideoCapture(str(out / "demo.mp4"))
    frames = int(video.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = video.read()
    video.release()
    assert ok and frame.shape == (480, 640, 3) and frames > 100
    plan = cv2.imread(str(out / "plan.png"))
    assert plan is not None and plan.shape[0] > 400
    assert any((out / "snapshots").rglob("*.jpg"))


@pytest.mark.parametrize("duration", ["0", "-3", "5000"])
def test_demo_refuses_a_bad_duration(tmp_path: Path, duration: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "safetymon", "demo", "--out", str(tmp_path / "o"),
         "--duration", duration],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 2
    assert "--duration" in run.stderr
    assert not (tmp_path / "o").exists()
