"""Benchmark of the demo-cell renderer (safetymon.sim.render), one core.

Measures, over the demo script (frames spread over its 36 s, so 0 to 2 people in view):

1. ``CellRenderer.render`` ms per 640x480 frame, and ``render_with_truth`` (labels too);
2. alternatives measured in the same run, as ratios: the bare floor of the cost (copy of
   the static background + the pre-drawn noise), drawing fresh Gaussian noise per frame
   with NumPy instead of the noise bank, and the consumer's plain foreground step
   (``cv2.absdiff`` + threshold against the reference);
3. the one-time cost of building a renderer (room ray casting, floor texture).

Usage::

    .venv/bin/python benchmarks/bench_render.py [--frames 400]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from safetymon.config.loader import load_site_config
from safetymon.sim.cell import DemoScene, demo_camera
from safetymon.sim.render import CellRenderer

REPO = Path(__file__).resolve().parents[1]


def per_call_ms(function: Callable[[int], object], calls: int) -> tuple[float, float]:
    """Median and 95th percentile of ``function(i)`` wall time, milliseconds."""
    times = []
    for index in range(calls):
        start = time.perf_counter()
        function(index)
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=400, help="frames per measurement")
    args = parser.parse_args()
    if args.frames < 10:
        parser.error(f"--frames must be >= 10, got {args.frames}")
    cv2.setNumThreads(1)

    scene = DemoScene.from_site(load_site_config(REPO / "zones" / "demo-cell.yaml"))
    start = time.perf_counter()
    renderer = CellRenderer(scene, demo_camera())
    build_ms = (time.perf_counter() - start) * 1e3
    times = np.linspace(0.0, scene.duration_s, args.frames)
    states = [scene.state_at(float(t), float(t) * 0.5, 1.0) for t in times]
    reference = renderer.reference()
    frame = renderer.render(states[len(states) // 3])
    background = renderer.reference(with_robot=False)
    rng = np.random.default_rng(0)

    noise = np.clip(rng.normal(0.0, 2.0, background.shape), 0, 255).astype(np.uint8)

    def bare(index: int) -> None:
        image = background.copy()
        cv2.add(image, noise, dst=image)  # one pre-drawn noise image, as render() adds
        cv2.subtract(image, noise, dst=image)

    def numpy_noise(index: int) -> None:
        noise = rng.normal(0.0, 2.0, background.shape)
        np.clip(background + noise, 0, 255).astype(np.uint8)

    def foreground(index: int) -> None:
        grey = cv2.cvtColor(cv2.absdiff(frame, reference), cv2.COLOR_BGR2GRAY)
        cv2.threshold(grey, 25, 255, cv2.THRESH_BINARY)

    people = [len(s.people) for s in states]
    rows = [
        ("render()", per_call_ms(lambda i: renderer.render(states[i]), args.frames)),
        ("render_with_truth()", per_call_ms(lambda i: renderer.render_with_truth(states[i]),
                                            args.frames)),
        ("bare: background copy + add noise image", per_call_ms(bare, args.frames)),
        ("alternative: fresh NumPy noise per frame", per_call_ms(numpy_noise, args.frames)),
        ("consumer: absdiff + grey + threshold vs reference", per_call_ms(foreground, args.frames)),
    ]
    render_median = rows[0][1][0]
    print(f"{args.frames} frames of 640x480, people in view per frame: mean "
          f"{np.mean(people):.2f}, max {max(people)}; one OpenCV thread")  # fmt: skip
    print("| measurement | median ms | p95 ms | median / render() |\n|---|---:|---:|---:|")
    for name, (median, p95) in rows:
        print(f"| {name} | {median:.3f} | {p95:.3f} | {median / render_median:.2f} |")
    print(f"renderer build (room ray casting, floor texture, noise bank): {build_ms:.0f} ms")


if __name__ == "__main__":
    main()
