"""`safetymon robot-sim` / `robot-listen` as real subprocesses on real sockets."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from safetymon.cli.robot_cmd import _print_report, _report
from safetymon.config.loader import load_site_config
from safetymon.robot.receiver import ZmqStateReceiver
from safetymon.robot.store import RobotStateStore
from tests.robot.helpers import UR5_ROWS, encode, links_message, robot
from tests.robot.test_receivers import wait_for


def site_file(repo: Path, tmp_path: Path, **robot_changes: object) -> Path:
    """The demo cell with arm1's state input on an ipc endpoint in ``tmp_path``."""
    data = yaml.safe_load((repo / "zones" / "demo-cell.yaml").read_text())
    data["robots"][0]["state_input"] = {
        "endpoint": f"ipc://{tmp_path}/arm1.ipc",
        "clock": "shared_monotonic",
    }
    data["robots"][0].update(robot_changes)
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def safetymon(*args: str) -> list[str]:
    return [sys.executable, "-m", "safetymon", *args]


def receive(site: Path, count: int, *sim_args: str) -> tuple[RobotStateStore, list]:
    """Run robot-sim, receive ``count`` accepted states, return the store and snapshots."""
    config = load_site_config(site)
    store = RobotStateStore(config.robots, site.parent)
    process = subprocess.Popen(
        safetymon("robot-sim", "--config", str(site), "--duration", "30", *sim_args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    snapshots = []
    try:
        with ZmqStateReceiver(store, config.robots[0].state_input, ["arm1"]):
            for _ in range(count):
                before = store.counters().accepted
                wait_for(
                    lambda b=before: store.counters().accepted > b or process.poll() is not None, 30
                )
                assert process.poll() is None, process.communicate()
                snapshots.append(store.snapshot("arm1", time.monotonic()))
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "robot-sim: sent" in out
    return store, snapshots


def tip_speeds(snapshots: list) -> np.ndarray:
    usable = [s for s in snapshots if s.fault is None]
    return np.array([np.linalg.norm(s.link_vel_b, axis=1).max() for s in usable])


def test_robot_sim_publishes_the_sweeping_arm(repo: Path, tmp_path: Path) -> None:
    site = site_file(repo, tmp_path)
    store, snapshots = receive(site, 30, "--speed-scale", "0.5")
    last = snapshots[-1]
    assert last.fault is None
    np.testing.assert_allclose(last.link_a[0], [1.0, 0.75, 0.72])  # the configured base_pose
    assert np.linalg.norm(last.link_b[1][:2] - [1.0, 0.75]) == pytest.approx(0.5)
    np.testing.assert_allclose(tip_speeds(snapshots), 0.5, rtol=1e-9)  # 1.0 m/s x 0.5
    assert store.counters().rejected.get("out_of_order", 0) == 0


def test_robot_sim_dh_arm_without_velocities(repo: Path, tmp_path: Path) -> None:
    geometry = {"kind": "dh", "joints": UR5_ROWS}
    site = site_file(repo, tmp_path, geometry=geometry, base_pose={"x_m": 1.0, "y_m": 0.7})
    _, snapshots = receive(site, 40, "--no-velocities", "--rate", "200")
    assert (
        snapshots[0].fault is not None or snapshots[1].fault is None
    )  # first: nothing to difference
    speeds = tip_speeds(snapshots)
    assert speeds.size > 20
    # differenced speeds of a sweep tuned to 0.9 x max_speed_mps (1.0 m/s)
    assert 0.0 < speeds.max() <= 0.9 * 1.05
    last = snapshots[-1]
    assert last.link_a.shape == (6, 3)
    np.testing.assert_allclose(last.link_a[0], [1.0, 0.7, 0.0])


def test_robot_listen_reports_states_and_counters(repo: Path, tmp_path: Path) -> None:
    site = site_file(repo, tmp_path)
    sim = subprocess.Popen(
        safetymon("robot-sim", "--config", str(site), "--duration", "20"),
        stdout=subprocess.DEVNULL,
    )
    try:
        listen = subprocess.run(
            safetymon("robot-listen", "--config", str(site), "--duration", "2", "--json",
                      "--interval", "0.5"),
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        sim.terminate()
        sim.wait(30)
    assert listen.returncode == 0, listen.stderr
    assert '"accepted"' in listen.stdout and '"arm1"' in listen.stdout


def test_robot_listen_without_sender_fails(repo: Path, tmp_path: Path) -> None:
    site = site_file(repo, tmp_path)
    listen = subprocess.run(
        safetymon("robot-listen", "--config", str(site), "--duration", "0.3"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listen.returncode == 1
    assert "arm1: age never" in listen.stdout
    assert "no valid state received from arm1" in listen.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--rate", "0"], "--rate"),
        (["--speed-scale", "2"], "--speed-scale"),
        (["--robot", "arm9"], "no robot 'arm9'"),
        (["--duration", "-1"], "--duration"),
    ],
)
def test_robot_sim_rejects_bad_arguments(repo: Path, args: list[str], needle: str) -> None:
    result = subprocess.run(
        safetymon("robot-sim", "--config", str(repo / "zones" / "demo-cell.yaml"), *args),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert needle in result.stderr


def test_robot_sim_rejects_a_bad_site_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("site: x\ncameras: []\n")
    result = subprocess.run(
        safetymon("robot-sim", "--config", str(bad)), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "cameras" in result.stderr


def test_a_restarted_robot_sim_is_accepted_as_a_new_session(repo: Path, tmp_path: Path) -> None:
    """Kill robot-sim and start it again: its sequence starts at 1 again, and the new
    session's states are accepted (a restart counted), not refused as out of order."""
    site = site_file(repo, tmp_path)
    config = load_site_config(site)
    store = RobotStateStore(config.robots, site.parent)
    command = safetymon("robot-sim", "--config", str(site), "--duration", "30")
    with ZmqStateReceiver(store, config.robots[0].state_input, ["arm1"]):
        for _ in range(2):
            sim = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                before = store.counters().accepted
                wait_for(lambda b=before: store.counters().accepted >= b + 20, 30)
            finally:
                sim.kill()
                sim.communicate(timeout=30)
    counters = store.counters()
    assert counters.restarts == {"arm1": 1}
    assert counters.rejected.get("out_of_order", 0) == 0


def test_robot_listen_report_shows_sender_restarts(capsys) -> None:
    store = RobotStateStore([robot()])
    assert store.submit(encode(links_message(9, 1.0, session="a")), 1.0).accepted
    assert store.submit(encode(links_message(1, 2.01, session="b")), 2.01).accepted
    report = _report(store, 2.02)
    assert report["sender_restarts"] == {"arm1": 1}
    _print_report(report)
    assert "accepted 2, rejected: none, arm1 sender restarted 1x" in capsys.readouterr().out
