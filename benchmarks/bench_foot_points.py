"""Where a detector's box puts the feet: bottom offset, width and spread against ground truth.

For each detector kind, every detection matched to a considered ground-truth box (IoU >= 0.5,
``evaluation.match_boxes``) gives, in units of the detection's own box height h:

- bottom offset ``(gt bottom - detection bottom) / h``: negative when the box reaches below
  the feet (the ground-truth box bottom is the foot row: PETS09's world positions project onto
  it to about 2 px);
- centre offset ``(gt centre x - detection centre x) / h``;
- width ratio ``gt width / detection width``.

Printed per stretch as the median (the bias a detector's box-to-person trim should remove)
and the robust spread (1.4826 x the median absolute deviation: the 1-sigma pixel error of
the foot that ``Detection.foot_sigma_px`` should state). The trims and sigmas in the
detectors were fitted on PETS09-S2L1 frames 1-150 only, at 768x576, 480x360 and 320x240
(``--raw`` shows the untrimmed boxes); frames 151-300 and TUD-Campus are held out.

    python benchmarks/bench_foot_points.py [--detectors ssdlite,hog] [--raw] [--frames 150]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.new_user_check import read_frames  # noqa: E402
from safetymon.config.cameras import DetectorConfig  # noqa: E402
from safetymon.perception.detectors.factory import build_detector  # noqa: E402
from safetymon.perception.evaluation import (  # noqa: E402
    load_mot_ground_truth,
    match_boxes,
    scale_ground_truth,
)

DATA = REPO.parent / "shared" / "data" / "mot15"
STRETCHES = (
    ("PETS09-S2L1", 1, 150, (768, 576), "tune"),
    ("PETS09-S2L1", 1, 150, (480, 360), "tune"),
    ("PETS09-S2L1", 1, 150, (320, 240), "tune"),
    ("PETS09-S2L1", 151, 300, (768, 576), "held out"),
    ("PETS09-S2L1", 151, 300, (480, 360), "held out"),
    ("PETS09-S2L1", 151, 300, (320, 240), "held out"),
    ("TUD-Campus", 1, 71, (640, 480), "held out"),
)
NATIVE = {"PETS09-S2L1": (768, 576), "TUD-Campus": (640, 480)}


def frames(sequence: str, first: int, last: int, size: tuple[int, int]):
    """(1-based number, BGR frame at ``size``) of the stretch (``new_user_check.read_frames``)."""
    images = read_frames(DATA / sequence, first, last - first + 1)
    for number, image in enumerate(images, start=first):
        if (image.shape[1], image.shape[0]) != size:
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        yield number, image


def robust_sigma(values: np.ndarray) -> float:
    """1.4826 x median absolute deviation (the sigma of a Gaussian, robust to outliers)."""
    return float(1.4826 * np.median(np.abs(values - np.median(values)))) if len(values) else 0.0


def measure(detector, sequence: str, first: int, last: int, size, raw: bool) -> dict:
    """Offsets of matched detections of one stretch (see module docstring)."""
    native = NATIVE[sequence]
    truth = scale_ground_truth(
        load_mot_ground_truth(DATA / sequence / "gt" / "gt.txt"),
        size[0] / native[0],
        size[1] / native[1],
    )
    bottom, centre, width, stated = [], [], [], []
    for number, image in frames(sequence, first, last, size):
        detections = detector.detect(image)
        if raw:
            detections = [
                replace(d, box_ltwh=d.raw_box_ltwh) if d.raw_box_ltwh is not None else d
                for d in detections
            ]
        boxes = np.array([d.box_ltwh for d in detections], dtype=float).reshape(-1, 4)
        match = match_boxes(boxes, truth.get(number, []))
        for det, gt in match.pairs:
            row = truth[number][gt]
            if not row.considered:
                continue
            gl, gtop, gw, gh = row.box_ltwh
            left, top, w, h = boxes[det]
            bottom.append(((gtop + gh) - (top + h)) / h)
            centre.append(((gl + gw / 2) - (left + w / 2)) / h)
            width.append(gw / w)
            sigma = detections[det].foot_sigma_px
            stated.append(np.nan if sigma is None else sigma / h)
    bottom_a, centre_a = np.array(bottom), np.array(centre)
    return {
        "matched": len(bottom),
        "bottom_median": float(np.median(bottom_a)) if bottom else np.nan,
        "bottom_sigma": robust_sigma(bottom_a),
        "centre_sigma": robust_sigma(centre_a),
        "width_median": float(np.median(width)) if width else np.nan,
        "stated_sigma": float(np.nanmedian(stated)) if stated and np.any(np.isfinite(stated))
        else np.nan,
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detectors", default="ssdlite,hog")
    parser.add_argument("--raw", action="store_true", help="untrimmed boxes (raw_box_ltwh)")
    parser.add_argument("--frames", type=int, default=150, help="frames per PETS09 stretch")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    print("| detector | stretch | size | role | matched | bottom offset /h (median) "
          "| bottom 1σ /h | centre 1σ /h | gt/det width | stated foot σ /h |")  # fmt: skip
    print("|" + "---|" * 10)
    for kind in args.detectors.split(","):
        detector = build_detector(DetectorConfig(kind=kind), REPO / "models")
        for sequence, first, last, size, role in STRETCHES:
            if sequence.startswith("PETS"):
                last = first + args.frames - 1
            row = measure(detector, sequence, first, last, size, args.raw)
            print(
                f"| {kind}{' (raw)' if args.raw else ''} | {sequence} {first}-{last} "
                f"| {size[0]}x{size[1]} | {role} | {row['matched']} "
                f"| {row['bottom_median']:+.3f} | {row['bottom_sigma']:.3f} "
                f"| {row['centre_sigma']:.3f} | {row['width_median']:.2f} "
                f"| {row['stated_sigma']:.3f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
