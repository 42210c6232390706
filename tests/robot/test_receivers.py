"""Receivers with real transports: ZeroMQ PUB/SUB on loopback, a pseudo-terminal as serial."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
import yaml
import zmq

from safetymon.config.robots import SerialStateInputConfig, ZmqStateInputConfig
from safetymon.robot.receiver import SerialStateReceiver, ZmqStateReceiver, start_receivers
from safetymon.robot.store import RobotStateStore
from safetymon.signals.endpoints import check_bindable
from tests.conftest import REPO
from tests.robot.helpers import encode, links_message, robot


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll until ``condition()`` holds (fails the test after a generous timeout)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        time.sleep(0.005)


@pytest.fixture
def publisher() -> Iterator[tuple[zmq.Socket, str]]:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind("tcp://127.0.0.1:*")
    yield sock, sock.getsockopt_string(zmq.LAST_ENDPOINT)
    sock.close()
    ctx.term()


def test_zmq_messages_reach_the_store(publisher: tuple[zmq.Socket, str]) -> None:
    sock, endpoint = publisher
    store = RobotStateStore([robot()])
    config = ZmqStateInputConfig(endpoint=endpoint)
    with ZmqStateReceiver(store, config, ["arm1"]):
        sequence = 0

        def delivered() -> bool:  # PUB/SUB joins late: resend until the first arrives
            nonlocal sequence
            sequence += 1
            sock.send_multipart([b"robot_state", encode(links_message(sequence, sequence))])
            return store.counters().accepted > 0

        wait_for(delivered)

        def marker(x: float) -> None:  # ZeroMQ keeps order: once it is in, all before are
            nonlocal sequence
            sequence += 1
            message = links_message(sequence, sequence)
            message["links"]["b"][1] = [x, 0.0, 0.8]
            sock.send_multipart([b"robot_state", encode(message)])
            wait_for(lambda: store.snapshot("arm1", time.monotonic()).link_b[1][0] == x)

        marker(0.25)
        before = store.counters()
        assert before.rejected_total == 0
        sock.send_multipart([b"robot_state", b"{oops"])
        sock.send_multipart([b"robot_state", b"a", b"b"])
        sock.send_multipart([b"other_topic", encode(links_message(10_000, 10_000.0))])
        sock.send_multipart([b"robot_state", encode(links_message(sequence, 0.5))])
        marker(0.75)
    counters = store.counters()
    assert counters.accepted == before.accepted + 1
    assert counters.rejected == {"malformed": 2, "out_of_order": 1}
    assert counters.per_robot["arm1"]["malformed"] == 2  # the endpoint serves only arm1
    snapshot = store.snapshot("arm1", time.monotonic())
    assert snapshot.fault is None
    assert 0.0 <= snapshot.age_s < 60.0


def test_zmq_bind_mode_and_shared_endpoint(tmp_path) -> None:
    endpoint = f"ipc://{tmp_path}/robots.ipc"
    store = RobotStateStore([robot(), robot(id="arm2")])
    config = ZmqStateInputConfig(endpoint=endpoint, bind=True)
    receivers = start_receivers(store, [("arm1", config), ("arm2", config)])
    assert len(receivers) == 1  # one socket for both robots
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUB)
    sock.connect(endpoint)
    try:
        sequence = 0

        def both() -> bool:
            nonlocal sequence
            sequence += 1
            for robot_id in ("arm1", "arm2"):
                message = links_message(sequence, float(sequence), robot_id=robot_id)
                sock.send_multipart([b"robot_state", encode(message)])
            per_robot = store.counters().per_robot
            return per_robot["arm1"]["accepted"] > 0 and per_robot["arm2"]["accepted"] > 0

        wait_for(both)
    finally:
        for receiver in receivers:
            receiver.close()
        sock.close(0)
        ctx.term()


def test_unusable_endpoint_refuses_to_start() -> None:
    store = RobotStateStore([robot()])
    config = ZmqStateInputConfig(endpoint="tcp://203.0.113.300:5570", bind=True)
    with pytest.raises(OSError, match=r"state_input\.endpoint"):
        ZmqStateReceiver(store, config, ["arm1"])


def test_serial_lines_over_a_pseudo_terminal() -> None:
    master, slave = os.openpty()
    store = RobotStateStore([robot()])
    config = SerialStateInputConfig(kind="serial", port=os.ttyname(slave))
    try:
        with SerialStateReceiver(store, config, ["arm1"]):
            os.write(master, encode(links_message(1, 1.0)) + b"\r\n")
            os.write(master, b"not json\n\n")
            raw = encode(links_message(2, 1.01))
            os.write(master, raw[:30])  # a line split across reads
            time.sleep(0.01)
            os.write(master, raw[30:] + b"\n")
            os.write(master, encode(links_message(3, 1.02)).replace(b"1.02", b"-Infinity") + b"\n")
            wait_for(
                lambda: store.counters().accepted == 2 and store.counters().rejected_total == 2
            )
    finally:
        os.close(master)
        os.close(slave)
    counters = store.counters()
    assert counters.rejected == {"malformed": 1, "non_finite": 1}
    assert counters.per_robot["arm1"] == {"accepted": 2, "malformed": 1, "non_finite": 1}


def test_serial_port_failure_becomes_a_fault() -> None:
    master, slave = os.openpty()
    store = RobotStateStore([robot()])
    config = SerialStateInputConfig(kind="serial", port=os.ttyname(slave))
    receiver = SerialStateReceiver(store, config, ["arm1"])
    os.close(slave)  # the receiver has its own descriptor
    receiver.start()
    try:
        os.write(master, encode(links_message(1, 1.0)) + b"\n")
        wait_for(lambda: store.counters().accepted == 1)
        os.close(master)  # the other end goes away: reads fail with EIO
        wait_for(lambda: not receiver.alive)
    finally:
        receiver.close()
    fault = store.snapshot("arm1", time.monotonic()).fault
    assert fault is not None and "safetymon-robot-serial failed" in fault
    assert receiver.error is not None


def test_missing_serial_port_refuses_to_start(tmp_path) -> None:
    config = SerialStateInputConfig(kind="serial", port=str(tmp_path / "ttyNONE"))
    with pytest.raises(OSError, match=r"state_input\.port"):
        SerialStateReceiver(RobotStateStore([robot()]), config, ["arm1"])


HOSTILE = {
    "60 kB of nested brackets": b"[" * 30_000 + b"]" * 30_000,
    "a 5000-digit integer": b'{"robot_id": "arm1", "sequence": ' + b"9" * 5000 + b"}",
    "a 21-digit sequence": b'{"robot_id": "arm1", "sequence": 123456789012345678901}',
    "nested objects": b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
}


def test_no_message_ends_the_zmq_receiver(publisher: tuple[zmq.Socket, str]) -> None:
    """Issue 15, finding 5: one such message ended the receiver thread for good, unlogged."""
    sock, endpoint = publisher
    store = RobotStateStore([robot()])
    with ZmqStateReceiver(store, ZmqStateInputConfig(endpoint=endpoint), ["arm1"]) as receiver:
        sequence = 0

        def delivered(after: int) -> bool:  # PUB/SUB joins late: resend until one arrives
            nonlocal sequence
            sequence += 1
            sock.send_multipart([b"robot_state", encode(links_message(sequence, sequence))])
            return store.counters().accepted > after

        wait_for(lambda: delivered(0))
        for payload in HOSTILE.values():
            sock.send_multipart([b"robot_state", payload])
        accepted = store.counters().accepted
        wait_for(lambda: delivered(accepted))  # still receiving after all of them
        assert receiver.alive and receiver.error is None
    counters = store.counters()
    assert counters.rejected.get("malformed", 0) == len(HOSTILE), counters.rejected
    assert store.snapshot("arm1", time.monotonic()).fault is None


def write_all(fd: int, data: bytes, timeout_s: float = 10.0) -> None:
    """Write to a non-blocking pty; fail (not hang) when the receiver stops reading."""
    deadline = time.monotonic() + timeout_s
    while data:
        try:
            data = data[os.write(fd, data) :]
        except BlockingIOError:
            if time.monotonic() > deadline:
                pytest.fail("the receiver stopped reading the serial port")
            time.sleep(0.005)


def test_no_line_ends_the_serial_receiver() -> None:
    controller, device = os.openpty()
    os.set_blocking(controller, False)
    store = RobotStateStore([robot()])
    config = SerialStateInputConfig(kind="serial", port=os.ttyname(device))
    try:
        with SerialStateReceiver(store, config, ["arm1"]) as receiver:
            for payload in HOSTILE.values():
                write_all(controller, payload + b"\n")
            write_all(controller, encode(links_message(1, 1.0)) + b"\n")
            wait_for(lambda: store.counters().accepted == 1)
            assert receiver.alive and receiver.error is None
        assert store.counters().rejected.get("malformed", 0) == len(HOSTILE)
    finally:
        os.close(controller)
        os.close(device)


def test_a_bound_ipc_input_never_deletes_a_file_or_takes_a_live_path(tmp_path) -> None:
    """Issue 15, finding 3 for the robot-state input and robot-sim: ZeroMQ's ipc bind unlinks
    whatever is at the path. With the monitor's bind check, a file there is refused and
    kept, and so is the path of a live sender."""
    evidence = tmp_path / "evidence.db"
    evidence.write_bytes(b"records")
    store = RobotStateStore([robot()])
    config = ZmqStateInputConfig(endpoint=f"ipc://{evidence}", bind=True)
    with pytest.raises(OSError, match=r"state_input\.endpoint .*not a socket"):
        ZmqStateReceiver(store, config, ["arm1"], bind_check=check_bindable)
    with pytest.raises(OSError, match="not a socket"):
        start_receivers(store, [("arm1", config)], bind_check=check_bindable)
    assert evidence.read_bytes() == b"records"

    live = ZmqStateInputConfig(endpoint=f"ipc://{tmp_path}/arm.ipc", bind=True)
    first = ZmqStateReceiver(store, live, ["arm1"], bind_check=check_bindable)
    try:
        with pytest.raises(OSError, match="in use"):
            ZmqStateReceiver(store, live, ["arm1"], bind_check=check_bindable)
    finally:
        first.close()


def test_robot_sim_refuses_an_ipc_path_that_is_a_file(tmp_path) -> None:
    evidence = tmp_path / "evidence.db"
    evidence.write_bytes(b"records")
    data = yaml.safe_load((REPO / "zones" / "demo-cell.yaml").read_text())
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(data))
    done = subprocess.run(
        [sys.executable, "-m", "safetymon", "robot-sim", "--config", str(site), "--endpoint",
         f"ipc://{evidence}", "--duration", "0.2"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1 and "not a socket" in done.stderr
    assert evidence.read_bytes() == b"records"
