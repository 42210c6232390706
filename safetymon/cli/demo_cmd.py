"""`safetymon demo`: the real monitor on a simulated cell, no camera or robot needed."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from safetymon.config.loader import ConfigError
from safetymon.demo.runner import DEFAULT_SCENARIO, SCENARIOS, run_demo
from safetymon.monitor.app import Monitor
from safetymon.web.cli import add_http_argument, resolve_http


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `demo` command."""
    scenarios = "; ".join(f"{name}: {s.description}" for name, s in SCENARIOS.items())
    parser = subparsers.add_parser(
        "demo",
        help="run the monitor on a simulated cell and write evidence, video and floor plan",
        description=(
            "Renders a camera view of a simulated work cell (people walking scripted paths, "
            "one into the protective zone), publishes the simulated robot's state on a real "
            "robot-state interface, and runs the real detectors, decision, ZeroMQ output and "
            "evidence store on it in real time (about 40 s); the robot slows and stops through "
            f"the real controller-side client. Scenarios: {scenarios}."
        ),
    )
    parser.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        default=DEFAULT_SCENARIO,
        help=f"which cell (default: {DEFAULT_SCENARIO}; humanoid-counter: a walking humanoid "
        "whose state arrives over ROS 2 from a simulated robot process)",
    )
    parser.add_argument("--out", default="demo-out", help="output folder (default: demo-out)")
    parser.add_argument(
        "--duration", type=float, metavar="S", help="seconds to run (default: the whole script)"
    )
    parser.add_argument(
        "--zmq", metavar="ENDPOINT", help="publish the safety output here (default: the site's)"
    )
    parser.add_argument(
        "--ros2-domain",
        type=int,
        metavar="N",
        help="DDS domain id of a ROS 2 robot (humanoid-counter; default: the site's, 61)",
    )
    parser.add_argument("--config", help=argparse.SUPPRESS)  # another site for the scenario
    parser.add_argument("--no-status", action="store_true", help="no live status line")
    add_http_argument(parser)
    parser.set_defaults(func=run)


def _announce(monitor: Monitor, url: str | None) -> None:
    print(f"safetymon demo: safety output on {monitor.zmq_endpoint}", file=sys.stderr)
    if url:
        print(f"safetymon demo: live view on {url}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 when it recorded at least one SLOW and one STOP episode (and the
    simulated robot's own record shows it obeyed, where it keeps one)."""
    from safetymon.demo.humanoid import ScenarioUnavailableError

    if args.duration is not None and not 0 < args.duration <= 3600:
        print(f"error: --duration must be within (0, 3600] s, got {args.duration}", file=sys.stderr)
        return 2
    if args.ros2_domain is not None and not 0 <= args.ros2_domain <= 232:
        print(f"error: --ros2-domain must be within 0..232, got {args.ros2_domain}",
              file=sys.stderr)  # fmt: skip
        return 2
    if args.ros2_domain is not None and args.scenario != "humanoid-counter":
        print(f"error: --ros2-domain: scenario {args.scenario} has no ROS 2 robot",
              file=sys.stderr)  # fmt: skip
        return 2
    site = Path(args.config) if args.config else SCENARIOS[args.scenario].site_file
    if not site.is_file():
        print(f"error: demo site {site} not found", file=sys.stderr)
        return 2
    try:
        http = resolve_http(args, None, site.parent)
    except ValueError as error:
        print(f"error: --http: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    out = Path(args.out)
    print(f"safetymon demo: scenario {args.scenario}, simulated cell {site.name}, writing to "
          f"{out}/", file=sys.stderr)  # fmt: skip
    try:
        result = run_demo(
            out,
            scenario=args.scenario,
            duration_s=args.duration,
            zmq_endpoint=args.zmq,
            site_file=site,
            ros2_domain=args.ros2_domain,
            status_stream=None if args.no_status else sys.stderr,
            should_stop=stop,
            http=http,
            on_started=_announce,
        )
    except ConfigError as error:
        for issue in error.issues:
            print(f"error: {issue}", file=sys.stderr)
        return 2
    except ScenarioUnavailableError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:  # a site that does not fit the scenario (names the file)
        print(f"error: scenario {args.scenario}: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    episodes = ", ".join(f"{n} {state}" for state, n in sorted(result.episodes.items())) or "none"
    print(
        f"safety output published on {result.zmq_endpoint}\n"
        f"evidence: {result.evidence_db} ({episodes} episode(s)); "
        f"check it with: safetymon verify --db {result.evidence_db}\n"
        f"video:    {result.video} ({result.history.frames_written if result.history else 0} "
        f"frames)\n"
        f"plan:     {result.plan}\n"
        f"summary:  {result.summary}"
        + (f"\nrobot:    {result.robot_summary}" if result.robot_summary else "")
    )
    if not result.shows_slow_and_stop:
        print(
            "warning: the run did not record both a SLOW and a STOP episode "
            f"(recorded: {episodes}); the machine may be too slow or the run too short",
            file=sys.stderr,
        )
        return 1
    if result.problems:
        for problem in result.problems:
            print(f"warning: {problem} (its record: {out}/humanoid-record.jsonl)",
                  file=sys.stderr)  # fmt: skip
        return 1
    return 0
