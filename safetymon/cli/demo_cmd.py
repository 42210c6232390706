"""`safetymon demo`: the real monitor on a simulated cell, no camera or robot needed."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from safetymon.config.loader import ConfigError
from safetymon.demo.runner import DEMO_SITE, run_demo
from safetymon.monitor.app import Monitor
from safetymon.web.cli import add_http_argument, resolve_http


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `demo` command."""
    parser = subparsers.add_parser(
        "demo",
        help="run the monitor on a simulated cell and write evidence, video and floor plan",
        description=(
            "Renders a camera view of a simulated work cell (an arm on a table, people walking "
            "scripted paths, one into the protective zone), publishes the simulated arm's state "
            "on the real robot-state interface, and runs the real detectors, decision, ZeroMQ "
            "output and evidence store on it in real time (about 40 s)."
        ),
    )
    parser.add_argument("--out", default="demo-out", help="output folder (default: demo-out)")
    parser.add_argument(
        "--duration", type=float, metavar="S", help="seconds to run (default: the whole script)"
    )
    parser.add_argument(
        "--zmq", metavar="ENDPOINT", help="publish the safety output here (default: the site's)"
    )
    parser.add_argument("--config", default=str(DEMO_SITE), help=argparse.SUPPRESS)
    parser.add_argument("--no-status", action="store_true", help="no live status line")
    add_http_argument(parser)
    parser.set_defaults(func=run)


def _announce(monitor: Monitor, url: str | None) -> None:
    print(f"safetymon demo: safety output on {monitor.zmq_endpoint}", file=sys.stderr)
    if url:
        print(f"safetymon demo: live view on {url}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 when it recorded at least one SLOW and one STOP episode."""
    if args.duration is not None and not 0 < args.duration <= 3600:
        print(f"error: --duration must be within (0, 3600] s, got {args.duration}", file=sys.stderr)
        return 2
    site = Path(args.config)
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
    print(f"safetymon demo: simulated cell {site.name}, writing to {out}/", file=sys.stderr)
    try:
        result = run_demo(
            out,
            duration_s=args.duration,
            zmq_endpoint=args.zmq,
            site_file=site,
            status_stream=None if args.no_status else sys.stderr,
            should_stop=stop,
            http=http,
            on_started=_announce,
        )
    except ConfigError as error:
        for issue in error.issues:
            print(f"error: {issue}", file=sys.stderr)
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
        f"plan:     {result.plan}"
    )
    if not result.shows_slow_and_stop:
        print(
            "warning: the run did not record both a SLOW and a STOP episode "
            f"(recorded: {episodes}); the machine may be too slow or the run too short",
            file=sys.stderr,
        )
        return 1
    return 0
