"""Benchmark: a full plan render (matplotlib) vs. redrawing tracks on a cached plan (OpenCV).

Run from the repository root: ``.venv/bin/python benchmarks/bench_plan.py``. Prints
milliseconds per render and their ratio, measured in the same run.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from safetymon.config.loader import load_site_config
from safetymon.viz.plan import PlanRenderer, render_plan

SITE = Path(__file__).resolve().parents[1] / "zones" / "demo-cell.yaml"


def per_call_ms(function, repeats: int) -> float:
    function()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats * 1000.0


def main() -> None:
    config = load_site_config(SITE)
    rng = np.random.default_rng(0)
    tracks = np.c_[rng.uniform(-1, 3, 8), rng.uniform(-1, 2.5, 8), np.full(8, 0.3)]
    labels = [str(i) for i in range(8)]
    renderer = PlanRenderer(config, SITE.parent, image_sizes={"cam1": (640, 480)})
    full = per_call_ms(
        lambda: render_plan(config, SITE.parent, tracks=tracks, image_sizes={"cam1": (640, 480)}),
        10,
    )
    cached = per_call_ms(lambda: renderer.render(tracks, labels), 200)
    print(f"full plan render (matplotlib, 1200x900): {full:8.2f} ms")
    print(f"cached plan + 8 tracks (OpenCV):         {cached:8.2f} ms")
    print(f"ratio full / cached:                     {full / cached:8.1f}x")


if __name__ == "__main__":
    main()
