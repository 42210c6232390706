"""Minimal controller integration with the safetymon client (needs only pyzmq + pydantic).

Run:  python hw/examples/controller_example.py tcp://MONITOR:5560 --connection-id 1
      [--curve-server-key monitor.key] [--duration 10]

The robot-side calls are stubs: replace ``apply`` with your controller's speed override and
protective-stop input. Keep the controller's own rated watchdog as well.
"""

from __future__ import annotations

import argparse
import time

from safetymon.signals.client import PermittedState, SafetyClient
from safetymon.signals.frame import SafetyState
from safetymon.signals.keys import load_public_key
from safetymon.signals.reasons import Reason


def apply(status: PermittedState) -> None:
    """Drive the robot from the permitted state (stub: prints)."""
    if status.state is SafetyState.STOP:
        print(f"protective stop ({status.cause}; {Reason(status.reasons).names})", flush=True)
    else:
        print(f"{status.state.name}: speed override {status.speed_scale:.0%}", flush=True)


def main() -> int:
    """Subscribe, act on every change, and poll the state in the control loop."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("endpoint")
    parser.add_argument("--connection-id", type=int, default=1)
    parser.add_argument("--curve-server-key", help="monitor's public key file (.key)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds")
    args = parser.parse_args()
    server_key = load_public_key(args.curve_server_key) if args.curve_server_key else None
    with SafetyClient(
        args.endpoint, args.connection_id, watchdog_s=0.1, curve_server_key=server_key,
        on_change=apply,
    ) as client:  # fmt: skip
        end = time.monotonic() + args.duration
        while time.monotonic() < end:
            # The control loop reads the state every cycle; the watchdog is applied on read.
            if client.state is SafetyState.STOP:
                pass  # keep the robot stopped
            time.sleep(0.01)
        print(f"errors: {client.counters}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
