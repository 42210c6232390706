"""hw/examples/robot_state_publisher.c: a C controller publishing robot state as CURVE server.

Built with gcc against the system libzmq, run as a real process; safetymon's receiver holds
its public key (written by ``safetymon keys generate`` code) and takes its states. A monitor
holding another controller's key takes nothing from it.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from safetymon.config.robots import ZmqStateInputConfig
from safetymon.robot.receiver import ZmqStateReceiver
from safetymon.robot.store import RobotStateStore
from safetymon.signals.keys import generate_keypair, load_public_key
from tests.robot.helpers import robot
from tests.robot.test_receivers import wait_for
from tests.signals.test_c_example import _have_toolchain, build_example

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "hw" / "examples" / "robot_state_publisher.c"

pytestmark = pytest.mark.skipif(_have_toolchain() is not None, reason=str(_have_toolchain()))


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_example(SOURCE, tmp_path_factory.mktemp("c") / "robot_state_publisher", "-lm")


def test_monitor_takes_the_c_publishers_states_with_its_key(binary: Path, tmp_path: Path) -> None:
    public, secret = generate_keypair(tmp_path, "arm1")
    endpoint = f"ipc://{tmp_path}/arm1.ipc"
    process = subprocess.Popen(
        [str(binary), endpoint, str(secret), "arm1", "200", "20000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    store = RobotStateStore([robot()])
    config = ZmqStateInputConfig(endpoint=endpoint, curve_server_key_file=str(public))
    try:
        with ZmqStateReceiver(store, config, ["arm1"], curve_server_key=load_public_key(public)):
            wait_for(lambda: store.counters().accepted >= 20 or process.poll() is not None, 30)
            assert process.poll() is None, process.communicate()
            snapshot = store.snapshot("arm1", time.monotonic())
    finally:
        process.terminate()
        process.wait(10)
    assert store.counters().rejected_total == 0
    assert snapshot.fault is None and snapshot.age_s < 1.0
    tip_speed = np.linalg.norm(snapshot.link_vel_b[1])
    assert tip_speed == pytest.approx(0.5, abs=1e-3)  # the forearm tip at 0.5 m/s


def test_another_controllers_key_takes_nothing(binary: Path, tmp_path: Path) -> None:
    _, secret = generate_keypair(tmp_path, "impostor")
    public, _ = generate_keypair(tmp_path, "arm1")
    endpoint = f"ipc://{tmp_path}/arm1.ipc"
    process = subprocess.Popen(
        [str(binary), endpoint, str(secret), "arm1", "200", "20000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    store = RobotStateStore([robot()])
    config = ZmqStateInputConfig(endpoint=endpoint, curve_server_key_file=str(public))
    try:
        with ZmqStateReceiver(store, config, ["arm1"], curve_server_key=load_public_key(public)):
            wait_for(lambda: store.counters().rejected.get("unauthenticated", 0) > 0, 30)
            time.sleep(0.5)
    finally:
        process.terminate()
        process.wait(10)
    assert store.counters().accepted == 0


def test_bad_arguments_and_key_files_are_refused(binary: Path, tmp_path: Path) -> None:
    usage = subprocess.run([str(binary)], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage" in usage.stderr
    public, _ = generate_keypair(tmp_path, "arm1")
    no_secret = subprocess.run(
        [str(binary), "ipc:///tmp/x.ipc", str(public), "arm1"], capture_output=True, text=True
    )  # the public file has no secret-key
    assert no_secret.returncode == 2 and "no secret-key" in no_secret.stderr
