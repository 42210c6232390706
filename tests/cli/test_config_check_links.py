"""`safetymon config check` names unauthenticated links reachable from the network.

Issue 15: "`config check` warns loudly when an input is unauthenticated and reachable beyond
loopback", and says when the safety output's CURVE is off. Real subprocesses on site files
written here; the pure rules are checked on their own first.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from safetymon.config.links import serial_port_is_local, zmq_endpoint_is_local
from safetymon.signals.keys import generate_hmac_key, generate_keypair

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("endpoint", "local"),
    [
        ("ipc:///run/safetymon/arm.ipc", True),
        ("tcp://127.0.0.1:5570", True),
        ("tcp://127.8.9.10:5570", True),
        ("tcp://localhost:5570", True),
        ("tcp://[::1]:5570", True),
        ("tcp://*:5570", False),
        ("tcp://0.0.0.0:5570", False),
        ("tcp://192.168.10.20:5570", False),
        ("tcp://robot-controller.local:5570", False),
        ("tcp://eth0:5570", False),
        ("tcp://127.0.0.1;192.168.1.5:5570", False),
    ],
)
def test_which_zmq_endpoints_are_local(endpoint: str, local: bool) -> None:
    assert zmq_endpoint_is_local(endpoint) is local


def test_which_serial_ports_are_local() -> None:
    assert serial_port_is_local("/dev/ttyACM0") and serial_port_is_local("COM3")
    assert not serial_port_is_local("socket://10.0.0.5:4001")
    assert not serial_port_is_local("RFC2217://10.0.0.5:4001")


def check(
    tmp_path: Path, state_input: dict, outputs: dict | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    data = yaml.safe_load((REPO / "zones" / "demo-cell.yaml").read_text())
    data["robots"][0]["state_input"] = state_input
    if outputs is not None:
        data["outputs"] = outputs
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(data))
    return subprocess.run(
        [sys.executable, "-m", "safetymon", "config", "check", str(site)],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip


def test_open_network_input_and_output_are_warned(tmp_path: Path) -> None:
    result = check(
        tmp_path,
        {"endpoint": "tcp://192.168.10.20:5570"},
        {"zmq": {"endpoint": "tcp://0.0.0.0:5560"}},
    )
    assert result.returncode == 0, result.stderr
    assert "unauthenticated, reachable from the network" in result.stdout
    assert "robots[0].state_input: robot 'arm1'" in result.stderr
    assert "WITHOUT AUTHENTICATION" in result.stderr and "curve_server_key_file" in result.stderr
    assert "outputs.zmq" in result.stderr and "WITHOUT CURVE" in result.stderr


def test_authenticated_or_local_links_are_not_warned(tmp_path: Path) -> None:
    public, _ = generate_keypair(tmp_path, "arm1")
    generate_keypair(tmp_path, "monitor")
    result = check(
        tmp_path,
        {"endpoint": "tcp://192.168.10.20:5570", "curve_server_key_file": public.name},
        {"zmq": {"endpoint": "tcp://127.0.0.1:5560"}},
    )
    assert result.returncode == 0, result.stderr
    assert "CURVE, reachable from the network" in result.stdout
    assert "WITHOUT" not in result.stderr
    key = generate_hmac_key(tmp_path, "arm1")
    result = check(
        tmp_path, {"kind": "serial", "port": "rfc2217://10.0.0.5:4001", "hmac_key_file": str(key)}
    )
    assert result.returncode == 0 and "WITHOUT" not in result.stderr
    assert "HMAC-SHA256" in result.stdout
    result = check(tmp_path, {"kind": "serial", "port": "socket://10.0.0.5:4001"})
    assert "WITHOUT AUTHENTICATION" in result.stderr and "hmac_key_file" in result.stderr


def test_an_unloadable_key_file_is_an_error(tmp_path: Path) -> None:
    result = check(tmp_path, {"endpoint": "tcp://127.0.0.1:5570", "curve_server_key_file": "x.key"})
    assert result.returncode == 2
    assert "robots[0].state_input.curve_server_key_file" in result.stderr
    assert "key file not found" in result.stderr


def test_a_dds_output_is_summarised_and_warned_beyond_this_host(tmp_path: Path) -> None:
    local = {"endpoint": "tcp://127.0.0.1:5570"}
    result = check(tmp_path, local, {"dds": {"domain_id": 7, "connection_id": 12}})
    assert result.returncode == 0, result.stderr
    assert (
        "dds: ROS 2 domain 7, frames on /safetymon/safety_frame (std_msgs/UInt8MultiArray), "
        "status on /safetymon/safety_status (diagnostic_msgs/DiagnosticStatus), connection 12, "
        "50 Hz, unauthenticated, loopback only"
    ) in result.stdout
    assert "outputs.dds" not in result.stderr
    result = check(
        tmp_path, local, {"dds": {"domain_id": 7, "loopback_only": False, "status_topic": None}}
    )
    assert result.returncode == 0, result.stderr
    assert "no status topic" in result.stdout and "reachable from the network" in result.stdout
    assert "outputs.dds: the safety signal is published on ROS 2 DDS domain 7" in result.stderr
    assert "WITHOUT AUTHENTICATION beyond this host" in result.stderr
    assert "docs/ROS2.md" in result.stderr


def test_a_dds_output_without_cyclonedds_is_an_error(tmp_path: Path) -> None:
    """The monitor would refuse to start; config check says so first, naming outputs.dds (a
    package on the path that fails to import stands for a machine without it)."""
    broken = tmp_path / "broken" / "cyclonedds"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('cyclonedds is not installed')\n")
    env = {**os.environ, "PYTHONPATH": f"{broken.parent}{os.pathsep}{REPO}"}
    result = check(tmp_path, {"endpoint": "tcp://127.0.0.1:5570"}, {"dds": {}}, env=env)
    assert result.returncode == 2, result.stdout
    assert "outputs.dds: needs the Python package 'cyclonedds'" in result.stderr
