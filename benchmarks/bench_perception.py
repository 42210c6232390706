"""Perception quality on real footage: detection, floor error, zone occupancy, time per frame.

Runs the exact replay logic (detector → floor mapping → tracker → decision) over the MOT15
sequences in ../shared/data/mot15 for several detector configurations and scores it against
the dataset's ground truth:

- detection recall and precision at IoU >= 0.5 (ground-truth rows with conf 0 are ignored);
- floor error of matched detections against the ground-truth world position (PETS09 only,
  metres; the camera's floor homography was fitted from 8 ground-truth points, see
  calibration/pets09-view001.yaml);
- zone-occupancy recall (frames where a ground-truth person stands inside the protective
  zone `plaza` of zones/pets09-s2l1.yaml and the decision flags it) and false-alarm rate
  (flagged frames among frames with no ground-truth person within --clear-margin metres of
  the zone; frames in between are ambiguous: a body has a radius);
- per-frame time of detection + mapping (median, p95) on ONE core (cv2.setNumThreads(1)).

The foreground reference is the per-pixel median of 25 frames spread over the footage (the
dataset has no empty frame; on a real site it is a photo of the empty cell).

    python benchmarks/bench_perception.py [--frames 300] [--detectors hog,foreground,...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import shapely

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from safetymon.config.loader import load_site_config  # noqa: E402
from safetymon.monitor.perception_setup import build_pipelines  # noqa: E402
from safetymon.monitor.replay import replay  # noqa: E402
from safetymon.perception.detectors.foreground import build_reference  # noqa: E402
from safetymon.perception.evaluation import (  # noqa: E402
    OccupancyScore,
    load_mot_ground_truth,
    match_boxes,
)
from safetymon.perception.sources import ReplayReader  # noqa: E402
from safetymon.perception.tracking import MultiCameraTracker  # noqa: E402
from safetymon.safety.decision import DecisionEngine  # noqa: E402
from safetymon.safety.site import compile_site  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "mot15"
PETS = DATA / "PETS09-S2L1"
TUD = DATA / "TUD-Campus"
SITE = REPO / "zones" / "pets09-s2l1.yaml"
ZONE = "plaza"


def median_reference(source: str, fps: float, count: int = 25) -> np.ndarray:
    """Per-pixel median of ``count`` frames spread over the footage."""
    reader = ReplayReader(source, fps)
    frames = [frame.image for frame in reader]
    reader.close()
    step = max(1, len(frames) // count)
    return build_reference(frames[::step][:count])


def evaluate(
    kind: str,
    source: str,
    gt_path: Path,
    fps: float,
    frames: int,
    with_floor: bool,
    clear_margin_m: float,
) -> dict:
    """Replay one sequence with detector ``kind`` and score it."""
    config = load_site_config(SITE)
    config = config.model_copy(
        update={"detector": config.detector.model_copy(update={"kind": kind})}
    )
    camera_id = config.cameras[0].id
    reference = median_reference(source, fps) if "foreground" in kind else None
    pipelines = build_pipelines(
        config, SITE.parent, references={camera_id: reference} if reference is not None else {}
    )
    engine = DecisionEngine(compile_site(config))
    tracker = MultiCameraTracker(config.tracking)
    truth = load_mot_ground_truth(gt_path)
    zone = shapely.Polygon(config.zone(ZONE).polygon)
    near_zone = zone.buffer(clear_margin_m)
    reader = ReplayReader(source, fps)
    tp = fp = fn = 0
    floor_errors: list[float] = []
    occupancy = OccupancyScore()
    detect_ms: list[float] = []
    started = time.perf_counter()
    for step in replay(engine, pipelines, {camera_id: reader}, tracker, max_frames=frames):
        result = step.frames[0]
        detect_ms.append(result.detect_s * 1000)
        rows = truth.get(step.index + 1, [])
        boxes = np.array([d.box_ltwh for d in result.detections]).reshape(-1, 4)
        match = match_boxes(boxes, rows)
        tp, fp, fn = (
            tp + match.true_positives,
            fp + match.false_positives,
            fn + match.false_negatives,
        )
        if with_floor:
            for det, gt_index in match.pairs:
                world = np.array(rows[gt_index].world_xy)
                if rows[gt_index].considered and np.all(np.isfinite(result.floor_xy[det])):
                    floor_errors.append(float(np.linalg.norm(result.floor_xy[det] - world)))
            points = [shapely.Point(r.world_xy) for r in rows if r.considered]
            inside = any(zone.contains(p) for p in points)
            near = any(near_zone.contains(p) for p in points)
            occupancy.add(inside, near, bool(step.decision.zones_occupied.get(ZONE, False)))
    reader.close()
    elapsed = time.perf_counter() - started
    errors = np.array(floor_errors)
    return {
        "detector": kind,
        "frames": len(detect_ms),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "floor_median_m": float(np.median(errors)) if errors.size else float("nan"),
        "floor_p95_m": float(np.percentile(errors, 95)) if errors.size else float("nan"),
        "zone_recall": occupancy.recall,
        "zone_false_alarm": occupancy.false_alarm_rate,
        "occupied_frames": occupancy.occupied_frames,
        "clear_frames": occupancy.clear_frames,
        "detect_ms_p50": float(np.median(detect_ms)),
        "detect_ms_p95": float(np.percentile(detect_ms, 95)),
        "replay_fps": len(detect_ms) / elapsed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="PETS09 frames (max 300)")
    parser.add_argument("--detectors", default="hog,foreground,hog+foreground")
    parser.add_argument("--clear-margin", type=float, default=0.5, help="metres")
    parser.add_argument("--json", action="store_true", help="print JSON rows instead")
    parser.add_argument("--threads", type=int, default=1, help="OpenCV threads (default 1)")
    args = parser.parse_args()
    if not PETS.is_dir():
        print(f"error: {PETS} not found (../shared/data beside the repo)", file=sys.stderr)
        return 2
    cv2.setNumThreads(args.threads)
    rows = []
    for kind in args.detectors.split(","):
        pets = evaluate(
            kind,
            str(PETS / "img1" / "*.jpg"),
            PETS / "gt" / "gt.txt",
            7.0,
            args.frames,
            True,
            args.clear_margin,
        )
        pets["sequence"] = "PETS09-S2L1"
        rows.append(pets)
        tud = evaluate(
            kind,
            str(TUD / "TUD-Campus.mp4"),
            TUD / "gt" / "gt.txt",
            25.0,
            71,
            False,
            args.clear_margin,
        )
        tud["sequence"] = "TUD-Campus"
        rows.append(tud)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(
        f"perception on MOT15, {args.threads} OpenCV thread(s), IoU >= 0.5; zone '{ZONE}', "
        f"clear margin {args.clear_margin} m"
    )
    header = (
        f"{'sequence':<12} {'detector':<16} {'frames':>6} {'recall':>6} {'prec':>6} "
        f"{'floor p50':>9} {'floor p95':>9} {'zone rec':>8} {'false al':>8} "
        f"{'occ/clear':>9} {'ms p50':>7} {'ms p95':>7}"
    )
    print(header)
    for r in rows:
        occ = (
            f"{r['occupied_frames']}/{r['clear_frames']}"
            if r["sequence"].startswith("PETS")
            else "-"
        )
        print(
            f"{r['sequence']:<12} {r['detector']:<16} {r['frames']:>6} {r['recall']:>6.3f} "
            f"{r['precision']:>6.3f} {r['floor_median_m']:>9.3f} {r['floor_p95_m']:>9.3f} "
            f"{r['zone_recall']:>8.3f} {r['zone_false_alarm']:>8.3f} {occ:>9} "
            f"{r['detect_ms_p50']:>7.1f} {r['detect_ms_p95']:>7.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
