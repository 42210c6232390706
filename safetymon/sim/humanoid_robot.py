"""The simulated humanoid of the demo, a process of its own: a ROS 2 robot that obeys the monitor.

Run as ``python -m safetymon.sim.humanoid_robot --site SITE --safety ENDPOINT ...`` (the
demo starts it). Every period it

1. reads what the monitor permits through the real controller-side client
   (`safetymon.signals.client.SafetyClient` on the monitor's ZeroMQ safety output): RUN
   walks at full speed, SLOW at the permitted speed scale, STOP (and silence beyond the
   client's watchdog, or any rejected frame) stands still, keeping its balance;
2. ramps its speed scale toward that (`HumanoidWalker`: the base brakes at the robot's
   configured base deceleration) and walks its patrol loop (`CounterScene`);
3. publishes its state as a ROS 2 robot does, ``sensor_msgs/JointState`` and
   ``nav_msgs/Odometry`` on the robot's ``ros2`` input (`Ros2StateSender`: DDS domain,
   loopback only as the site says, stamps on the input's clock);
4. publishes its true pose on a ZeroMQ socket for the demo's rendered camera (``--truth``),
   and appends what it was permitted and what it did to a JSON-lines record (``--record``).

Record lines (one per 50 ms and one per change of the permitted state), monotonic
seconds, m/s: ``{"t", "permitted", "permitted_scale", "cause", "speed_scale",
"base_speed_mps", "x_m", "y_m"}``; the first line is ``{"event": "start", ...}`` and the last
``{"event": "stop", ...}``.

It stops on SIGINT / SIGTERM, after ``--duration``, or when its standard input reaches end
of file (the demo holds a pipe to it, so the robot never outlives the demo). Exit status:
0 done, 1 a socket or the DDS domain could not be opened, 2 bad arguments or site.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import zmq

from safetymon.config.loader import ConfigError, load_site_config
from safetymon.config.robots import RobotConfig, Ros2StateInputConfig
from safetymon.signals.client import PermittedState, SafetyClient
from safetymon.sim.counter import CounterScene
from safetymon.sim.humanoid import (
    JOINT_NAMES,
    HumanoidPose,
    HumanoidWalker,
    WalkState,
    pose_json,
)
from safetymon.sim.humanoid import state_message as humanoid_message

RECORD_PERIOD_S = 0.05
"""Seconds between two periodic record lines."""


class HumanoidRobot:
    """The simulated humanoid's control loop (see the module docstring).

    Args:
        robot: the humanoid's config; its ``state_input`` must be ``ros2``.
        walker: its walk.
        client: the started safety client.
        send_state: publishes one ``safetymon.robot_state/1`` JSON message (as ROS 2).
        send_truth: publishes one truth message (`pose_json`).
        record: where the record lines go.
        rate_hz: states per second.
    """

    def __init__(
        self,
        robot: RobotConfig,
        walker: HumanoidWalker,
        client: SafetyClient,
        send_state: Callable[[bytes], None],
        send_truth: Callable[[bytes], None],
        record: IO[str],
        rate_hz: float = 100.0,
    ) -> None:
        self.robot = robot
        self.walker = walker
        self.client = client
        self._send_state = send_state
        self._send_truth = send_truth
        self._record = record
        self.period_s = 1.0 / rate_hz
        self.sent = 0

    def run(self, stop: threading.Event, duration_s: float | None = None) -> int:
        """Walk and publish until ``stop`` is set or ``duration_s`` passed; returns states sent."""
        start = time.monotonic()
        state = WalkState(start)
        self._write({"event": "start", "t": start, "robot": self.robot.id,
                     "walk_speed_mps": self.walker.gait.walk_speed_mps})  # fmt: skip
        last_permitted: PermittedState | None = None
        next_record = start
        due = start
        while not stop.is_set():
            now = time.monotonic()
            if duration_s is not None and now - start >= duration_s:
                break
            permitted = self.client.status
            state = self.walker.step(state, now, permitted.allowed_scale())
            pose = self.walker.pose(state)
            self.sent += 1
            self._send_state(humanoid_message(pose, self.robot.id, self.sent).to_json())
            self._send_truth(pose_json(pose))
            changed = last_permitted is None or not permitted.same_permission(last_permitted)
            if changed or now >= next_record:
                self._sample(now, permitted, pose)
                next_record = now + RECORD_PERIOD_S
            last_permitted = permitted
            due += self.period_s
            if due < now:  # late (a loaded machine): skip periods, never send a burst
                due = now + self.period_s
            stop.wait(max(0.0, due - time.monotonic()))
        self._write({"event": "stop", "t": time.monotonic(), "sent": self.sent})
        return self.sent

    def _sample(self, now: float, permitted: PermittedState, pose: HumanoidPose) -> None:
        line = {
            "t": now, "permitted": permitted.state.name,
            "permitted_scale": round(float(permitted.speed_scale), 4),
            "cause": permitted.cause, "speed_scale": round(pose.speed_scale, 4),
            "base_speed_mps": round(pose.base_speed_mps, 4),
            "x_m": round(pose.x_m, 3), "y_m": round(pose.y_m, 3),
        }  # fmt: skip
        self._write(line)

    def _write(self, line: dict) -> None:
        self._record.write(json.dumps(line) + "\n")
        self._record.flush()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m safetymon.sim.humanoid_robot",
        description="The demo's simulated humanoid: a ROS 2 robot (JointState + Odometry over "
        "DDS) that walks its patrol loop as the monitor's safety output permits.",
    )
    parser.add_argument("--site", required=True, help="the demo's site file")
    parser.add_argument("--robot", help="robot id (default: the site's first robot)")
    parser.add_argument("--safety", required=True, metavar="ENDPOINT",
                        help="the monitor's ZeroMQ safety output")  # fmt: skip
    parser.add_argument("--connection-id", type=int, default=1, help="its connection id")
    parser.add_argument("--watchdog", type=float, default=0.2, metavar="S",
                        help="silence this long means STOP, seconds (default 0.2)")  # fmt: skip
    parser.add_argument("--domain", type=int, metavar="N",
                        help="DDS domain id (default: the site's)")  # fmt: skip
    parser.add_argument("--truth", metavar="ENDPOINT",
                        help="connect a ZeroMQ PUB here and publish the true pose")  # fmt: skip
    parser.add_argument("--record", required=True, metavar="FILE", help="JSON-lines record")
    parser.add_argument("--rate", type=float, default=100.0, help="states per second")
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    return parser


def _error(message: str, code: int) -> int:
    print(f"humanoid_robot: error: {message}", file=sys.stderr, flush=True)
    return code


def _watch_stdin(stop: threading.Event) -> None:
    """Set ``stop`` when standard input ends (the parent closed its pipe or died)."""

    def watch() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        stop.set()

    threading.Thread(target=watch, name="stdin-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    """Run the simulated humanoid; see the module docstring for the exit status."""
    args = _parser().parse_args(argv)
    if not 0.0 < args.rate <= 1000.0:
        return _error(f"--rate must be within (0, 1000], got {args.rate}", 2)
    if args.duration is not None and not 0.0 < args.duration <= 86_400.0:
        return _error(f"--duration must be within (0, 86400], got {args.duration}", 2)
    if not 0.0 < args.watchdog <= 10.0:
        return _error(f"--watchdog must be within (0, 10], got {args.watchdog}", 2)
    site = Path(args.site)
    try:
        config = load_site_config(site)
    except ConfigError as error:
        return _error("; ".join(str(issue) for issue in error.issues), 2)
    robots = [r for r in config.robots if args.robot is None or r.id == args.robot]
    if not robots:
        return _error(f"--robot: no robot {args.robot!r} in {site}", 2)
    robot = robots[0]
    state_input = robot.state_input
    if not isinstance(state_input, Ros2StateInputConfig):
        return _error(f"robot {robot.id}: state_input kind is {state_input.kind}, not ros2", 2)
    if args.domain is not None:
        state_input = state_input.model_copy(update={"domain_id": args.domain})
        robot = robot.model_copy(update={"state_input": state_input})
    try:
        walker = CounterScene.from_site(config, robot.id).walker(robot)
    except ValueError as error:
        return _error(str(error), 2)
    try:
        from safetymon.robot.ros2_sim import Ros2StateSender
    except ImportError as error:
        return _error(f"the Python package 'cyclonedds' is needed: {error}", 1)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    _watch_stdin(stop)
    names = list(state_input.joint_names or JOINT_NAMES)
    if names != list(JOINT_NAMES):  # positions are computed in JOINT_NAMES' order
        return _error(
            f"robot {robot.id}: state_input.joint_names {names} differ from the simulated "
            f"humanoid's joints {list(JOINT_NAMES)} (same names, same order)", 2,
        )  # fmt: skip
    try:
        sender = Ros2StateSender(state_input, names)
    except OSError as error:
        return _error(str(error), 1)
    ctx = zmq.Context()
    truth = ctx.socket(zmq.PUB)
    truth.setsockopt(zmq.LINGER, 0)
    truth.setsockopt(zmq.SNDHWM, 10)
    client = SafetyClient(args.safety, args.connection_id, watchdog_s=args.watchdog,
                          same_clock=True)  # fmt: skip
    try:
        if args.truth:
            truth.connect(args.truth)
        client.start()
        with open(args.record, "w", encoding="utf-8") as record:
            print(f"humanoid_robot: {robot.id} on {sender.endpoint}, obeying {args.safety}",
                  flush=True)  # fmt: skip
            robot_loop = HumanoidRobot(
                robot, walker, client, sender.send,
                lambda data: truth.send(data, zmq.NOBLOCK), record, args.rate,
            )  # fmt: skip
            sent = robot_loop.run(stop, args.duration)
    except (OSError, zmq.ZMQError) as error:
        return _error(str(error), 1)
    finally:
        client.close()
        sender.close()
        truth.close()
        ctx.term()
    print(f"humanoid_robot: sent {sent} states", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
