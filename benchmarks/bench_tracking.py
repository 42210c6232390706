"""Benchmark of the multi-camera floor tracker: cost per camera-frame update and per query.

Scenes of 10, 50 and 200 people walking at 0.5-1.5 m/s (random headings, bouncing off the
walls of a square floor sized for about 4 m^2 per person), seen by two cameras at 15 fps
(the second 7 ms later, mapped 0.1 m off), 5 cm observation noise. For each size the same
frames go through the tracker with Hungarian assignment (SciPy linear_sum_assignment) and
with greedy nearest-pair assignment; the table gives the median and p99 time of one
``update`` (one camera frame), of one ``humans_at`` query, the ratio greedy / Hungarian, and
the identity switches of each (quality in the same run).

Run:  .venv/bin/python benchmarks/bench_tracking.py [--frames N] [--seed S]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from safetymon.config.tracking import TrackingConfig  # noqa: E402
from safetymon.perception.tracking import MultiCameraTracker  # noqa: E402
from tests.perception.walkers import IdentityScore, observe  # noqa: E402

FPS = 15.0


def walkers(people: int, frames: int, rng: np.random.Generator) -> np.ndarray:
    """(frames, people, 2) true floor positions, metres."""
    side = 2.0 * np.sqrt(people)
    xy = rng.uniform(0.0, side, (people, 2))
    heading = rng.uniform(0.0, 2 * np.pi, people)
    velocity = rng.uniform(0.5, 1.5, people)[:, None] * np.stack(
        [np.cos(heading), np.sin(heading)], axis=1
    )
    out = np.empty((frames, people, 2))
    for frame in range(frames):
        out[frame] = xy
        xy = xy + velocity / FPS
        outside = (xy < 0.0) | (xy > side)
        velocity[outside] *= -1.0
        xy = np.clip(xy, 0.0, side)
    return out


def run(paths: np.ndarray, assignment: str, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-update and per-query times (ns) and identity switches."""
    rng = np.random.default_rng(seed)
    tracker = MultiCameraTracker(TrackingConfig(assignment=assignment))  # type: ignore[arg-type]
    score = IdentityScore(match_m=1.0)
    updates, queries = [], []
    ids = np.arange(paths.shape[1])
    for frame, points in enumerate(paths):
        t = frame / FPS
        frames = (
            ("left", t, observe("left", t, points, rng, 0.05)),
            ("right", t + 0.007, observe("right", t + 0.007, points, rng, 0.05, (0.1, 0.0))),
        )
        for _, time_s, observations in frames:
            start = time.perf_counter_ns()
            tracker.update(observations, time_s)
            updates.append(time.perf_counter_ns() - start)
        start = time.perf_counter_ns()
        batch = tracker.humans_at(t + 0.02)
        queries.append(time.perf_counter_ns() - start)
        score.add(ids, points, batch)
    return np.array(updates[20:]), np.array(queries[10:]), score.switches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150, help="frames per camera and size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"tracker benchmark: {args.frames} frames x 2 cameras per size, seed {args.seed}")
    header = (
        "| people | assignment | update p50 | update p99 | humans_at p50 | "
        "greedy/hungarian update p50 | id switches |"
    )
    print(header)
    print("|---:|---|---:|---:|---:|---:|---:|")
    for people in (10, 50, 200):
        paths = walkers(people, args.frames, np.random.default_rng(args.seed))
        results = {name: run(paths, name, args.seed) for name in ("hungarian", "greedy")}
        base = float(np.median(results["hungarian"][0]))
        for name, (updates, queries, switches) in results.items():
            ratio = float(np.median(updates)) / base
            print(
                f"| {people} | {name} | {np.median(updates) / 1e3:.0f} us | "
                f"{np.percentile(updates, 99) / 1e3:.0f} us | {np.median(queries) / 1e3:.0f} us | "
                f"{ratio:.2f} | {switches} |"
            )


if __name__ == "__main__":
    main()
