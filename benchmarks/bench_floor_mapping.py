"""Floor-mapping accuracy on PETS09-S2L1 (View 001, 768x576, 7 fps) against ground truth.

A plain homography (no lens model: PETS gives none) is fitted from a handful of ground-truth
foot points (box bottom-centre pixel ↔ world x, y), chosen spread out over the floor by
farthest-point sampling, then every ground-truth box of frames 1..300 (the frames that have
images) is mapped with ``FloorMapper.footprints`` and compared with its world position.
Reports the median and 95th-percentile floor error, the share of boxes within twice the
mapper's stated uncertainty, the error against the number of fitting points (farthest-point
and random choices), and a check that the world units are metres (walking speeds, body
widths). With ``--hog`` it also runs the project's HOG people detector on the 300 images, matches
detections to ground-truth boxes (IoU >= 0.5, Hungarian) and reports the floor error of the
detections themselves.

Run:  .venv/bin/python benchmarks/bench_floor_mapping.py [--points 8] [--hog] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from safetymon.perception.calibration.floor import fit_floor_from_points  # noqa: E402
from safetymon.perception.calibration.floor_accuracy import (  # noqa: E402
    ErrorSummary,
    floor_errors,
    summarize,
)
from safetymon.perception.mapping import FloorMapper  # noqa: E402

PETS = ROOT.parent / "shared" / "data" / "mot15" / "PETS09-S2L1"
FPS = 7.0
FRAMES_WITH_IMAGES = 300


def load_ground_truth(frames: int = FRAMES_WITH_IMAGES) -> np.ndarray:
    """gt.txt rows of frames 1..frames: frame, id, l, t, w, h, conf, x, y, z."""
    rows = np.loadtxt(PETS / "gt" / "gt.txt", delimiter=",")
    return rows[rows[:, 0] <= frames]


def foot_pixels(boxes: np.ndarray) -> np.ndarray:
    """Bottom-centre pixels (N, 2) of boxes (l, t, w, h)."""
    return np.c_[boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3]]


def spread_sample(world: np.ndarray, count: int) -> list[int]:
    """Farthest-point sampling: indices of ``count`` rows spread over the floor."""
    chosen = [int(np.argmin(world[:, 0] + world[:, 1]))]
    nearest = np.linalg.norm(world - world[chosen[0]], axis=1)
    while len(chosen) < count:
        chosen.append(int(np.argmax(nearest)))
        nearest = np.minimum(nearest, np.linalg.norm(world - world[chosen[-1]], axis=1))
    return chosen


def fitted_mapper(rows: np.ndarray, indices: list[int]) -> FloorMapper:
    """Mapper from a plain homography fitted to these ground-truth rows."""
    fit = fit_floor_from_points(foot_pixels(rows[indices, 2:6]), rows[indices, 7:9])
    error = fit.loo_rms_m if fit.loo_rms_m is not None else fit.rms_m
    return FloorMapper(fit.homography, floor_error_m=error, image_size=(768, 576))


def error_vs_points(rows: np.ndarray, counts: list[int], draws: int, seed: int) -> list[dict]:
    """Median / p95 floor error for each number of fitting points (spread and random)."""
    rng = np.random.default_rng(seed)
    table = []
    for count in counts:
        spread = summarize(*floor_errors(fitted_mapper(rows, spread_sample(rows[:, 7:9], count)),
                                         rows[:, 2:6], rows[:, 7:9]))  # fmt: skip
        medians, p95s = [], []
        for _ in range(draws):
            indices = list(rng.choice(len(rows), size=count, replace=False))
            try:
                mapper = fitted_mapper(rows, indices)
                summary = summarize(*floor_errors(mapper, rows[:, 2:6], rows[:, 7:9]))
            except ValueError:  # degenerate draw (collinear, horizon split)
                continue
            medians.append(summary.median_m)
            p95s.append(summary.p95_m)
        table.append({
            "points": count, "spread_median_m": spread.median_m, "spread_p95_m": spread.p95_m,
            "random_median_m": float(np.median(medians)), "random_p95_m": float(np.median(p95s)),
            "random_worst_p95_m": float(np.max(p95s)), "random_draws": len(medians),
        })  # fmt: skip
    return table


def scale_check(rows: np.ndarray, mapper: FloorMapper) -> dict:
    """Walking speeds (world units/s) and mapped box widths: are the units metres?"""
    speeds = []
    for track in np.unique(rows[:, 1]):
        own = rows[rows[:, 1] == track]
        own = own[np.argsort(own[:, 0])]
        step = np.diff(own[:, 0])
        moves = np.linalg.norm(np.diff(own[:, 7:9], axis=0), axis=1)
        consecutive = step == 1
        speeds.extend(moves[consecutive] * FPS)
    speeds_array = np.asarray(speeds)
    boxes = rows[:, 2:6]
    feet = foot_pixels(boxes)
    left = mapper.image_to_floor(np.c_[boxes[:, 0], feet[:, 1]])
    right = mapper.image_to_floor(np.c_[boxes[:, 0] + boxes[:, 2], feet[:, 1]])
    widths = np.linalg.norm(right - left, axis=1)
    world = rows[:, 7:9]
    return {
        "median_speed_per_s": float(np.median(speeds_array)),
        "p90_speed_per_s": float(np.percentile(speeds_array, 90)),
        "median_box_width": float(np.median(widths)),
        "floor_extent": (np.ptp(world[:, 0]).item(), np.ptp(world[:, 1]).item()),
    }


def hog_errors(rows: np.ndarray, mapper: FloorMapper, frames: int) -> tuple[ErrorSummary, dict]:
    """Floor error of the project's HOG detections matched to ground truth (IoU >= 0.5).

    Uses ``safetymon.perception.detectors.hog.HogDetector`` with its defaults (boxes trimmed
    to the person, so the bottom centre is the foot point).
    """
    import cv2
    from scipy.optimize import linear_sum_assignment

    from safetymon.perception.detectors.hog import HogDetector

    detector = HogDetector()
    matched_boxes, matched_world, detections, truths = [], [], 0, 0
    for frame in range(1, frames + 1):
        image = cv2.imread(str(PETS / "img1" / f"{frame:06d}.jpg"))
        found = [detection.box_ltwh for detection in detector.detect(image)]
        truth = rows[rows[:, 0] == frame]
        detections += len(found)
        truths += len(truth)
        if not found or len(truth) == 0:
            continue
        boxes = np.asarray(found, dtype=np.float64)
        iou = _iou(boxes, truth[:, 2:6])
        det_index, truth_index = linear_sum_assignment(-iou)
        for d, t in zip(det_index, truth_index, strict=True):
            if iou[d, t] >= 0.5:
                matched_boxes.append(boxes[d])
                matched_world.append(truth[t, 7:9])
    counts = {"detections": detections, "ground_truth": truths, "matched": len(matched_boxes)}
    if not matched_boxes:
        raise RuntimeError(f"no HOG detection matched the ground truth: {counts}")
    errors, sigma = floor_errors(mapper, np.asarray(matched_boxes), np.asarray(matched_world))
    return summarize(errors, sigma), counts


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    width = np.clip(np.minimum(ax2[:, None], bx2) - np.maximum(a[:, None, 0], b[:, 0]), 0, None)
    height = np.clip(np.minimum(ay2[:, None], by2) - np.maximum(a[:, None, 1], b[:, 1]), 0, None)
    inter = width * height
    union = (a[:, 2] * a[:, 3])[:, None] + b[:, 2] * b[:, 3] - inter
    return inter / union


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=8, help="fitting points (default 8)")
    parser.add_argument("--draws", type=int, default=50, help="random draws per point count")
    parser.add_argument("--hog", action="store_true", help="also map HOG detections")
    parser.add_argument("--frames", type=int, default=FRAMES_WITH_IMAGES)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    rows = load_ground_truth(args.frames)
    chosen = spread_sample(rows[:, 7:9], args.points)
    mapper = fitted_mapper(rows, chosen)
    errors, sigma = floor_errors(mapper, rows[:, 2:6], rows[:, 7:9])
    held_out = np.ones(len(rows), bool)
    held_out[chosen] = False
    result: dict = {
        "boxes": len(rows),
        "fitting_points": args.points,
        "fitting_rows": [[int(rows[i, 0]), int(rows[i, 1])] for i in chosen],
        "calibration_floor_error_m": mapper.floor_error_m,
        "ground_truth_boxes": vars(summarize(errors, sigma)),
        "ground_truth_boxes_held_out": vars(summarize(errors[held_out], sigma[held_out])),
        "all_rows_homography_rms_m": fit_floor_from_points(
            foot_pixels(rows[:, 2:6]), rows[:, 7:9]
        ).rms_m,
        "error_vs_points": error_vs_points(rows, [4, 5, 6, 8, 10, 15, 25], args.draws, 0),
        "scale_check": scale_check(rows, mapper),
    }
    if args.hog:
        summary, counts = hog_errors(rows, mapper, args.frames)
        result["hog_detections"] = vars(summary) | counts
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"PETS09-S2L1 frames 1..{args.frames}: {len(rows)} ground-truth boxes")
    print(f"homography from {args.points} spread ground-truth foot points "
          f"(leave-one-out error {mapper.floor_error_m:.3f} m)")  # fmt: skip
    print("  all GT boxes:      " + summarize(errors, sigma).line())
    print("  held-out GT boxes: " + summarize(errors[held_out], sigma[held_out]).line())
    print(f"  homography fitted to all rows: RMS {result['all_rows_homography_rms_m']:.3f} m")
    print("error vs fitting points (median / p95, metres):")
    print("  points  spread-median  spread-p95  random-median  random-p95  random-worst-p95")
    for row in result["error_vs_points"]:
        print(f"  {row['points']:>6}  {row['spread_median_m']:13.3f}  {row['spread_p95_m']:10.3f}"
              f"  {row['random_median_m']:13.3f}  {row['random_p95_m']:10.3f}"
              f"  {row['random_worst_p95_m']:16.3f}")  # fmt: skip
    scale = result["scale_check"]
    print(f"scale check: median walking speed {scale['median_speed_per_s']:.2f} units/s "
          f"(p90 {scale['p90_speed_per_s']:.2f}), median box width on the floor "
          f"{scale['median_box_width']:.2f} units, floor extent "
          f"{scale['floor_extent'][0]:.1f} x {scale['floor_extent'][1]:.1f} units")  # fmt: skip
    if args.hog:
        hog = result["hog_detections"]
        print(f"HOG detections: {hog['detections']} found, {hog['matched']} matched to "
              f"{hog['ground_truth']} GT boxes (IoU >= 0.5)")  # fmt: skip
        print("  matched detections: " + summarize_line(hog))
    return 0


def summarize_line(data: dict) -> str:
    """The ErrorSummary line from its dict form (plus extra keys)."""
    fields = {key: data[key] for key in ErrorSummary.__dataclass_fields__}
    return ErrorSummary(**fields).line()


if __name__ == "__main__":
    sys.exit(main())
