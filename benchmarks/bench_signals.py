"""Benchmark of the ZeroMQ safety signals.

1. Decision-to-controller latency: ``ZmqPublisher.publish()`` call -> ``SafetyClient``
   on_change callback, p50/p99/max over N messages, for tcp, ipc and CURVE (tcp).
   Publisher and client run in this process (one monotonic clock); each message waits for
   its callback before the next is sent, so this is latency, not throughput.
2. Publisher SIGKILL -> client STOP: the publisher runs in its own process (50 Hz
   heartbeat), the client's watchdog is 100 ms; several trials.

Usage::

    .venv/bin/python benchmarks/bench_signals.py [--messages 10000] [--trials 10]
        [--write-results benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import zmq

from safetymon.config.outputs import ZmqOutputConfig
from safetymon.signals.client import PermittedState, SafetyClient
from safetymon.signals.frame import SafetyState
from safetymon.signals.zmq_publisher import ZmqPublisher

SECTION = "## Signals (bench_signals.py)"
WATCHDOG_S = 0.1
PUBLISHER = """
import sys, time
from safetymon.config.outputs import ZmqOutputConfig
from safetymon.signals.frame import SafetyState
from safetymon.signals.zmq_publisher import ZmqPublisher
pub = ZmqPublisher(ZmqOutputConfig(endpoint=sys.argv[1], connection_id=7, heartbeat_hz=50))
pub.publish(SafetyState.RUN, 1.0, 0)
print(pub.endpoint, flush=True)
for _ in range(12000):  # a monitor loop deciding RUN every 10 ms (the state must stay fresh)
    pub.publish(SafetyState.RUN, 1.0, 0)
    time.sleep(0.01)
"""


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def latency(transport: str, messages: int, tmp: Path) -> list[float]:
    """Publish -> callback latencies in microseconds."""
    endpoint = f"ipc://{tmp}/bench.ipc" if transport == "ipc" else "tcp://127.0.0.1:0"
    curve = zmq.curve_keypair() if transport == "curve" else None
    cfg = ZmqOutputConfig(endpoint=endpoint, connection_id=7, heartbeat_hz=50)
    got = threading.Event()
    stamp: list[int] = [0]

    def on_change(state: PermittedState) -> None:
        stamp[0] = time.monotonic_ns()
        got.set()

    out: list[float] = []
    with ZmqPublisher(cfg, curve_keys=curve) as pub:
        server_key = curve[0] if curve else None
        client = SafetyClient(
            pub.endpoint, 7, same_clock=True, curve_server_key=server_key, on_change=on_change
        )
        with client:
            pub.publish(SafetyState.RUN, 1.0, 0)
            if not client.wait_for(SafetyState.RUN, 10.0):
                raise RuntimeError(f"{transport}: client never saw RUN")
            for i in range(messages + 100):
                got.clear()
                scale = 0.5 + (i % 2) * 0.25  # every message is a change
                t0 = time.monotonic_ns()
                pub.publish(SafetyState.SLOW, scale, 0)
                if not got.wait(1.0):
                    raise RuntimeError(f"{transport}: message {i} lost")
                if i >= 100:  # warm-up
                    out.append((stamp[0] - t0) / 1e3)
            errors = {k: v for k, v in client.counters.items() if v}
            if errors:
                print(f"  {transport}: error counters {errors}", file=sys.stderr)
    return out


def sigkill_to_stop(trials: int, tmp: Path) -> list[float]:
    """Publisher SIGKILL -> client STOP callback, milliseconds."""
    out = []
    for trial in range(trials):
        proc = subprocess.Popen(
            [sys.executable, "-c", PUBLISHER, f"ipc://{tmp}/kill{trial}.ipc"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        endpoint = proc.stdout.readline().strip()
        stopped = threading.Event()
        stop_ns: list[int] = [0]

        def on_change(
            state: PermittedState, stop_ns: list[int] = stop_ns, stopped: threading.Event = stopped
        ) -> None:
            if state.state is SafetyState.STOP and state.cause == "watchdog":
                stop_ns[0] = time.monotonic_ns()
                stopped.set()

        try:
            with SafetyClient(
                endpoint, 7, watchdog_s=WATCHDOG_S, same_clock=True, on_change=on_change
            ) as client:
                if not client.wait_for(SafetyState.RUN, 10.0):
                    raise RuntimeError("client never saw RUN")
                time.sleep(0.3 + 0.0137 * trial)  # vary the phase against the heartbeat
                kill_ns = time.monotonic_ns()
                os.kill(proc.pid, signal.SIGKILL)
                if not stopped.wait(5.0):
                    raise RuntimeError("client never reported STOP")
                out.append((stop_ns[0] - kill_ns) / 1e6)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
    return out


def write_section(path: Path, text: str) -> None:
    """Replace (or append) this benchmark's section, leaving the others alone."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    start = old.find(SECTION)
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = old.find("\n## ", start + len(SECTION))
        new = old[:start] + text + ("" if end < 0 else old[end + 1 :])
    path.write_text(new, encoding="utf-8")


def main() -> int:
    """Run the benchmark and print (optionally write) the results section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--write-results", type=Path, metavar="RESULTS_MD")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for transport in ("tcp", "ipc", "curve"):
            lat = latency(transport, args.messages, Path(tmp))
            rows.append(
                f"| {transport} | {len(lat)} | {statistics.median(lat):.0f} | "
                f"{percentile(lat, 99):.0f} | {max(lat):.0f} |"
            )
            print(rows[-1], flush=True)
        kills = sigkill_to_stop(args.trials, Path(tmp))
    print("SIGKILL->STOP ms:", " ".join(f"{k:.1f}" for k in kills), flush=True)
    command = (
        f".venv/bin/python benchmarks/bench_signals.py --messages {args.messages} "
        f"--trials {args.trials} --write-results benchmarks/RESULTS.md"
    )
    text = "\n".join(
        [
            SECTION,
            "",
            f"Date 2026-11-21; machine 2-core x86-64 VM (noisy, shared), "
            f"Python {platform.python_version()}, libzmq {zmq.zmq_version()}, "
            f"pyzmq {zmq.__version__}.",
            f"Command: `{command}`",
            "",
            "Decision-to-controller latency, `ZmqPublisher.publish()` call → `SafetyClient` "
            "on_change callback, one process, loopback, each message a change (µs). "
            "Target p99 < 1000 µs.",
            "",
            "| transport | messages | p50 µs | p99 µs | max µs |",
            "|---|---:|---:|---:|---:|",
            *rows,
            "",
            f"Publisher process SIGKILL → client STOP (watchdog {WATCHDOG_S * 1000:.0f} ms, "
            f"heartbeat 50 Hz, ipc), {len(kills)} trials: "
            f"min {min(kills):.1f} ms, median {statistics.median(kills):.1f} ms, "
            f"max {max(kills):.1f} ms (target ≤ {WATCHDOG_S * 1000 + 10:.0f} ms; the watchdog "
            "runs from the last frame received, so the result is ≤ watchdog plus scheduling).",
            "",
        ]
    )
    print(text)
    if args.write_results:
        write_section(args.write_results, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
