"""The new-user procedure on MOT footage: own homography, own zones, default detector, replay.

Repeats what an outside user does with public footage and its MOTChallenge ground truth,
with nothing tuned to the footage (safetymon/perception/new_user_site.py):

1. resize the frames to ``--size`` and fit the floor homography with plain
   ``cv2.findHomography`` (method 0, sign as returned) on every ground-truth foot point of
   the replayed frames (box bottom-centre → world x, y). Sequences without world positions
   (TUD-Campus) get them from a level camera fitted to the ground-truth box heights
   (``estimate_floor_from_heights``: 1.7 m people, a 60° lens), then the same procedure
   (without enough whole boxes: a nominal 1 cm/px homography and no zones, detection only);
2. place a 3 m protective square where the ground-truth feet are densest and a warning
   square 1 m wider around it;
3. write the site YAML (no ``detector`` key: the default detector) and the frames as a video
   (H.264 if this OpenCV can write it, else mp4v: printed);
4. run ``.venv/bin/safetymon replay --config SITE --source VIDEO --out OUT.jsonl
   --no-progress`` as a subprocess (with ``--reference-median 25`` when the default detector
   has a foreground part, which needs a reference);
5. score the JSON lines: zone-occupancy recall (frames with a ground-truth foot point in the
   protective zone whose record has ``zones[<zone>]`` true), false alarms on clear frames
   (no ground-truth person within 0.5 m, and separately 1.0 m, of the zone), detection recall
   and precision at IoU 0.5 (``detections[*].box``), median floor error of matched detections
   (``detections[*].floor``).

    python benchmarks/new_user_check.py [--sequence DIR] [--size 480x360] [--frames N]
        [--start 1] [--out-dir /tmp/...] [--json]

Exit status: 0 when the replay ran and was scored (targets are reported, not enforced);
1 when the replay failed; 2 on bad input.
"""

from __future__ import annotations

import argparse
import configparser
import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import shapely

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from safetymon.config.cameras import DetectorConfig  # noqa: E402
from safetymon.perception.evaluation import (  # noqa: E402
    GroundTruthBox,
    foot_pixel,
    load_mot_ground_truth,
    scale_ground_truth,
    score_replay_records,
)
from safetymon.perception.new_user_site import (  # noqa: E402
    HeightFloorEstimate,
    encode_video,
    estimate_floor_from_heights,
    fit_floor_homography,
    ground_truth_feet,
    place_zones,
    site_document,
    write_site,
)

DATA = REPO.parent / "shared" / "data" / "mot15"
SAFETYMON = REPO / ".venv" / "bin" / "safetymon"
NOMINAL_HOMOGRAPHY = np.array([[0.01, 0.0, 0.0], [0.0, -0.01, 0.0], [0.0, 0.0, 1.0]])
"""1 cm per pixel, y up: a placeholder floor for footage without world positions."""


def sequence_info(folder: Path) -> tuple[str, float, tuple[int, int]]:
    """(name, fps, (width, height)) from a MOT sequence's ``seqinfo.ini``."""
    parser = configparser.ConfigParser()
    if not parser.read(folder / "seqinfo.ini"):
        raise ValueError(f"{folder}/seqinfo.ini is missing")
    section = parser["Sequence"]
    size = (int(section["imWidth"]), int(section["imHeight"]))
    return section["name"], float(section["frameRate"]), size


def read_frames(folder: Path, start: int, count: int | None) -> list[np.ndarray]:
    """Frames ``start``.. (1-based) of the sequence: ``img1/*.jpg`` or its one ``.mp4``."""
    images = sorted((folder / "img1").glob("*.jpg")) if (folder / "img1").is_dir() else []
    frames: list[np.ndarray] = []
    stop = None if count is None else start - 1 + count
    if images:
        for path in images[start - 1 : stop]:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"{path}: not an image")
            frames.append(image)
        return frames
    videos = sorted(folder.glob("*.mp4"))
    if len(videos) != 1:
        raise ValueError(f"{folder}: no img1/*.jpg and not exactly one .mp4")
    capture = cv2.VideoCapture(str(videos[0]))
    index = 0
    while stop is None or index < stop:
        ok, image = capture.read()
        if not ok:
            break
        index += 1
        if index >= start:
            frames.append(image)
    capture.release()
    return frames


def parse_size(text: str) -> tuple[int, int]:
    """'640x480' → (640, 480)."""
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, got {text!r}")
    return int(width), int(height)


def run_check(
    folder: Path,
    size: tuple[int, int] | None,
    start: int,
    count: int | None,
    out_dir: Path,
    reference_median: int | None,
    protective_side_m: float,
    warning_margin_m: float,
) -> dict:
    """Build the site, replay through the CLI, score; the result row (see module doc)."""
    name, fps, native = sequence_info(folder)
    size = size or native
    scale_x, scale_y = size[0] / native[0], size[1] / native[1]
    frames = read_frames(folder, start, count)
    if not frames:
        raise ValueError(f"{folder}: no frames from {start}")
    numbers = range(start, start + len(frames))
    truth = scale_ground_truth(load_mot_ground_truth(folder / "gt" / "gt.txt"), scale_x, scale_y)
    feet = ground_truth_feet(truth, numbers)
    estimate = None
    if len(feet.pixels) < 4:  # boxes only: a level camera fitted to the box heights
        try:
            estimate, _ = estimate_floor_from_heights(truth, numbers, size)
        except ValueError as error:  # too few boxes, no level camera: detection only
            print(f"no floor from box heights ({error}): detection only", file=sys.stderr)
        else:
            truth = with_estimated_world(truth, estimate)
            feet = ground_truth_feet(truth, numbers)
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = f"{name}-{size[0]}x{size[1]}-{start}-{start + len(frames) - 1}"
    video = out_dir / f"{tag}.mp4"
    codec = encode_video(frames, video, fps, size)
    with_floor = len(feet.pixels) >= 4
    if with_floor:
        homography = fit_floor_homography(feet)
        zones = place_zones(feet.world, protective_side_m, warning_margin_m)
        w = np.c_[feet.pixels, np.ones(len(feet.pixels))] @ homography.T
        w_positive = float(np.mean(w[:, 2] > 0))
        mapped = w[:, :2] / w[:, 2:]
        fit_rms = float(np.sqrt(np.mean(np.sum((mapped - feet.world) ** 2, axis=1))))
    else:
        homography, zones, w_positive, fit_rms = NOMINAL_HOMOGRAPHY, [], math.nan, math.nan
    document = site_document(
        "new-user-" + "".join(c if c.isalnum() else "-" for c in name.lower()),
        "cam",
        str(video),
        homography,
        size,
        fps,
        zones,
    )
    site = write_site(
        out_dir / f"{tag}.yaml",
        document,
        f"new-user site for {name} frames {numbers[0]}-{numbers[-1]} at {size[0]}x{size[1]}: "
        + (
            "floor_homography = cv2.findHomography(GT foot pixels, GT world, 0) as returned"
            if with_floor
            else "no world positions: nominal 1 cm/px homography, no zones"
        )
        + (
            f"\nworld positions estimated from box heights: {estimate}"
            if estimate is not None
            else ""
        ),
    )
    out = out_dir / f"{tag}.jsonl"
    command = [str(SAFETYMON), "replay", "--config", str(site), "--source", str(video)]
    command += ["--out", str(out), "--no-progress"]
    if reference_median:
        command += ["--reference-median", str(reference_median)]
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(
            f"replay exited {completed.returncode}: {completed.stderr.strip()[-2000:]}"
        )
    records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    protective = zones[0] if zones else None
    detections, occupancy, faulty = score_replay_records(
        records,
        truth,
        first_frame=start,
        zone=shapely.Polygon(protective["polygon"]) if protective else None,
        zone_id=protective["id"] if protective else None,
    )
    states = [record["decision"]["state"] for record in records]
    row = {
        "sequence": name,
        "frames": f"{numbers[0]}-{numbers[-1]}",
        "records": len(records),
        "size": f"{size[0]}x{size[1]}",
        "codec": codec,
        "detector": "+".join(DetectorConfig().kinds),  # auto without a photo of the empty cell
        "reference_median": reference_median,
        "world_from": "box heights" if estimate is not None else "ground truth",
        "height_fit": None
        if estimate is None
        else {
            "horizon_row_px": estimate.horizon_row_px,
            "camera_height_m": estimate.camera_height_m,
            "focal_px": estimate.focal_px,
            "fit_rms_px": estimate.fit_rms_px,
        },
        "homography_w_positive": w_positive,
        "homography_fit_rms_m": fit_rms,
        "zone": protective["polygon"] if protective else None,
        "zone_recall": occupancy.recall if occupancy else math.nan,
        "false_alarm_0.5m": occupancy.false_alarm_rate(0.5) if occupancy else math.nan,
        "false_alarm_1.0m": occupancy.false_alarm_rate(1.0) if occupancy else math.nan,
        "occupied_frames": occupancy.scores[0.5].occupied_frames if occupancy else 0,
        "clear_frames_0.5m": occupancy.scores[0.5].clear_frames if occupancy else 0,
        "clear_frames_1.0m": occupancy.scores[1.0].clear_frames if occupancy else 0,
        "recall": detections.recall,
        "precision": detections.precision,
        "floor_median_m": detections.floor_median_m if with_floor else math.nan,
        "fault_frames": faulty,
        "stop_frames": states.count("STOP"),
        "site": str(site),
        "jsonl": str(out),
        "replay_summary": completed.stdout.strip().splitlines()[-1:],
    }
    return row


def with_estimated_world(
    truth: dict[int, list[GroundTruthBox]], estimate: HeightFloorEstimate
) -> dict[int, list[GroundTruthBox]]:
    """The ground truth with every box's world xy set from ``estimate`` (foot pixel)."""
    return {
        frame: [
            replace(
                row, world_xy=tuple(float(v) for v in estimate.world(foot_pixel(row.box_ltwh))[0])
            )
            for row in rows
        ]
        for frame, rows in truth.items()
    }


def _f(value: float, digits: int = 3) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def markdown(rows: list[dict]) -> str:
    """The result rows as a Markdown table."""
    lines = [
        "| sequence | frames | size | codec | detector | H w>0 | H fit rms m | zone recall "
        "| false al. 0.5 m | false al. 1.0 m | occ / clear 0.5 / clear 1.0 | det recall "
        "| precision | floor p50 m | fault frames | STOP frames |",
        "|" + "---|" * 16,
    ]
    for r in rows:
        counts = f"{r['occupied_frames']} / {r['clear_frames_0.5m']} / {r['clear_frames_1.0m']}"
        lines.append(
            f"| {r['sequence']} | {r['frames']} | {r['size']} | {r['codec']} | {r['detector']} "
            f"| {_f(r['homography_w_positive'], 2)} | {_f(r['homography_fit_rms_m'])} "
            f"| {_f(r['zone_recall'])} | {_f(r['false_alarm_0.5m'])} "
            f"| {_f(r['false_alarm_1.0m'])} | {counts} | {_f(r['recall'])} "
            f"| {_f(r['precision'])} | {_f(r['floor_median_m'])} | {r['fault_frames']} "
            f"| {r['stop_frames']} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequence", type=Path, default=DATA / "PETS09-S2L1", help="MOT folder")
    parser.add_argument("--size", type=parse_size, help="WIDTHxHEIGHT (default: native)")
    parser.add_argument("--start", type=int, default=1, help="first frame (1-based)")
    parser.add_argument("--frames", type=int, help="number of frames (default: all there)")
    parser.add_argument("--out-dir", type=Path, default=Path("/tmp/safetymon-new-user"))
    parser.add_argument(
        "--reference-median",
        default="auto",
        help="N frames for replay's --reference-median; 'auto': 25 when the default "
        "detector has a foreground part, else none; 0: none",
    )
    parser.add_argument("--protective-side", type=float, default=3.0, help="metres")
    parser.add_argument("--warning-margin", type=float, default=1.0, help="metres")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = parser.parse_args()
    if args.start < 1 or (args.frames is not None and args.frames < 1):
        print("error: --start and --frames must be >= 1", file=sys.stderr)
        return 2
    if args.reference_median == "auto":
        reference = 25 if "foreground" in DetectorConfig().kinds else None
    elif args.reference_median.isdigit():
        reference = int(args.reference_median) or None
    else:
        print(f"error: --reference-median must be a number or 'auto', got "
              f"{args.reference_median!r}", file=sys.stderr)  # fmt: skip
        return 2
    if not (args.sequence / "gt" / "gt.txt").is_file():
        print(f"error: {args.sequence}/gt/gt.txt not found", file=sys.stderr)
        return 2
    if not SAFETYMON.is_file():
        print(f"error: {SAFETYMON} not found (install the project into .venv)", file=sys.stderr)
        return 2
    try:
        row = run_check(
            args.sequence,
            args.size,
            args.start,
            args.frames,
            args.out_dir,
            reference,
            args.protective_side,
            args.warning_margin,
        )
    except (ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(row, indent=1))
        return 0
    print(
        f"new-user check: {row['sequence']} frames {row['frames']} at {row['size']}, video "
        f"{row['codec']}, default detector {row['detector']!r}"
        + (f", --reference-median {reference}" if reference else "")
    )
    print(
        f"protective zone {row['zone']} ({args.protective_side} m square where ground-truth "
        "feet are densest)"
    )
    print(markdown([row]))
    print(f"site {row['site']}; replay output {row['jsonl']}: {row['replay_summary']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
