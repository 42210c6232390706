"""ArmSimulator: scripted sweep, speed scale, pacing, messages accepted by the store."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from safetymon.robot.geometry import RobotModel
from safetymon.robot.messages import parse_message
from safetymon.robot.sim import ArmSimulator
from safetymon.robot.store import RobotStateStore
from tests.robot.helpers import UR5_ROWS, robot


def test_speed_scale_zero_holds_the_arm_still() -> None:
    simulator = ArmSimulator(robot(), speed_scale=0.0)
    first = simulator.message(1.0)
    second = simulator.message(1.5)
    assert first.links is not None and second.links is not None
    assert first.links.b == second.links.b
    assert second.sequence == first.sequence + 1
    simulator.set_speed_scale(1.0)
    assert simulator.message(1.6).links.b != second.links.b
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        simulator.set_speed_scale(1.5)


def test_dh_sweep_stays_below_the_maximum_speed() -> None:
    arm = robot(geometry={"kind": "dh", "joints": UR5_ROWS}, max_speed_mps=0.5)
    simulator = ArmSimulator(arm)
    model = RobotModel(arm)
    fastest = 0.0
    for step in range(200):
        capsules = model.capsules(simulator.message(step * 0.01))
        speeds = np.linalg.norm(np.vstack([capsules.vel_a, capsules.vel_b]), axis=1)
        fastest = max(fastest, float(speeds.max()))
    assert 0.3 < fastest <= 0.9 * 0.5 + 1e-9


def test_run_paces_messages_the_store_accepts() -> None:
    simulator = ArmSimulator(robot(), base=None)
    store = RobotStateStore([robot()])
    sent: list[bytes] = []
    stop = threading.Event()

    def send(raw: bytes) -> None:
        sent.append(raw)
        assert store.submit(raw, parse_message(raw).capture_time_s).accepted
        if len(sent) == 20:
            stop.set()

    assert simulator.run(send, rate_hz=500.0, stop=stop) == 20
    assert store.counters().accepted == 20
    with pytest.raises(ValueError, match="rate_hz"):
        simulator.run(send, rate_hz=0.0)
