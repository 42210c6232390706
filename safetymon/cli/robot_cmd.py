"""`safetymon robot-sim` and `safetymon robot-listen`: the robot state interface.

``robot-sim`` publishes a sweeping arm as real robot state messages (hw/ROBOT_STATE.md) for
commissioning and tests; ``robot-listen`` receives a site's robot states as the monitor
would and prints each robot's snapshot and the message counters.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from safetymon.config.loader import ConfigError, load_site_config
from safetymon.config.robots import BasePose, RobotConfig, ZmqStateInputConfig
from safetymon.config.site import SiteConfig

if TYPE_CHECKING:  # imported lazily at run time: ZeroMQ and kinematics load only when used
    from safetymon.robot.sim import ArmSimulator
    from safetymon.robot.store import RobotStateStore


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `robot-sim` and `robot-listen` commands."""
    sim = subparsers.add_parser(
        "robot-sim", help="publish a sweeping arm's state messages (commissioning, tests)"
    )
    sim.add_argument("--config", required=True, help="site configuration (YAML)")
    sim.add_argument("--robot", help="robot id (default: the site's first robot)")
    sim.add_argument(
        "--endpoint", help="ZeroMQ endpoint (default: the robot's state_input endpoint)"
    )
    sim.add_argument("--connect", action="store_true", help="connect the PUB socket, not bind")
    sim.add_argument("--serial", metavar="PORT", help="write JSON lines to this serial port")
    sim.add_argument(
        "--ros2",
        action="store_true",
        help="publish ROS 2 JointState (+ Odometry) over DDS on the robot's ros2 state_input "
        "(the default for a ros2 input)",
    )
    sim.add_argument("--baudrate", type=int, default=115200, help="serial baud rate")
    sim.add_argument("--rate", type=float, default=100.0, help="messages per second")
    sim.add_argument("--duration", type=float, help="seconds to run (default: until stopped)")
    sim.add_argument("--speed-scale", type=float, default=1.0, help="sweep speed scale, 0..1")
    sim.add_argument(
        "--no-velocities", action="store_true", help="leave velocities out of the messages"
    )
    sim.add_argument(
        "--curve-secret-key",
        metavar="FILE",
        help="the controller's .key_secret: publish as the CURVE server (state_input."
        "curve_server_key_file holds its .key)",
    )
    sim.add_argument("--hmac-key", metavar="FILE", help="shared .hmac key: tag every serial line")
    sim.set_defaults(func=run_sim)
    listen = subparsers.add_parser(
        "robot-listen", help="receive a site's robot states and print snapshots and counters"
    )
    listen.add_argument("--config", required=True, help="site configuration (YAML)")
    listen.add_argument("--duration", type=float, default=5.0, help="seconds to listen")
    listen.add_argument("--interval", type=float, default=1.0, help="seconds between reports")
    listen.add_argument("--json", action="store_true", help="one JSON object per report")
    listen.set_defaults(func=run_listen)


def _load(path: str) -> SiteConfig | None:
    try:
        return load_site_config(path)
    except ConfigError as error:
        for issue in error.issues:
            print(f"error: {issue}", file=sys.stderr)
        return None


def _error(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def sim_base(config: SiteConfig, robot: RobotConfig) -> BasePose:
    """The simulated base: the configured ``base_pose`` if set, else the envelope's centre."""
    if "base_pose" in robot.model_fields_set or robot.permitted_zone is None:
        return robot.base_pose
    centre = config.zone(robot.permitted_zone).shape().centroid
    return BasePose(x_m=centre.x, y_m=centre.y)


def _stop_on_signals(stop: threading.Event) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())


def run_sim(args: argparse.Namespace) -> int:
    """Publish until ``--duration`` or SIGINT/SIGTERM; 2 on bad input, 1 if it cannot open."""
    from safetymon.robot.sim import ArmSimulator, SerialStateSender, ZmqStateSender

    if not 0.0 < args.rate <= 10_000:
        return _error(f"--rate must be within (0, 10000] Hz, got {args.rate}", 2)
    if args.duration is not None and not 0.0 < args.duration <= 86_400:
        return _error(f"--duration must be within (0, 86400] s, got {args.duration}", 2)
    if not 0.0 <= args.speed_scale <= 1.0:
        return _error(f"--speed-scale must be within 0..1, got {args.speed_scale}", 2)
    config = _load(args.config)
    if config is None:
        return 2
    robots = {robot.id: robot for robot in config.robots}
    robot_id = args.robot or next(iter(robots), None)
    if robot_id not in robots:
        return _error(f"--robot: no robot {robot_id!r} in {args.config} ({list(robots)})", 2)
    robot = robots[robot_id]
    try:
        simulator = ArmSimulator(
            robot,
            base=sim_base(config, robot),
            speed_scale=args.speed_scale,
            with_velocities=not args.no_velocities,
            base_dir=Path(args.config).parent,
        )
    except ValueError as error:
        return _error(f"robot {robot_id}: {error}", 2)
    state_input = robot.state_input
    zmq_input = state_input if isinstance(state_input, ZmqStateInputConfig) else None
    from safetymon.signals.endpoints import check_bindable
    from safetymon.signals.keys import KeyFileError, load_hmac_key, load_keypair

    try:
        curve_keys = load_keypair(args.curve_secret_key) if args.curve_secret_key else None
        hmac_key = load_hmac_key(args.hmac_key) if args.hmac_key else None
    except KeyFileError as error:
        return _error(f"--curve-secret-key / --hmac-key: {error}", 2)
    if hmac_key is not None and not args.serial:
        return _error("--hmac-key tags serial lines: give --serial (ZeroMQ uses CURVE)", 2)
    if args.ros2 or (state_input.kind == "ros2" and not (args.serial or args.endpoint)):
        return _run_sim_ros2(args, robot, simulator)
    try:
        if args.serial:
            sender: ZmqStateSender | SerialStateSender = SerialStateSender(
                args.serial, args.baudrate, hmac_key=hmac_key
            )
            where = f"serial {args.serial}" + (" (HMAC)" if hmac_key else "")
        else:
            endpoint = args.endpoint or (zmq_input.endpoint if zmq_input else None)
            if endpoint is None:
                return _error("--endpoint or --serial needed: the robot's input is serial", 2)
            bind = not (args.connect or (zmq_input is not None and zmq_input.bind))
            topic = zmq_input.topic if zmq_input else "robot_state"
            sender = ZmqStateSender(
                endpoint, topic, bind=bind, curve_keys=curve_keys, bind_check=check_bindable
            )
            where = f"{'bound' if bind else 'connected'} {sender.endpoint} topic {topic!r}"
            where += " (CURVE server)" if curve_keys else ""
    except OSError as error:
        return _error(str(error), 1)
    stop = threading.Event()
    _stop_on_signals(stop)
    print(f"robot-sim: {robot_id} ({robot.geometry.kind}) at {args.rate:g} Hz, {where}",
          flush=True)  # fmt: skip
    try:
        sent = simulator.run(sender.send, args.rate, args.duration, stop)
    except OSError as error:
        return _error(f"sending failed: {error}", 1)
    finally:
        sender.close()
    print(f"robot-sim: sent {sent} messages", flush=True)
    return 0


def _run_sim_ros2(args: argparse.Namespace, robot: RobotConfig, simulator: ArmSimulator) -> int:
    """``robot-sim --ros2``: the sweep as ROS 2 messages on the robot's ``ros2`` input."""
    from safetymon.config.robots import Ros2StateInputConfig
    from safetymon.robot.geometry import RobotModel

    state_input = robot.state_input
    if not isinstance(state_input, Ros2StateInputConfig):
        return _error(f"--ros2: robot {robot.id}'s state_input kind is {state_input.kind}", 2)
    if args.serial or args.endpoint or args.connect or args.curve_secret_key:
        return _error("--ros2 takes none of --serial, --endpoint, --connect, --curve-secret-key", 2)
    try:
        from safetymon.robot.ros2_sim import Ros2StateSender
    except ImportError as error:
        return _error(f"--ros2 needs the Python package 'cyclonedds': {error}", 1)
    chain = RobotModel(robot, Path(args.config).parent).chain
    names = state_input.joint_names or getattr(chain, "names", [])
    try:
        sender = Ros2StateSender(state_input, names)
    except OSError as error:
        return _error(str(error), 1)
    stop = threading.Event()
    _stop_on_signals(stop)
    print(f"robot-sim: {robot.id} ({robot.geometry.kind}) at {args.rate:g} Hz, "
          f"{sender.endpoint}, clock {state_input.clock}", flush=True)  # fmt: skip
    try:
        sent = simulator.run(sender.send, args.rate, args.duration, stop)
    finally:
        sender.close()
    print(f"robot-sim: sent {sent} messages", flush=True)
    return 0


def run_listen(args: argparse.Namespace) -> int:
    """Listen for ``--duration`` s; 1 if some robot never had a valid state, 2 on bad input."""
    from safetymon.robot.receiver import start_receivers
    from safetymon.robot.store import RobotStateStore

    if not 0.0 < args.duration <= 86_400 or not 0.0 < args.interval <= 3600:
        return _error(f"--duration {args.duration} / --interval {args.interval} out of range", 2)
    config = _load(args.config)
    if config is None:
        return 2
    if not config.robots:
        return _error(f"{args.config} configures no robot", 2)
    try:
        store = RobotStateStore(config.robots, Path(args.config).parent)
    except ValueError as error:
        return _error(str(error), 2)
    from safetymon.config.loader import ConfigError
    from safetymon.monitor.input_keys import load_state_input_keys
    from safetymon.signals.endpoints import check_bindable

    try:
        keys = load_state_input_keys(config, Path(args.config).parent, Path(args.config))
    except ConfigError as error:
        for issue in error.issues:
            print(f"error: {issue}", file=sys.stderr)
        return 2
    try:
        receivers = start_receivers(
            store, [(r.id, r.state_input) for r in config.robots], keys, check_bindable
        )
    except (OSError, ValueError) as error:
        return _error(str(error), 1)
    stop = threading.Event()
    _stop_on_signals(stop)
    end = time.monotonic() + args.duration
    seen: set[str] = set()
    try:
        while not stop.is_set():
            stop.wait(min(args.interval, max(0.0, end - time.monotonic())))
            now = time.monotonic()
            report = _report(store, now)
            seen.update(rid for rid, item in report["robots"].items() if item["links"])
            if args.json:
                print(json.dumps(report), flush=True)
            else:
                _print_report(report)
            if now >= end:
                break
    finally:
        for receiver in receivers:
            receiver.close()
    missing = sorted(set(store.robot_ids) - seen)
    if missing:
        return _error(f"no valid state received from {', '.join(missing)}", 1)
    return 0


def _report(store: RobotStateStore, now_s: float) -> dict:
    """Snapshot summary per robot (age ms, links, fastest endpoint m/s, fault) and counters."""
    import numpy as np

    robots = {}
    for snapshot in store.snapshots(now_s):
        speeds = np.linalg.norm(np.vstack([snapshot.link_vel_a, snapshot.link_vel_b]), axis=1)
        robots[snapshot.robot_id] = {
            "age_ms": None if not math.isfinite(snapshot.age_s) else round(snapshot.age_s * 1e3, 1),
            "links": int(snapshot.link_a.shape[0]),
            "max_speed_mps": round(float(speeds.max()), 3) if speeds.size else None,
            "fault": snapshot.fault,
        }
    counters = store.counters()
    return {
        "robots": robots,
        "accepted": counters.accepted,
        "rejected": counters.rejected,
        "sender_restarts": {r: n for r, n in counters.restarts.items() if n},
    }


def _print_report(report: dict) -> None:
    for robot_id, item in report["robots"].items():
        age = "never" if item["age_ms"] is None else f"{item['age_ms']:.1f} ms"
        speed = "-" if item["max_speed_mps"] is None else f"{item['max_speed_mps']:.2f} m/s"
        fault = f"  FAULT: {item['fault']}" if item["fault"] else ""
        print(f"{robot_id}: age {age}, {item['links']} links, fastest {speed}{fault}")
    rejected = ", ".join(f"{k} {v}" for k, v in sorted(report["rejected"].items())) or "none"
    restarts = report["sender_restarts"]
    restarted = "".join(f", {r} sender restarted {n}x" for r, n in sorted(restarts.items()))
    print(f"accepted {report['accepted']}, rejected: {rejected}{restarted}", flush=True)
