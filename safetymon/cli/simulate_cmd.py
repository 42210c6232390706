"""`safetymon simulate`: walk a scripted person through a site file, print the decisions."""

from __future__ import annotations

import argparse
import json
import sys

from safetymon.config.loader import ConfigError, load_site_config
from safetymon.safety.decision import Decision
from safetymon.sim.scenario import run_scenario


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `simulate` command."""
    parser = subparsers.add_parser(
        "simulate",
        help="run the real decision on a scripted walk-through of a site (no camera or robot)",
    )
    parser.add_argument("config", help="site configuration (YAML)")
    parser.add_argument("--duration", type=float, default=12.0, help="simulated seconds")
    parser.add_argument("--json", action="store_true", help="one JSON object per state change")
    parser.set_defaults(func=run)


def _record(decision: Decision) -> dict:
    closest = decision.closest
    return {
        "t": round(decision.time_s, 3),
        "state": decision.state.name,
        "speed_scale": round(decision.speed_scale, 3),
        "reasons": decision.reason_names,
        "distance_m": None if closest is None else round(closest.distance_m, 3),
        "S_p_m": None if closest is None else round(closest.protective_separation_m, 3),
        "causes": [
            f"{c.reason.name}[{c.subject}]: {c.detail}" for c in decision.causes if c.active
        ],
    }


def run(args: argparse.Namespace) -> int:
    """Print every change of state (and of SLOW scale by more than 0.1)."""
    if not 0 < args.duration <= 3600:
        print(
            f"error: --duration must be in (0, 3600] seconds, got {args.duration}", file=sys.stderr
        )
        return 2
    try:
        config = load_site_config(args.config)
    except ConfigError as error:
        for issue in error.issues:
            print(f"error: {issue}", file=sys.stderr)
        return 2
    last: Decision | None = None
    counts = {"RUN": 0, "SLOW": 0, "STOP": 0}
    for decision in run_scenario(config, args.duration):
        counts[decision.state.name] += 1
        changed = (
            last is None
            or decision.state != last.state
            or (abs(decision.speed_scale - last.speed_scale) > 0.1)
        )
        if changed:
            record = _record(decision)
            if args.json:
                print(json.dumps(record))
            else:
                distance = (
                    ""
                    if record["distance_m"] is None
                    else (f"  d={record['distance_m']:.2f} m S_p={record['S_p_m']:.2f} m")
                )
                print(
                    f"t={record['t']:6.2f} s  {record['state']:<4} x{record['speed_scale']:.2f}"
                    f"{distance}  {', '.join(record['reasons']) or '-'}"
                )
            last = decision
    total = sum(counts.values())
    summary = ", ".join(f"{state} {100 * n / total:.0f}%" for state, n in counts.items())
    print(
        f"{total} cycles at {config.safety.decision_rate_hz:g} Hz: {summary}",
        file=sys.stderr if args.json else sys.stdout,
    )
    return 0
