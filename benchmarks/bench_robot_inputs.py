"""Robot state input latency: ROS 2 over DDS against the ZeroMQ JSON input, same run.

`safetymon robot-sim` in a second process publishes the demo arm's sweep (a 6-joint DH arm
with joint velocities) at 100 and 500 messages/s, once as ZeroMQ JSON (`clock:
shared_monotonic`: stamped with this host's monotonic clock) and once as ROS 2 JointState
over Cyclone DDS on loopback (`clock: shared_realtime`: header stamps from the wall clock,
moved to the monotonic clock by the receiver). In this process the monitor's own receiver
takes them into a `RobotStateStore`; per accepted state the latency is the time it is
stored (the snapshot the decision reads is current) minus its capture stamp, in ms.

Usage::

    .venv/bin/python benchmarks/bench_robot_inputs.py [--seconds 6]

Needs the `cyclonedds` package (the dev or ros2 extra).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from safetymon.config.loader import load_site_config  # noqa: E402
from safetymon.robot.receiver import start_receivers  # noqa: E402
from safetymon.robot.store import RobotStateStore, SubmitResult  # noqa: E402
from tests.monitor.run_site import free_port  # noqa: E402
from tests.robot.helpers import UR5_ROWS  # noqa: E402

LIMITED = [{**row, "min": -3.0, "max": 3.0} for row in UR5_ROWS]
"""The UR5-like arm of the robot tests, with joint limits."""
NAMES = [f"joint_{k}" for k in range(1, 7)]


class TimedStore(RobotStateStore):
    """A store that notes, for each accepted state, stored time − capture stamp (s)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.latency_s: list[float] = []
        self._noted = threading.Lock()

    def submit(self, raw: bytes | str, arrival_s: float, *args: object,
               **kwargs: object) -> SubmitResult:  # fmt: skip
        result = super().submit(raw, arrival_s, *args, **kwargs)  # type: ignore[arg-type]
        stored = time.monotonic()
        if result.accepted:
            capture = float(json.loads(raw)["capture_time_s"])
            with self._noted:
                self.latency_s.append(stored - capture)
        return result


def site(folder: Path, transport: str) -> Path:
    """The demo cell with its arm's state on ``transport`` ("zmq" or "ros2")."""
    data = yaml.safe_load((ROOT / "zones" / "demo-cell.yaml").read_text())
    robot = data["robots"][0]
    robot["geometry"] = {"kind": "dh", "joints": LIMITED}
    robot["max_state_age_s"] = 1.0
    if transport == "zmq":
        robot["state_input"] = {"endpoint": f"tcp://127.0.0.1:{free_port()}",
                                "clock": "shared_monotonic"}  # fmt: skip
    else:
        robot["state_input"] = {"kind": "ros2", "domain_id": 100 + free_port() % 100,
                                "loopback_only": True, "joint_names": NAMES,
                                "clock": "shared_realtime", "base_topic": None}  # fmt: skip
    path = folder / f"site-{transport}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def run(folder: Path, transport: str, rate_hz: float, seconds: float) -> dict[str, float]:
    """Latency percentiles (ms) of one transport at one rate."""
    path = site(folder, transport)
    config = load_site_config(path)
    store = TimedStore(config.robots, path.parent)
    receivers = start_receivers(store, [(r.id, r.state_input) for r in config.robots])
    try:
        sim = subprocess.run(
            [sys.executable, "-m", "safetymon", "robot-sim", "--config", str(path), "--rate",
             str(rate_hz), "--duration", str(seconds)],
            capture_output=True, text=True, timeout=seconds + 60,
        )  # fmt: skip
        time.sleep(0.3)
    finally:
        for receiver in receivers:
            receiver.close()
    if sim.returncode != 0:
        raise RuntimeError(f"robot-sim failed: {sim.stderr[-2000:]}")
    latency = np.asarray(store.latency_s[int(rate_hz):]) * 1000  # skip the first second
    counters = store.counters()
    return {
        "accepted": counters.accepted, "rejected": counters.rejected_total,
        "p50": float(np.percentile(latency, 50)), "p99": float(np.percentile(latency, 99)),
        "max": float(latency.max()),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"# robot state: capture stamp → stored, ms; robot-sim in a second process; {python}")
    print(f"{'input':<34} {'rate Hz':>7} {'accepted':>8} {'rejected':>8} {'p50':>7} {'p99':>7} "
          f"{'max':>7}")  # fmt: skip
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rate in (100.0, 500.0):
            for transport, label in (("zmq", "ZeroMQ JSON (shared_monotonic)"),
                                     ("ros2", "ROS 2 DDS (shared_realtime)")):  # fmt: skip
                rows[transport, rate] = row = run(Path(tmp), transport, rate, args.seconds)
                print(f"{label:<34} {rate:>7.0f} {row['accepted']:>8} {row['rejected']:>8} "
                      f"{row['p50']:>7.2f} {row['p99']:>7.2f} {row['max']:>7.2f}")  # fmt: skip
    for rate in (100.0, 500.0):
        dds, zmq = rows["ros2", rate], rows["zmq", rate]
        print(f"at {rate:.0f} Hz DDS / ZeroMQ: p50 {dds['p50'] / zmq['p50']:.2f}x, "
              f"p99 {dds['p99'] / zmq['p99']:.2f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
