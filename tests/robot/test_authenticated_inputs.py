"""Authenticated robot-state inputs (issue 15, finding 1): CURVE on ZeroMQ, HMAC on serial.

Real transports: ZeroMQ on loopback with real CURVE handshakes, pseudo-terminals as serial
lines, key files written by ``safetymon keys generate`` code. The attack of the finding is
replayed: a man in the middle forwards the real states with every velocity set to 0.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
import zmq

from safetymon.config.robots import SerialStateInputConfig, ZmqStateInputConfig
from safetymon.robot.authentication import (
    TAG_HEX_DIGITS,
    UnauthenticatedError,
    sign_line,
    verify_line,
)
from safetymon.robot.receiver import SerialStateReceiver, ZmqStateReceiver
from safetymon.robot.store import RobotStateStore
from safetymon.signals.keys import (
    KeyFileError,
    KeyFileExistsError,
    generate_hmac_key,
    generate_keypair,
    load_hmac_key,
    load_keypair,
    load_public_key,
)
from tests.robot.helpers import encode, links_message, robot
from tests.robot.test_receivers import wait_for

KEY = bytes(range(32))


def zeroed(message: dict) -> dict:
    """The forger's edit: every link velocity set to 0 (S_p falls, finding 1)."""
    forged = json.loads(json.dumps(message))
    forged["links"]["vel_a"] = [[0.0, 0.0, 0.0]] * 2
    forged["links"]["vel_b"] = [[0.0, 0.0, 0.0]] * 2
    return forged


# -- HMAC lines ------------------------------------------------------------------------------
def test_sign_and_verify_round_trip_and_refusals() -> None:
    payload = encode(links_message(1, 1.0))
    line = sign_line(KEY, payload)
    assert line[TAG_HEX_DIGITS : TAG_HEX_DIGITS + 1] == b" "
    assert verify_line(KEY, line) == payload
    assert verify_line(KEY, line[:TAG_HEX_DIGITS].upper() + line[TAG_HEX_DIGITS:]) == payload
    for bad, why in [
        (payload, "no HMAC tag"),
        (b"z" * TAG_HEX_DIGITS + b" " + payload, "not hex"),
        (sign_line(b"another key 0123456789", payload), "does not match"),
        (line.replace(b"[0.0, 0.5, 0.0]", b"[0.0, 0.0, 0.0]"), "does not match"),  # zeroed
        (line[: TAG_HEX_DIGITS + 1], "no HMAC tag"),
    ]:  # fmt: skip
        with pytest.raises(UnauthenticatedError, match=why):
            verify_line(KEY, bad)


def test_hmac_key_files_are_owner_only_and_never_overwritten(tmp_path: Path) -> None:
    path = generate_hmac_key(tmp_path, "cell")
    assert path.name == "cell.hmac" and (path.stat().st_mode & 0o777) == 0o600
    key = load_hmac_key(path)
    assert len(key) == 32
    with pytest.raises(KeyFileExistsError):
        generate_hmac_key(tmp_path, "cell")
    assert load_hmac_key(path) == key
    assert load_hmac_key(generate_hmac_key(tmp_path, "cell", overwrite=True)) != key
    path.chmod(0o640)
    with pytest.raises(KeyFileError, match="0640 let other users"):
        load_hmac_key(path)
    short = tmp_path / "short.hmac"
    short.write_text("abcd\n")
    short.chmod(0o600)
    with pytest.raises(KeyFileError, match="at least 32 hex digits"):
        load_hmac_key(short)


def _serial_config(port: str) -> SerialStateInputConfig:
    return SerialStateInputConfig(kind="serial", port=port, hmac_key_file="k.hmac")


def test_hmac_serial_input_takes_only_tagged_lines() -> None:
    controller, device = os.openpty()
    store = RobotStateStore([robot()])
    try:
        with SerialStateReceiver(store, _serial_config(os.ttyname(device)), ["arm1"], KEY):
            os.write(controller, sign_line(KEY, encode(links_message(1, 1.0))) + b"\n")
            wait_for(lambda: store.counters().accepted == 1)
            os.write(controller, encode(links_message(2, 1.01)) + b"\n")  # untagged
            wait_for(lambda: store.counters().rejected_total == 1)
    finally:
        os.close(controller)
        os.close(device)
    assert store.counters().rejected == {"unauthenticated": 1}
    assert store.counters().per_robot["arm1"]["unauthenticated"] == 1


def test_forged_lines_interleaved_with_real_ones_are_a_named_fault() -> None:
    """The finding's attack on a serial link: the forger's lines carry no valid tag."""
    controller, device = os.openpty()
    store = RobotStateStore([robot(max_state_age_s=5.0)])
    try:
        with SerialStateReceiver(store, _serial_config(os.ttyname(device)), ["arm1"], KEY):
            for sequence in range(1, 9):
                real = links_message(sequence, sequence / 100)
                os.write(controller, sign_line(KEY, encode(real)) + b"\n")
                forged = zeroed(links_message(sequence + 100, sequence / 100 + 0.005))
                os.write(controller, encode(forged) + b"\n")  # a forger without the key
            wait_for(lambda: store.counters().accepted + store.counters().rejected_total == 16)
    finally:
        os.close(controller)
        os.close(device)
    counters = store.counters()
    assert counters.accepted == 8 and counters.rejected == {"unauthenticated": 8}
    snapshot = store.snapshot("arm1", time.monotonic())
    # every accepted state is the real one (velocities intact), and the mix is a fault
    assert snapshot.link_vel_b[1][1] == pytest.approx(0.5)
    assert snapshot.fault is not None and "two senders" in snapshot.fault
    assert "unauthenticated" in snapshot.fault


# -- CURVE on ZeroMQ -------------------------------------------------------------------------
@pytest.fixture
def controller_keys(tmp_path: Path) -> tuple[Path, Path]:
    """(public .key, secret .key_secret) of the robot controller."""
    return generate_keypair(tmp_path, "controller")


def _pub(ctx: zmq.Context, curve_keys: tuple[bytes, bytes] | None) -> tuple[zmq.Socket, str]:
    sock = ctx.socket(zmq.PUB)
    sock.setsockopt(zmq.LINGER, 0)
    if curve_keys is not None:
        sock.curve_server = True
        sock.curve_publickey, sock.curve_secretkey = curve_keys
    sock.bind("tcp://127.0.0.1:*")
    return sock, sock.getsockopt_string(zmq.LAST_ENDPOINT)


@pytest.fixture
def ctx() -> Iterator[zmq.Context]:
    context = zmq.Context()
    yield context
    context.destroy(0)


def test_curve_input_accepts_the_key_holder(ctx: zmq.Context, controller_keys) -> None:
    public, secret = controller_keys
    sock, endpoint = _pub(ctx, load_keypair(secret))
    store = RobotStateStore([robot()])
    config = ZmqStateInputConfig(endpoint=endpoint, curve_server_key_file=str(public))
    sequence = 0

    def delivered() -> bool:
        nonlocal sequence
        sequence += 1
        sock.send_multipart([b"robot_state", encode(links_message(sequence, sequence))])
        return store.counters().accepted > 0

    with ZmqStateReceiver(store, config, ["arm1"], curve_server_key=load_public_key(public)):
        wait_for(delivered)
    assert store.counters().rejected_total == 0


@pytest.mark.parametrize("forger", ["plain", "own key"])
def test_a_man_in_the_middle_without_the_secret_key_delivers_nothing(
    ctx: zmq.Context, controller_keys, forger: str
) -> None:
    """The finding's attack: the monitor connects to a forwarder that zeroes velocities.

    Without CURVE the forged states are accepted (the old behaviour, shown first). With the
    controller's public key configured, the forwarder cannot complete the handshake: not one
    state gets through, the robot stays without state (stale: STOP) and the failures are
    counted as unauthenticated.
    """
    public, _secret = controller_keys
    keys = None if forger == "plain" else zmq.curve_keypair()
    sock, endpoint = _pub(ctx, keys)
    config = ZmqStateInputConfig(endpoint=endpoint)
    sequence = 0

    def send() -> None:
        nonlocal sequence
        sequence += 1
        sock.send_multipart([b"robot_state", encode(zeroed(links_message(sequence, sequence)))])

    if forger == "plain":  # what an unauthenticated input does with the forged states
        open_store = RobotStateStore([robot()])
        with ZmqStateReceiver(open_store, config, ["arm1"]):
            wait_for(lambda: send() or open_store.counters().accepted > 0)
        forged = open_store.snapshot("arm1", time.monotonic())
        assert forged.link_vel_b[1][1] == 0.0  # the zeroed velocity was taken
    store = RobotStateStore([robot()])
    curve = ZmqStateInputConfig(endpoint=endpoint, curve_server_key_file=str(public))
    with ZmqStateReceiver(store, curve, ["arm1"], curve_server_key=load_public_key(public)):
        if forger == "own key":  # a CURVE server with the wrong key: handshakes fail
            wait_for(lambda: send() or store.counters().rejected.get("unauthenticated", 0) > 0)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            send()
            time.sleep(0.01)
    assert store.counters().accepted == 0
    snapshot = store.snapshot("arm1", time.monotonic())
    assert snapshot.age_s == float("inf")  # no state at all: the decision's STOP
    if forger == "own key":
        assert snapshot.fault is not None and "CURVE handshake" in snapshot.fault


def test_curve_needs_curve_in_libzmq_and_a_valid_key() -> None:
    assert zmq.has("curve")  # the wheel's libzmq has it; the receiver refuses otherwise
    config = ZmqStateInputConfig(endpoint="tcp://127.0.0.1:9")
    with pytest.raises(OSError, match="curve_server_key_file: not a CURVE public key"):
        ZmqStateReceiver(RobotStateStore([robot()]), config, ["arm1"], curve_server_key=b"x" * 39)


# -- end to end: robot-sim as the controller, robot-listen as the monitor ---------------------
def _site(repo: Path, tmp_path: Path, state_input: dict) -> Path:
    data = yaml.safe_load((repo / "zones" / "demo-cell.yaml").read_text())
    data["robots"][0]["state_input"] = state_input
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _listen(site: Path, sim_args: list[str], duration: str = "2") -> tuple[int, dict, str]:
    command = [sys.executable, "-m", "safetymon"]
    sim = subprocess.Popen(
        [*command, "robot-sim", "--config", str(site), "--duration", "20", *sim_args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        listen = subprocess.run(
            [*command, "robot-listen", "--config", str(site), "--duration", duration, "--json",
             "--interval", duration],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        sim.terminate()
        sim.wait(30)
    reports = [json.loads(line) for line in listen.stdout.splitlines() if line.startswith("{")]
    return listen.returncode, reports[-1] if reports else {}, listen.stderr


def test_robot_sim_as_curve_server_reaches_robot_listen(repo: Path, tmp_path: Path) -> None:
    public, secret = generate_keypair(tmp_path, "arm1")
    site = _site(
        repo,
        tmp_path,
        {"endpoint": f"ipc://{tmp_path}/arm1.ipc", "curve_server_key_file": public.name},
    )  # a relative key file: from the site file's folder
    code, report, stderr = _listen(site, ["--curve-secret-key", str(secret)])
    assert code == 0, stderr
    assert report["accepted"] > 0 and report["rejected"] == {}
    # a sender with another key pair (a forger's robot-sim) delivers nothing
    _, other = generate_keypair(tmp_path / "forger", "arm1")
    code, report, stderr = _listen(site, ["--curve-secret-key", str(other)], duration="1")
    assert code == 1 and report["accepted"] == 0
    assert "no valid state received from arm1" in stderr


def test_robot_sim_hmac_serial_reaches_robot_listen(repo: Path, tmp_path: Path) -> None:
    key = generate_hmac_key(tmp_path, "arm1")
    # a null-modem cable: robot-sim writes one pseudo-terminal, robot-listen reads another
    sim_master, sim_device = os.openpty()
    listen_master, listen_device = os.openpty()
    stop = threading.Event()

    def cable() -> None:
        while not stop.is_set():
            ready, _, _ = select.select([sim_master], [], [], 0.05)
            if ready:
                try:
                    os.write(listen_master, os.read(sim_master, 4096))
                except OSError:
                    return

    relay = threading.Thread(target=cable, daemon=True)
    relay.start()
    site = _site(
        repo,
        tmp_path,
        {"kind": "serial", "port": os.ttyname(listen_device), "hmac_key_file": str(key)},
    )
    try:
        code, report, stderr = _listen(site, ["--serial", os.ttyname(sim_device), "--hmac-key",
                                              str(key)])  # fmt: skip
        assert code == 0, stderr
        assert report["accepted"] > 0 and report["rejected"] == {}
        # without the key the same sender's lines are all refused as unauthenticated
        time.sleep(0.3)  # the first sender's last lines cross the cable, then are dropped
        termios.tcflush(listen_device, termios.TCIOFLUSH)
        code, report, stderr = _listen(site, ["--serial", os.ttyname(sim_device)], "2")
        assert code == 1 and report["accepted"] == 0
        assert report["rejected"]["unauthenticated"] > 0
        assert (
            "two senders" in report["robots"]["arm1"]["fault"]
            or "unauthenticated" in (report["robots"]["arm1"]["fault"])
        )
        wrong = subprocess.run(
            [sys.executable, "-m", "safetymon", "robot-sim", "--config", str(site),
             "--hmac-key", str(key), "--duration", "0.1"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert wrong.returncode == 2 and "give --serial" in wrong.stderr
    finally:
        stop.set()
        relay.join(5)
        for fd in (sim_master, sim_device, listen_master, listen_device):
            os.close(fd)


@pytest.mark.parametrize("field", ["curve_server_key_file", "hmac_key_file"])
def test_a_missing_or_open_key_file_refuses_to_start(
    repo: Path, tmp_path: Path, field: str
) -> None:
    if field == "hmac_key_file":
        key = generate_hmac_key(tmp_path, "arm1")
        key.chmod(0o644)  # readable by every user: refused
        state_input = {"kind": "serial", "port": "/dev/null", field: str(key)}
        needle = "0644 let other users"
    else:
        state_input = {"endpoint": f"ipc://{tmp_path}/arm1.ipc", field: "missing.key"}
        needle = "key file not found"
    site = _site(repo, tmp_path, state_input)
    listen = ["robot-listen", "--config", str(site), "--duration", "0.2"]
    run = ["run", "--config", str(site), "--duration", "0.2", "--no-status"]
    for command in (listen, run):
        done = subprocess.run(
            [sys.executable, "-m", "safetymon", *command],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 2, (command, done.stderr)
        assert f"robots[0].state_input.{field}" in done.stderr and needle in done.stderr
