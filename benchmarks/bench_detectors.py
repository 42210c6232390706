"""Benchmark of the offline detectors on PETS09-S2L1 (first 300 frames, 768x576, 7 fps).

Detectors: `hog` (tuned defaults), `hog` at OpenCV's own defaults (upscale 1, scale 1.05:
the alternative), `foreground` (reference = per-pixel median of every 10th frame, the
commissioning substitute since PETS09 has no empty frame), `hog+foreground`, and `ssdlite`
(pretrained pedestrian SSDLite, OpenCV DNN) on the whole frame and on a 2x2 grid of tiles.

Figures per detector, against MOTChallenge ground truth (rows with flag 0 are ignored):
- recall / precision at IoU >= 0.5 (greedy one-to-one matching per frame),
- foot cover: share of people whose foot point (box bottom centre) lies in a detection box
  grown by 8 px: the detector-side proxy for zone-occupancy recall,
- phantom frames: share of frames with a detection whose foot point is not near any
  person (any ground-truth row, flag 0 included): the proxy for false alarms,
- ms/frame on ONE core (cv2.setNumThreads(1)): wall time (time.perf_counter) mean and p95,
  and CPU time (time.process_time) mean, which a busy shared machine disturbs less.

Run:  .venv/bin/python benchmarks/bench_detectors.py [--step N] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from safetymon.config.cameras import DetectorConfig, HogConfig  # noqa: E402
from safetymon.perception.detectors import Detection, Detector, build_detector  # noqa: E402
from safetymon.perception.detectors.combined import box_iou  # noqa: E402
from safetymon.perception.detectors.foreground import build_reference  # noqa: E402
from safetymon.perception.detectors.hog import HogDetector  # noqa: E402

PETS = ROOT.parent / "shared" / "data" / "mot15" / "PETS09-S2L1"
Box = tuple[float, float, float, float]


def load_truth() -> tuple[dict[int, list[Box]], dict[int, list[Box]]]:
    """(visible people, every row including flag 0) per 1-based frame number, pixels."""
    visible: dict[int, list[Box]] = {}
    every: dict[int, list[Box]] = {}
    for line in (PETS / "gt" / "gt.txt").read_text().splitlines():
        number, _track, left, top, width, height, flag = (float(v) for v in line.split(",")[:7])
        box = (left, top, width, height)
        every.setdefault(int(number), []).append(box)
        if flag > 0:
            visible.setdefault(int(number), []).append(box)
    return visible, every


def near(point: tuple[float, float], box: Box, grow: float = 8.0) -> bool:
    """Whether a pixel point lies in `box` grown by `grow` pixels."""
    left, top, width, height = box
    x, y = point
    return left - grow <= x <= left + width + grow and top - grow <= y <= top + height + grow


def foot(box: Box) -> tuple[float, float]:
    """Bottom centre of a box, pixels."""
    return (box[0] + box[2] / 2, box[1] + box[3])


def evaluate(
    detector: Detector, frames: dict[int, np.ndarray], visible: dict, every: dict
) -> dict[str, float]:
    """Run `detector` on every frame and score it."""
    matched = truth_count = found_count = covered = phantoms = 0
    times = []
    cpu_times = []
    for number, image in frames.items():
        start, start_cpu = time.perf_counter(), time.process_time()
        found: list[Detection] = detector.detect(image)
        cpu_times.append(time.process_time() - start_cpu)
        times.append(time.perf_counter() - start)
        truth = visible.get(number, [])
        truth_count += len(truth)
        found_count += len(found)
        used: set[int] = set()
        for person in truth:
            scores = [box_iou(person, d.box_ltwh) for d in found]
            best = int(np.argmax(scores)) if scores else -1
            if best >= 0 and scores[best] >= 0.5 and best not in used:
                used.add(best)
            covered += any(near(foot(person), d.box_ltwh) for d in found)
        matched += len(used)
        anyone = every.get(number, [])
        phantoms += any(not any(near(foot(d.box_ltwh), p) for p in anyone) for d in found)
    ms = np.array(times) * 1000.0
    return {
        "recall": matched / max(truth_count, 1),
        "precision": matched / max(found_count, 1),
        "foot_cover": covered / max(truth_count, 1),
        "phantom_frames": phantoms / max(len(frames), 1),
        "ms_mean": float(ms.mean()),
        "ms_p95": float(np.percentile(ms, 95)),
        "cpu_ms_mean": float(np.mean(cpu_times) * 1000.0),
    }


def main() -> int:
    """Print the table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=int, default=1, help="use every Nth frame (default 1)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    if not (PETS / "img1").is_dir():
        print(f"PETS09-S2L1 frames not found under {PETS}", file=sys.stderr)
        return 2
    frames = {
        number: cv2.imread(str(PETS / "img1" / f"{number:06d}.jpg"))
        for number in range(1, 301, args.step)
    }
    reference = build_reference(
        cv2.imread(str(PETS / "img1" / f"{n:06d}.jpg")) for n in range(1, 301, 10)
    )
    visible, every = load_truth()
    detectors: dict[str, Detector] = {
        "hog (opencv defaults)": HogDetector(HogConfig(upscale=1.0, scale_step=1.05)),
        "hog": build_detector(DetectorConfig(kind="hog")),
        "foreground": build_detector(DetectorConfig(kind="foreground"), reference_bgr=reference),
        "hog+foreground": build_detector(
            DetectorConfig(kind="hog+foreground"), reference_bgr=reference
        ),
        "ssdlite": build_detector(DetectorConfig(kind="ssdlite")),
        "ssdlite 2x2 tiles": build_detector(
            DetectorConfig(kind="ssdlite", ssdlite={"grid": (2, 2)})
        ),
    }
    results = {name: evaluate(d, frames, visible, every) for name, d in detectors.items()}
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    baseline = results["hog (opencv defaults)"]["cpu_ms_mean"]
    print(f"PETS09-S2L1, {len(frames)} frames of 768x576, one core (cv2.setNumThreads(1))")
    print(
        f"{'detector':<22} {'recall':>7} {'precision':>9} {'foot cover':>10} "
        f"{'phantom fr.':>11} {'ms mean':>8} {'ms p95':>7} {'cpu ms':>7} {'cpu vs hog-cv':>13}"
    )
    for name, r in results.items():
        print(
            f"{name:<22} {r['recall']:7.3f} {r['precision']:9.3f} {r['foot_cover']:10.3f} "
            f"{r['phantom_frames']:11.3f} {r['ms_mean']:8.1f} {r['ms_p95']:7.1f} "
            f"{r['cpu_ms_mean']:7.1f} {r['cpu_ms_mean'] / baseline:12.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
