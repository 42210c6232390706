"""The demo's simulated humanoid as a real process: it obeys a real safety publisher (in a
process of its own, so that killing it is real silence) through the real client, and the
monitor's ``ros2`` input receives its JointState and Odometry over loopback DDS.

Needs ``cyclonedds`` (the dev extra): skipped without it, failed with
``SAFETYMON_REQUIRE_OPTIONAL=1``.
"""

from __future__ import annotations

import importlib.util
import json
import math
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from safetymon.config.loader import load_site_config
from safetymon.config.robots import Ros2StateInputConfig
from safetymon.demo.humanoid import read_record
from safetymon.examples import example_path
from safetymon.robot.receiver import start_receivers
from safetymon.robot.store import RobotStateStore
from tests.conftest import require_optional

SITE = example_path("demo-humanoid-counter.yaml")
# a DDS domain of its own (the demo's default is 61; the ros2 tests pick 100..229)
DOMAIN = random.SystemRandom().randrange(2, 60)

PUBLISHER = """
import sys, threading, time
from safetymon.config.outputs import ZmqOutputConfig
from safetymon.signals.frame import SafetyState
from safetymon.signals.zmq_publisher import ZmqPublisher
pub = ZmqPublisher(ZmqOutputConfig(endpoint="tcp://127.0.0.1:0", connection_id=3))
wanted = [SafetyState.STOP, 0.0]
def read():
    for line in sys.stdin:
        state, scale = line.split()
        wanted[:] = [SafetyState[state], float(scale)]
threading.Thread(target=read, daemon=True).start()
print(pub.endpoint, flush=True)
while True:  # a decision loop: the state stays fresh
    pub.publish(wanted[0], wanted[1], 0)
    time.sleep(0.01)
"""


def test_the_humanoid_walks_slows_stands_and_stands_on_silence(tmp_path: Path) -> None:
    require_optional(importlib.util.find_spec("cyclonedds") is not None,
                     "Python package cyclonedds (pip install -e .[dev])")  # fmt: skip
    config = load_site_config(SITE)
    robot = config.robots[0]
    assert isinstance(robot.state_input, Ros2StateInputConfig)
    robot = robot.model_copy(update={
        "state_input": robot.state_input.model_copy(update={"domain_id": DOMAIN})
    })  # fmt: skip
    store = RobotStateStore([robot], SITE.parent)
    receivers = start_receivers(store, [(robot.id, robot.state_input)])
    publisher = subprocess.Popen([sys.executable, "-c", PUBLISHER], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)  # fmt: skip
    record = tmp_path / "record.jsonl"
    humanoid = None
    try:
        assert publisher.stdout is not None and publisher.stdin is not None
        endpoint = publisher.stdout.readline().strip()
        assert endpoint.startswith("tcp://127.0.0.1:"), endpoint
        humanoid = subprocess.Popen(
            [sys.executable, "-m", "safetymon.sim.humanoid_robot", "--site", str(SITE),
             "--domain", str(DOMAIN), "--safety", endpoint, "--connection-id", "3",
             "--record", str(record), "--rate", "50", "--duration", "120"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60.0  # imports on a loaded machine
        while not math.isfinite(store.snapshot(robot.id, time.monotonic()).age_s):
            assert humanoid.poll() is None, humanoid.stdout.read() if humanoid.stdout else ""
            assert time.monotonic() < deadline, "no joint state arrived over DDS"
            time.sleep(0.1)
        standing = store.snapshot(robot.id, time.monotonic())
        assert standing.problem() is None
        speeds: dict[str, float] = {}
        for state, scale, hold_s in (("RUN", 1.0, 3.0), ("SLOW", 0.3, 2.0), ("STOP", 0.0, 2.0),
                                     ("RUN", 1.0, 2.0)):  # fmt: skip
            publisher.stdin.write(f"{state} {scale}\n")
            publisher.stdin.flush()
            time.sleep(hold_s)
            snapshot = store.snapshot(robot.id, time.monotonic())
            assert snapshot.problem() is None and snapshot.base_velocity is not None
            speeds[state] = float(np.linalg.norm(snapshot.base_velocity))
        publisher.kill()  # silence: no STOP frame, the client's watchdog must stop it
        publisher.wait(10)
        time.sleep(1.5)
        silent = store.snapshot(robot.id, time.monotonic())  # still publishing, standing
        assert humanoid.stdin is not None and humanoid.stdout is not None
        humanoid.stdin.close()  # end of input: it stops
        humanoid.wait(timeout=20)
        output = humanoid.stdout.read().decode(errors="replace")
        assert humanoid.returncode == 0, output
        assert "sent" in output
    finally:
        for process in (publisher, humanoid):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(10)
        for receiver in receivers:
            receiver.close()
    # what the monitor's ros2 input received: walking, slowed, standing (base speed, m/s)
    assert speeds["RUN"] == pytest.approx(0.4, abs=0.02)
    assert speeds["SLOW"] == pytest.approx(0.12, abs=0.02)
    assert speeds["STOP"] == 0.0
    assert silent.problem() is None and silent.age_s < robot.max_state_age_s
    assert silent.base_velocity is not None and not np.any(silent.base_velocity)
    # what the robot recorded: each change came from a frame, the last from the watchdog
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert lines[0]["event"] == "start" and lines[-1]["event"] == "stop"
    report = read_record(record)
    assert report.problems == ()
    states = iter(span.state for span in report.spans)  # a loaded machine may add a blip
    assert all(state in states for state in ("RUN", "SLOW", "STOP", "RUN", "STOP"))
    assert any(span.state == "SLOW" and span.end_scale == pytest.approx(0.3)
               for span in report.spans)  # fmt: skip
    assert any(span.state == "STOP" and span.max_scale > 0.0 and span.end_scale == 0.0
               and span.end_base_speed_mps == 0.0 for span in report.spans)  # fmt: skip
    silence = report.spans[-1]
    assert silence.state == "STOP" and silence.end_scale == 0.0
    assert silence.end_base_speed_mps == 0.0
    samples = lines[1:-1]
    into_silence = next(i for i, line in enumerate(samples) if line["t"] >= silence.start_s)
    assert samples[into_silence]["cause"] == "watchdog"  # no frame said STOP: silence did
    assert samples[into_silence - 1]["permitted"] == "RUN"  # walking at full speed until then
    assert samples[into_silence - 1]["speed_scale"] == 1.0
    assert all(line["cause"] == "frame" for line in samples[:into_silence]
               if line["permitted"] in ("RUN", "SLOW"))  # fmt: skip


def _record(path: Path, states: list[tuple[str, float, float, float]], stop_line: bool = True,
            tail: str = "") -> Path:
    """A humanoid record: per (permitted, permitted_scale, duration_s, speed_scale) one span
    of lines every 0.1 s, the robot at ``speed_scale`` (1.0: walking) throughout."""
    lines = [{"event": "start", "t": 0.0, "robot": "h1", "walk_speed_mps": 0.4}]
    t = 0.0
    for permitted, allowed, duration, scale in states:
        for _ in range(round(duration / 0.1)):
            t += 0.1
            lines.append({"t": t, "permitted": permitted, "permitted_scale": allowed,
                          "cause": "frame", "speed_scale": scale,
                          "base_speed_mps": 0.4 * scale, "x_m": 0.0, "y_m": 0.0})  # fmt: skip
    if stop_line:
        lines.append({"event": "stop", "t": t + 0.1, "sent": 1})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + tail)
    return path


def test_read_record_accepts_an_obeying_robot_and_flags_one_that_walks_through(
    tmp_path: Path,
) -> None:
    # obeying: slowed to 0.3 on SLOW and stood still on STOP (each span ends obeyed)
    obeying = [("RUN", 1.0, 2.0, 1.0), ("SLOW", 0.3, 0.2, 1.0), ("SLOW", 0.3, 1.8, 0.3),
               ("STOP", 0.0, 0.2, 0.3), ("STOP", 0.0, 1.8, 0.0), ("RUN", 1.0, 2.0, 1.0)]
    good = _record(tmp_path / "good.jsonl", obeying, tail='{"t": 9.9, "permi')  # cut last line
    assert read_record(good).problems == ()
    # a second STOP, lasting 2 s, walked through at full speed: named, though one STOP obeyed
    through = _record(tmp_path / "through.jsonl", [*obeying, ("STOP", 0.0, 2.0, 1.0),
                                                   ("RUN", 1.0, 1.0, 1.0)])  # fmt: skip
    problems = read_record(through).problems
    assert len(problems) == 1 and "scale 1.00 through 1.9 s of STOP" in problems[0]
    # a SLOW never slowed
    never = _record(tmp_path / "never.jsonl", [("RUN", 1.0, 2.0, 1.0), ("SLOW", 0.3, 2.0, 1.0),
                                               ("STOP", 0.0, 2.0, 0.0), ("RUN", 1.0, 1.0, 1.0)])
    assert any("on SLOW" in p for p in read_record(never).problems)
    # a process that died: no stop line
    died = _record(tmp_path / "died.jsonl", obeying, stop_line=False)
    assert read_record(died).problems == (
        "the humanoid's record has no stop line: its process ended early",
    )
    # a broken line that is not the last is an error naming the file and line
    broken = tmp_path / "broken.jsonl"
    text = good.read_text().splitlines()
    broken.write_text("\n".join([text[0], "{oops", *text[1:-1]]) + "\n")
    with pytest.raises(ValueError, match=r"broken.jsonl:2: not a JSON record line"):
        read_record(broken)
