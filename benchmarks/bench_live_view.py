"""Benchmark: the live view under load must not cost the decision loop its rate.

Issue 15, finding 7: ``GET /api/zones`` at 81/s, or token-free ``POST /api/zones/preview``
at 9/s, took the 100 Hz decision loop to 61 Hz with overruns and stale cameras.

The real demo monitor (`safetymon.demo.runner.run_demo`: rendered camera at 15 fps, default
detector, simulated arm over the real robot-state interface, 100 Hz decision loop, evidence,
ZeroMQ output) runs in this process with the live view attached, as ``safetymon demo
--http`` runs it. After a warm-up it measures a quiet window, then a window during which a
separate load process offers ``--rate`` requests per second to **each** endpoint below
(40 keep-alive connections per endpoint, so the rate holds when answers are slowed; no
token), then a second quiet window:

    GET /api/zones, POST /api/zones/preview, GET /api/state, GET /api/info,
    GET /api/episodes?limit=100, GET /plan.png, GET /camera/<id>.jpg, GET /healthz

Per window: decision cycles per second (each cycle's start recorded by a loop listener;
new frames also start a cycle at once), cycles starting more than 1.5 periods after the
previous one, the longest gap, the loop's overruns, camera frames processed per second, and
for the load window the answers per endpoint by status (200, 429, ...).
The loop's rate under load as a fraction of the quiet rate is the figure the issue asks
for (>= 0.99).

    .venv/bin/python benchmarks/bench_live_view.py [--rate 100] [--seconds 10]

Exit status 0 when it ran (the figures are reported, not enforced); 1 when it could not.
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PREVIEW_BODY = json.dumps(
    {"zone_id": "keep-out", "polygon": [[0, 0], [2.1, 0], [2.1, 1.5], [0, 1.5]],
     "type": "protective"}
).encode()  # fmt: skip


def endpoints(camera_id: str) -> list[tuple[str, str, bytes | None]]:
    """(method, path, body) of every endpoint loaded."""
    return [
        ("GET", "/api/zones", None),
        ("POST", "/api/zones/preview", PREVIEW_BODY),
        ("GET", "/api/state", None),
        ("GET", "/api/info", None),
        ("GET", "/api/episodes?limit=100", None),
        ("GET", "/plan.png", None),
        ("GET", f"/camera/{camera_id}.jpg", None),
        ("GET", "/healthz", None),
    ]


# ------------------------------------------------------------------------- load process
CONNECTIONS_PER_ENDPOINT = 40
"""Keep-alive connections per endpoint, each sending rate / this many requests per second
(so the offered rate holds even when answers are slowed: 40 connections keep 100/s up
while each answer takes up to 0.4 s)."""


def load(url: str, camera_id: str, rate_hz: float, seconds: float) -> dict[str, dict]:
    """Offer ``rate_hz`` requests/s to every endpoint for ``seconds``; answers by status."""
    parts = urlsplit(url)
    results: dict[str, Counter] = {}
    lock = threading.Lock()
    threads = []
    end = time.monotonic() + seconds

    def worker(name: str, method: str, path: str, body: bytes | None, offset_s: float) -> None:
        counts: Counter = Counter()
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        headers = {"Content-Type": "application/json"} if body else {}
        interval = CONNECTIONS_PER_ENDPOINT / rate_hz
        next_at = time.monotonic() + offset_s
        while (now := time.monotonic()) < end:
            if now < next_at:
                time.sleep(next_at - now)
            next_at += interval
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                counts[str(response.status)] += 1
            except (OSError, http.client.HTTPException) as error:
                counts[type(error).__name__] += 1
                connection.close()
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        connection.close()
        with lock:
            results.setdefault(name, Counter()).update(counts)

    for method, path, body in endpoints(camera_id):
        for index in range(CONNECTIONS_PER_ENDPOINT):
            offset = index / rate_hz  # spread evenly over each interval
            thread = threading.Thread(
                target=worker, args=(f"{method} {path}", method, path, body, offset), daemon=True
            )
            thread.start()
            threads.append(thread)
    for thread in threads:
        thread.join(seconds + 30)
    return {name: dict(counts) for name, counts in results.items()}


# ------------------------------------------------------------------------- measuring
LATE_FACTOR = 1.5
"""A cycle starting more than this many periods after the previous one is late."""


@dataclass
class Window:
    """One measured window: the decision cycles' start times and the frames processed."""

    name: str
    seconds: float
    starts: list[float]
    overruns: int
    frames: int

    @property
    def rate_hz(self) -> float:
        return len(self.starts) / self.seconds

    def row(self, quiet_rate: float | None, period_s: float) -> str:
        intervals = [b - a for a, b in zip(self.starts, self.starts[1:], strict=False)]
        late = sum(1 for i in intervals if i > LATE_FACTOR * period_s)
        worst = max(intervals, default=float("nan")) * 1000
        ratio = "" if quiet_rate is None else f"{self.rate_hz / quiet_rate:.3f}"
        return (
            f"| {self.name} | {self.seconds:.1f} | {self.rate_hz:.1f} | {ratio} | {late} | "
            f"{worst:.1f} | {self.overruns} | {self.frames / self.seconds:.1f} |"
        )


class Probe:
    """Records every decision cycle's start (a loop listener) and reads the frame counters."""

    def __init__(self) -> None:
        self.monitor = None
        self._starts: list[float] = []
        self._lock = threading.Lock()

    def listener(self, record) -> None:
        with self._lock:
            self._starts.append(record.cycle.time_s)

    def _counters(self) -> tuple[int, int, int]:
        frames = sum(view.frames for view in self.monitor.hub.views().values())
        with self._lock:
            return len(self._starts), self.monitor.loop.overruns, frames

    def window(self, name: str, seconds: float, during=None) -> tuple[Window, object]:
        (first, overruns, frames), started = self._counters(), time.monotonic()
        extra = during() if during is not None else time.sleep(seconds)
        (last, overruns_after, frames_after), ended = self._counters(), time.monotonic()
        with self._lock:
            starts = self._starts[first:last]
        return Window(name, ended - started, starts, overruns_after - overruns,
                      frames_after - frames), extra  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="requests/s per endpoint")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each window")
    parser.add_argument("--warmup", type=float, default=6.0, help="seconds before measuring")
    parser.add_argument("--load-only", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--camera", default="cam1", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_only:
        print(json.dumps(load(args.load_only, args.camera, args.rate, args.seconds)))
        return 0

    from safetymon.demo.runner import run_demo
    from safetymon.web.cli import HttpSettings

    outcome: dict = {}
    done = threading.Event()
    probe = Probe()

    def measure(monitor, url: str | None) -> None:
        try:
            assert url is not None
            probe.monitor = monitor
            outcome["period_s"] = monitor.loop.period_s
            camera = monitor.hub.camera_ids[0]
            time.sleep(args.warmup)
            quiet, _ = probe.window("quiet", args.seconds)

            def loaded() -> dict:
                command = [sys.executable, __file__, "--load-only", url, "--camera", camera,
                           "--rate", str(args.rate), "--seconds", str(args.seconds)]  # fmt: skip
                done_load = subprocess.run(command, capture_output=True, text=True, check=True)
                return json.loads(done_load.stdout)

            busy, answers = probe.window(f"{args.rate:g} req/s per endpoint", args.seconds, loaded)
            after, _ = probe.window("quiet again", args.seconds)
            outcome.update(quiet=quiet, busy=busy, after=after, answers=answers)
        except Exception as error:  # reported by main
            outcome["error"] = f"{type(error).__name__}: {error}"
        finally:
            done.set()

    with tempfile.TemporaryDirectory(prefix="safetymon-bench-live-") as tmp:
        stop = threading.Event()
        total = args.warmup + 3 * args.seconds + 30

        def stopper() -> None:
            done.wait(total)
            stop.set()

        threading.Thread(target=stopper, daemon=True).start()
        token = "bench-live-view-token-0123456789"
        run_demo(
            Path(tmp),
            duration_s=total,
            http=HttpSettings("127.0.0.1", 0, token, False),
            should_stop=stop,
            listeners=(probe.listener,),
            on_started=lambda monitor, url: threading.Thread(
                target=measure, args=(monitor, url), daemon=True
            ).start(),
        )
    if "error" in outcome or "busy" not in outcome:
        print(f"error: {outcome.get('error', 'the demo ended before the windows')}",
              file=sys.stderr)  # fmt: skip
        return 1
    quiet_rate, period_s = outcome["quiet"].rate_hz, outcome["period_s"]
    print(f"live view under load: demo monitor, 100 Hz decision loop, {args.rate:g} requests/s "
          f"to each of {len(outcome['answers'])} endpoints (no token), {args.seconds:g} s "
          "windows\n")  # fmt: skip
    print(f"| window | s | cycles/s | vs quiet | cycles > {LATE_FACTOR:g} periods late | "
          "longest gap ms | overruns | frames/s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    print(outcome["quiet"].row(None, period_s))
    print(outcome["busy"].row(quiet_rate, period_s))
    print(outcome["after"].row(quiet_rate, period_s))
    print("\n| endpoint | answers by status |\n|---|---|")
    for name, counts in outcome["answers"].items():
        text = ", ".join(f"{status}: {n}" for status, n in sorted(counts.items()))
        print(f"| `{name}` | {text} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
