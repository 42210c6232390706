"""Entry point of the `safetymon` command.

Each command group is a module exposing ``register(subparsers)``; it adds its parser(s) and
sets ``func`` (a callable taking the parsed namespace and returning an exit code).
Exit codes: 0 success, 1 runtime failure, 2 invalid input or configuration.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from safetymon.version import software_version

COMMAND_MODULES: tuple[str, ...] = (
    "safetymon.cli.config_cmd",
    "safetymon.cli.calc_cmd",
    "safetymon.cli.simulate_cmd",
    "safetymon.cli.signals_cmd",
    "safetymon.cli.calibrate_cmd",
    "safetymon.cli.robot_cmd",
    "safetymon.cli.evidence_cmd",
    "safetymon.cli.fleet_cmd",
    "safetymon.cli.replay_cmd",
    "safetymon.cli.run_cmd",
    "safetymon.cli.demo_cmd",
    "safetymon.cli.zones_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser with every registered command group."""
    parser = argparse.ArgumentParser(
        prog="safetymon",
        description=(
            "Human-robot safety collaboration monitor. Not a certified safety device: "
            "integrate it as the monitoring and evidence layer feeding a rated safety "
            "controller or relay."
        ),
    )
    parser.add_argument("--version", action="version", version=f"safetymon {software_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line tool and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
