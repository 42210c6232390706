"""ipc endpoints: never delete a file, never share an endpoint with a live publisher.

Issue 15, findings 2 and 3: a second `safetymon publish` on the ipc path of a live one bound
silently (the controller stayed with the leftover RUN publisher), and `--zmq ipc://<evidence
database>` replaced the database with a socket. Real ZeroMQ sockets, real Unix sockets and
real `safetymon` processes.
"""

from __future__ import annotations

import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from safetymon.config.outputs import ZmqOutputConfig
from safetymon.signals.client import SafetyClient
from safetymon.signals.endpoints import EndpointInUseError, check_bindable, ipc_path
from safetymon.signals.frame import SafetyState
from safetymon.signals.zmq_publisher import ZmqPublisher


def publisher(endpoint: str) -> ZmqPublisher:
    return ZmqPublisher(ZmqOutputConfig(endpoint=endpoint, connection_id=5, heartbeat_hz=50))


def test_an_ipc_path_naming_a_file_is_refused_and_the_file_kept(tmp_path: Path) -> None:
    database = tmp_path / "evidence.db"
    database.write_bytes(b"SQLite format 3\x00 recorded episodes")
    with pytest.raises(OSError, match=r"evidence\.db.*not a socket"):
        publisher(f"ipc://{database}")
    assert database.read_bytes() == b"SQLite format 3\x00 recorded episodes"
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(OSError, match="existing folder"):
        publisher(f"ipc://{folder}")
    assert folder.is_dir()


def test_a_second_publisher_on_a_live_ipc_endpoint_is_refused(tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/safety.ipc"
    first = publisher(endpoint)
    try:
        with pytest.raises(OSError, match="in use: a live process"):
            publisher(endpoint)
        # the first publisher still owns the endpoint and still reaches a controller
        first.publish(SafetyState.RUN, 1.0, 0)
        with SafetyClient(endpoint, 5, watchdog_s=1.0, same_clock=True) as client:
            deadline = time.monotonic() + 5.0
            while client.received < 3 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert client.received >= 3
            assert client.state is SafetyState.RUN
    finally:
        first.close()


def test_a_leftover_socket_file_of_a_dead_process_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "leftover.ipc"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))  # bound, never listening, closed: the file stays, nobody answers
    dead.close()
    assert stat.S_ISSOCK(path.lstat().st_mode)
    check_bindable(f"ipc://{path}")
    with publisher(f"ipc://{path}") as pub:
        assert pub.endpoint == f"ipc://{path}"


def test_a_listening_unix_socket_of_another_program_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sock"
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    other.bind(str(path))
    other.listen(1)
    try:
        with pytest.raises(EndpointInUseError, match="in use"):
            check_bindable(f"ipc://{path}")
    finally:
        other.close()


def test_which_endpoints_have_a_file() -> None:
    assert ipc_path("ipc:///run/safetymon/safety.ipc") == Path("/run/safetymon/safety.ipc")
    assert ipc_path("ipc://relative.ipc") == Path("relative.ipc")
    for endpoint in ("ipc://@abstract", "ipc://*", "tcp://127.0.0.1:5555", "inproc://x"):
        assert ipc_path(endpoint) is None
        check_bindable(endpoint)  # nothing to check: ZeroMQ decides


def test_tcp_still_refuses_a_second_bind_itself() -> None:
    with publisher("tcp://127.0.0.1:0") as first, pytest.raises(OSError, match="cannot bind"):
        publisher(first.endpoint)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "safetymon", *args]


def test_publish_cli_refuses_a_live_endpoint_and_a_file(tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/cell.ipc"
    first = subprocess.Popen(
        cli("publish", endpoint, "--state", "STOP", "--rate", "20"),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stdout is not None
        assert first.stdout.readline().startswith("publishing")
        second = subprocess.run(
            cli("publish", endpoint, "--state", "RUN", "--duration", "1"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1, second.stdout + second.stderr
        assert "cell.ipc" in second.stderr and "in use" in second.stderr
        assert "publishing" not in second.stdout
        assert first.poll() is None  # the first one runs on, untouched
    finally:
        first.terminate()
        first.wait(10)
    database = tmp_path / "evidence.db"
    database.write_bytes(b"episodes")
    refused = subprocess.run(
        cli("publish", f"ipc://{database}", "--state", "RUN", "--duration", "1"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1 and "not a socket" in refused.stderr
    assert database.read_bytes() == b"episodes"



def test_run_refuses_an_ipc_endpoint_naming_its_evidence_database(tmp_path: Path) -> None:
    """Finding 3 as reported: `safetymon run --zmq ipc://<evidence.db>` deleted the store."""
    repo = Path(__file__).resolve().parents[2]
    database = tmp_path / "evidence.db"
    database.write_bytes(b"SQLite format 3\x00 the cell's recorded episodes")
    completed = subprocess.run(
        cli("run", "--config", str(repo / "zones" / "service-counter.yaml"),
            "--zmq", f"ipc://{database}", "--evidence", str(tmp_path / "other.db"),
            "--duration", "2", "--no-status"),
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "evidence.db" in completed.stderr and "not a socket" in completed.stderr
    assert database.read_bytes() == b"SQLite format 3\x00 the cell's recorded episodes"
