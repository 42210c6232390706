"""Expected person heights from the calibration vs PETS09-S2L1 ground truth; HOG fixed vs auto.

Part 1 (``heights``): every considered ground-truth box of gt.txt (all 795 frames; boxes and
world points need no image) against the pixel height a 1.0-2.0 m person standing at its
world point should have: the fraction inside that range and the median implied height
(box height / pixels per metre of height there). Cameras: the official Tsai calibration
(``../shared/data/calibration/pets09/View_001.xml``: K, lens, pose) and the homography alone
(``calibration/pets09-view001.yaml``, fitted from 8 ground-truth points; camera estimated from
the floor's right angles), at 768x576 and scaled to 480x360 and 320x240.

Part 2 (``hog``): HOG recall by ground-truth box-height band (<60, 60-90, 90-130, >130 px of
the scored frame size) at those three sizes, fixed 1.4x vs auto (crops and upscales from the
homography-only plan), one OpenCV thread, frames resized with cv2.resize (INTER_AREA). A
ground-truth box counts as found when a detection overlaps it at IoU >= 0.5 (Hungarian).

    .venv/bin/python benchmarks/bench_person_scale.py heights
    .venv/bin/python benchmarks/bench_person_scale.py hog --frames 151-300 --step 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from safetymon.config.cameras import HogConfig  # noqa: E402
from safetymon.perception import person_scale  # noqa: E402
from safetymon.perception.calibration.tsai import load_tsai  # noqa: E402
from safetymon.perception.detectors.hog import HogDetector  # noqa: E402
from safetymon.perception.evaluation import (  # noqa: E402
    HEIGHT_BAND_LABELS,
    height_band,
    load_mot_ground_truth,
    match_boxes,
    scale_ground_truth,
    scale_homography,
)
from safetymon.perception.mapping import FloorMapper  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
PETS = DATA / "mot15" / "PETS09-S2L1"
TSAI = DATA / "calibration" / "pets09" / "View_001.xml"
HOMOGRAPHY_FILE = ROOT / "calibration" / "pets09-view001.yaml"
SIZES = ((768, 576), (480, 360), (320, 240))


def homography_mapper(size: tuple[int, int]) -> FloorMapper:
    """The 8-point homography of calibration/pets09-view001.yaml, scaled to ``size``."""
    h = np.asarray(yaml.safe_load(HOMOGRAPHY_FILE.read_text())["floor_homography"], float)
    s = size[0] / 768.0
    return FloorMapper(scale_homography(h, s, s), image_size=size)


def tsai_mapper() -> FloorMapper:
    """The official calibration as a mapper with K, lens and pose (768x576 only)."""
    camera = load_tsai(TSAI)
    return FloorMapper(
        camera.floor_homography(), camera.camera_matrix, camera.dist_coeffs,
        pose=camera.pose, image_size=camera.image_size,
    )  # fmt: skip


def height_check(mapper: FloorMapper, scale: float, frames: range | None = None) -> dict:
    """Ground-truth heights (scaled by ``scale``) against the plan's camera at world points."""
    truth = load_mot_ground_truth(PETS / "gt" / "gt.txt")
    rows = [
        row
        for frame, boxes in truth.items()
        if frames is None or frame in frames
        for row in boxes
        if row.considered and np.all(np.isfinite(row.world_xy))
    ]
    camera = person_scale.camera_model(mapper)
    world = np.array([row.world_xy for row in rows])
    gt_px = np.array([row.box_ltwh[3] for row in rows]) * scale
    foot = camera.project(np.c_[world, np.zeros(len(world))])
    per_metre = foot[:, 1] - camera.project(np.c_[world, np.ones(len(world))])[:, 1]
    low, high = (
        foot[:, 1] - camera.project(np.c_[world, np.full(len(world), h)])[:, 1] for h in (1.0, 2.0)
    )
    ok = np.isfinite(low) & np.isfinite(high)
    inside = (gt_px >= low) & (gt_px <= high)
    implied = gt_px / per_metre
    return {
        "source": camera.source,
        "focal_px": round(camera.focal_px, 1),
        "camera_height_m": round(camera.height_m, 3),
        "tilt_deg": round(camera.tilt_deg, 2),
        "boxes": int(ok.sum()),
        "inside_1_2m": round(float(inside[ok].mean()), 4),
        "median_implied_height_m": round(float(np.median(implied[ok])), 3),
        "p5_p95_implied_m": [round(float(v), 3) for v in np.percentile(implied[ok], [5, 95])],
        "min_max_implied_m": [round(float(v), 3) for v in (implied[ok].min(), implied[ok].max())],
    }


def heights() -> list[dict]:
    """Part 1 for the Tsai pose (768x576) and the homography at three sizes."""
    results = [{"camera": "tsai pose", "size": [768, 576], **height_check(tsai_mapper(), 1.0)}]
    for size in SIZES:
        mapper = homography_mapper(size)
        results.append(
            {"camera": "homography only", "size": list(size),
             **height_check(mapper, size[0] / 768.0)}
        )  # fmt: skip
    return results


def hog_recall(
    frames: range, step: int, sizes: tuple[tuple[int, int], ...], max_scan_mpx: float = 2.6
) -> list[dict]:
    """Part 2: recall per height band and ms/frame, fixed vs auto, at each size."""
    cv2.setNumThreads(1)
    truth = load_mot_ground_truth(PETS / "gt" / "gt.txt")
    numbers = list(frames)[::step]
    images = {n: cv2.imread(str(PETS / "img1" / f"{n:06d}.jpg")) for n in numbers}
    results = []
    for size in sizes:
        s = size[0] / 768.0
        scaled_truth = scale_ground_truth(truth, s, s)
        resized = {
            n: image if s == 1.0 else cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            for n, image in images.items()
        }
        plan = person_scale.plan_person_scale(homography_mapper(size))
        bands = person_scale.hog_bands(plan, max_scan_mpx=max_scan_mpx)
        detectors = {
            "fixed 1.4x": HogDetector(HogConfig()),
            "auto": HogDetector(HogConfig(scales="auto"), band_plan=bands),
        }
        for name, detector in detectors.items():
            found = np.zeros(len(HEIGHT_BAND_LABELS), int)
            total = np.zeros(len(HEIGHT_BAND_LABELS), int)
            false_positives = 0
            times = []
            for n, image in resized.items():
                start = time.perf_counter()
                detections = detector.detect(image)
                times.append(time.perf_counter() - start)
                rows = scaled_truth.get(n, [])
                match = match_boxes(np.array([d.box_ltwh for d in detections]), rows)
                matched = {c for _, c in match.pairs}
                false_positives += match.false_positives
                for index, row in enumerate(rows):
                    if not row.considered:
                        continue
                    band = height_band(row.box_ltwh[3])
                    total[band] += 1
                    found[band] += index in matched
            results.append({
                "size": list(size), "detector": name,
                "recall": round(float(found.sum() / max(total.sum(), 1)), 3),
                "recall_by_band": {
                    label: (round(float(f / t), 3) if t else None, int(t))
                    for label, f, t in zip(HEIGHT_BAND_LABELS, found, total, strict=True)
                },
                "false_positives_per_frame": round(false_positives / len(resized), 3),
                "ms_per_frame": round(1000 * float(np.mean(times)), 1),
                "cost_ratio": round(bands.cost_ratio, 2) if name == "auto" else 1.0,
                "scan_mpx": round(bands.scan_mpx, 2) if name == "auto" else None,
                "crops": [
                    [c.left, c.top, c.right, c.bottom, round(c.upscale, 2)] for c in bands.crops
                ] if name == "auto" else None,
            })  # fmt: skip
            print(json.dumps(results[-1]), flush=True)
    return results


def main() -> int:
    """Run one part and print JSON lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("heights", "hog"))
    parser.add_argument("--frames", default="151-300", help="first-last (1-based, inclusive)")
    parser.add_argument("--step", type=int, default=1, help="every Nth frame")
    parser.add_argument("--size", action="append", help="WxH (repeatable; default all three)")
    parser.add_argument("--max-scan-mpx", type=float, default=2.6, help="hog_bands budget")
    args = parser.parse_args()
    if args.part == "heights":
        for row in heights():
            print(json.dumps(row))
        return 0
    first, last = (int(v) for v in args.frames.split("-"))
    sizes = (
        tuple(tuple(int(v) for v in text.split("x")) for text in args.size)
        if args.size else SIZES
    )  # fmt: skip
    hog_recall(range(first, last + 1), args.step, sizes, args.max_scan_mpx)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
