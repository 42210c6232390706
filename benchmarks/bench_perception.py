"""Perception quality on real footage, on frames nobody may tune on as well as those one may.

Runs the exact replay logic (``safetymon.monitor.replay.replay``: detector → floor mapping →
tracker → decision, pipelines built by safetymon's own factory) for each detector kind, on:

- PETS09-S2L1 frames 1-150 (the ONLY frames anyone may tune on) and, separately, 151-300;
  each at 768x576 (native), 480x360 and 320x240 (INTER_AREA; homography scaled to match,
  ``H_scaled = H @ diag(1/s_x, 1/s_y, 1)``; ground-truth boxes scaled likewise);
- TUD-Campus (71 frames, 640x480, boxes only: no world positions, so no floor or zone figures).

Two zone sets on PETS09, so that zone placement is not tuned either:

- ``plaza`` of zones/pets09-s2l1.yaml (its calibration file's homography, its tracking);
- ``new user``: what benchmarks/new_user_check.py builds (safetymon/perception/new_user_site.py):
  homography from plain ``cv2.findHomography`` on every ground-truth foot point of frames
  1-300 at the row's size, a 3 m protective square where feet are densest, default tracking.
  It replays the same detections (recorded in the first pass) through its own mapping,
  tracker and decision.

Columns: zone-occupancy recall (frames with a ground-truth foot point in the protective zone
whose decision has the zone occupied), false alarms (flagged frames among frames with no
ground-truth person within 0.5 m, and 1.0 m, of the zone), detection recall / precision at
IoU 0.5 (conf-0 ground truth ignored), median floor error of matched detections (metres),
fraction of matched detections within 1σ and 2σ of their stated uncertainty
(``FrameResult.uncertainty_m``), recall per ground-truth height band (px of the row's
frames), and per-frame CPU ms (``time.process_time`` around detection + mapping, one OpenCV
thread) and wall ms, median and p95. The machine may be shared: time figures are noisy.

Targets for the default detector (``DetectorConfig()``), per row: zone recall ≥ 0.99, false
alarms ≤ 0.05 at 0.5 m, detection recall ≥ 0.9, precision ≥ 0.9, median floor error
≤ 0.25 m, CPU ≤ 60 ms per 640x480 frame (scaled by pixel count for other sizes: 86.4 ms at
768x576, 33.8 ms at 480x360, 15 ms at 320x240), on the median.

The foreground reference is the per-pixel median of 25 frames spread over the row's frames
(the dataset has no empty frame; on a real site it is a photo of the empty cell).

    python benchmarks/bench_perception.py [--frames 150 | --quick] [--detectors hog,...]
        [--ssdlite-passes 2,3,4] [--max-coast-s S] [--json]

``--ssdlite-passes`` adds rows for ``detector.ssdlite.planned_passes`` (the whole frame plus
N - 1 tiles planned from the row's calibration; TUD-Campus's from its box heights).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import shapely
from pydantic import ValidationError

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from safetymon.config.cameras import DETECTOR_KINDS, DetectorConfig  # noqa: E402
from safetymon.config.loader import ConfigError, load_site_config  # noqa: E402
from safetymon.config.site import SiteConfig  # noqa: E402
from safetymon.monitor.camera_pipeline import CameraPipeline, FrameResult  # noqa: E402
from safetymon.monitor.perception_setup import build_pipelines  # noqa: E402
from safetymon.monitor.replay import replay  # noqa: E402
from safetymon.perception.detectors.base import DetectorError  # noqa: E402
from safetymon.perception.detectors.factory import build_detector  # noqa: E402
from safetymon.perception.detectors.foreground import build_reference  # noqa: E402
from safetymon.perception.evaluation import (  # noqa: E402
    HEIGHT_BAND_LABELS,
    DetectionScore,
    GroundTruthBox,
    MarginOccupancy,
    load_mot_ground_truth,
    match_boxes,
    scale_ground_truth,
    scale_homography,
    target_verdict,
)
from safetymon.perception.mapping import FloorMapper  # noqa: E402
from safetymon.perception.new_user_site import (  # noqa: E402
    estimate_floor_from_heights,
    fit_floor_homography,
    ground_truth_feet,
    place_zones,
    site_document,
)
from safetymon.perception.sources import ReplayFrame  # noqa: E402
from safetymon.perception.tracking import MultiCameraTracker  # noqa: E402
from safetymon.safety.decision import DecisionEngine  # noqa: E402
from safetymon.safety.site import compile_site  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "mot15"
PETS = DATA / "PETS09-S2L1"
TUD = DATA / "TUD-Campus"
SITE = REPO / "zones" / "pets09-s2l1.yaml"
PLAZA = "plaza"
MARGINS_M = (0.5, 1.0)
SIZES = ((768, 576), (480, 360), (320, 240))
NOMINAL_HOMOGRAPHY = np.array([[0.01, 0.0, 0.0], [0.0, -0.01, 0.0], [0.0, 0.0, 1.0]])
MS_TARGET_640x480 = 60.0


@dataclass(frozen=True)
class Stretch:
    """Frames of one benchmark row: sequence, 1-based first/last frame, size and role."""

    sequence: str
    first: int
    last: int
    size: tuple[int, int]
    native: tuple[int, int]
    role: str  # "tune" (frames 1-150 of PETS09) or "held out"

    @property
    def label(self) -> str:
        return f"{self.sequence} {self.first}-{self.last} {self.size[0]}x{self.size[1]}"


class FrameList:
    """Replay reader over frames in memory (``ReplayReader``'s interface: fps, next, close)."""

    def __init__(self, images: list[np.ndarray], fps: float) -> None:
        self.fps = float(fps)
        self._images = images
        self._index = 0

    def next(self) -> ReplayFrame | None:
        if self._index >= len(self._images):
            return None
        frame = ReplayFrame(self._images[self._index], self._index, self._index / self.fps)
        self._index += 1
        return frame

    def close(self) -> None:
        self._index = len(self._images)


class RecordingDetector:
    """Passes detection through and keeps each call's result (or DetectorError) in order."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.outputs: list = []

    def detect(self, frame, ignore_mask=None):
        try:
            result = self.inner.detect(frame, ignore_mask=ignore_mask)
        except DetectorError as error:
            self.outputs.append(error)
            raise
        self.outputs.append(result)
        return result


class PlaybackDetector:
    """Gives back a RecordingDetector's results in order (same detections, no recompute)."""

    def __init__(self, outputs: list) -> None:
        self._outputs = outputs
        self._index = 0

    def detect(self, frame, ignore_mask=None):
        item = self._outputs[self._index]
        self._index += 1
        if isinstance(item, Exception):
            raise item
        return item


class TimedPipeline:
    """A camera pipeline whose ``process`` is timed: CPU (process_time) and wall ms."""

    def __init__(self, inner: CameraPipeline) -> None:
        self.inner = inner
        self.cpu_ms: list[float] = []
        self.wall_ms: list[float] = []

    def process(self, frame: np.ndarray, capture_s: float) -> FrameResult:
        cpu, wall = time.process_time(), time.perf_counter()
        result = self.inner.process(frame, capture_s)
        self.cpu_ms.append((time.process_time() - cpu) * 1000)
        self.wall_ms.append((time.perf_counter() - wall) * 1000)
        return result


def load_images(stretch: Stretch) -> list[np.ndarray]:
    """The stretch's frames, resized to its size (INTER_AREA)."""
    if stretch.sequence.startswith("PETS"):
        paths = sorted((PETS / "img1").glob("*.jpg"))[stretch.first - 1 : stretch.last]
        images = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in paths]
    else:
        capture = cv2.VideoCapture(str(TUD / "TUD-Campus.mp4"))
        images = []
        while len(images) < stretch.last:
            ok, image = capture.read()
            if not ok:
                break
            images.append(image)
        capture.release()
        images = images[stretch.first - 1 :]
    if any(image is None for image in images):
        raise RuntimeError(f"{stretch.label}: an image could not be read")
    if stretch.size != stretch.native:
        images = [cv2.resize(i, stretch.size, interpolation=cv2.INTER_AREA) for i in images]
    return images


def median_reference(images: list[np.ndarray], count: int = 25) -> np.ndarray:
    """Per-pixel median of ``count`` frames spread over ``images``."""
    step = max(1, len(images) // count)
    return build_reference(images[::step][:count])


def new_user_config(
    truth: dict[int, list[GroundTruthBox]], frames: range, size: tuple[int, int], fps: float
) -> SiteConfig:
    """The new-user site of the PETS09 footage at ``size`` (truth already scaled to it)."""
    feet = ground_truth_feet(truth, frames)
    document = site_document(
        "new-user-pets09", "view001", "unused", fit_floor_homography(feet), size, fps,
        place_zones(feet.world),
    )  # fmt: skip
    return SiteConfig.model_validate(document)


def with_max_coast(site: SiteConfig, seconds: float) -> SiteConfig:
    """``site`` with its tracks coasting at most ``seconds`` without an observation."""
    tracking = site.tracking.model_validate(
        site.tracking.model_dump() | {"max_coast_s": seconds}
    )
    return site.model_copy(update={"tracking": tracking})


def boxes_only_config(
    size: tuple[int, int], fps: float, truth: dict[int, list[GroundTruthBox]]
) -> SiteConfig:
    """A site for footage without world positions, no zones: the floor of a level camera
    fitted to the ground-truth box heights (``estimate_floor_from_heights``, as
    new_user_check.py does), else a nominal homography. Only detection is scored on it; the
    geometry matters to the detectors planned from the calibration (``planned_passes``)."""
    try:
        estimate, _ = estimate_floor_from_heights(truth, None, size)
        homography = np.linalg.inv(estimate.floor_to_image())
    except ValueError:
        homography = NOMINAL_HOMOGRAPHY
    document = site_document("boxes-only", "cam", "unused", homography, size, fps, [])
    return SiteConfig.model_validate(document)


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


def run_replay(config: SiteConfig, pipelines: dict, images: list[np.ndarray], fps: float):
    """Yield the replay steps of ``images`` through ``pipelines`` with ``config``'s logic."""
    camera_id = config.cameras[0].id
    engine = DecisionEngine(compile_site(config))
    tracker = MultiCameraTracker(config.tracking)
    yield from replay(engine, pipelines, {camera_id: FrameList(images, fps)}, tracker)


def evaluate(
    detector: DetectorConfig,
    stretch: Stretch,
    images: list[np.ndarray],
    reference: np.ndarray | None,
    truth: dict[int, list[GroundTruthBox]],
    plaza_site: SiteConfig | None,
    plaza_mapper: FloorMapper | None,
    user_site: SiteConfig,
    fps: float,
) -> dict:
    """One row: replay ``images`` with ``detector`` and score (module doc for the columns)."""
    with_floor = plaza_site is not None
    first_site = plaza_site if with_floor else user_site
    first_config = first_site.model_copy(update={"detector": detector})
    camera_id = first_config.cameras[0].id
    references = {camera_id: reference} if reference is not None else {}
    mappers = {camera_id: plaza_mapper} if plaza_mapper is not None else {}
    pipelines = build_pipelines(first_config, SITE.parent, references=references, mappers=mappers)
    recorder = RecordingDetector(pipelines[camera_id].detector)
    pipelines[camera_id].detector = recorder
    timed = TimedPipeline(pipelines[camera_id])
    score = DetectionScore()
    plaza = MarginOccupancy(shapely.Polygon(first_config.zone(PLAZA).polygon), MARGINS_M) if (
        with_floor
    ) else None  # fmt: skip
    faults = 0
    for step in run_replay(first_config, {camera_id: timed}, images, fps):
        result = step.frames[0]
        rows = truth.get(stretch.first + step.index, [])
        boxes = np.array([d.box_ltwh for d in result.detections]).reshape(-1, 4)
        match = match_boxes(boxes, rows)
        faults += int(result.fault is not None)
        if with_floor:
            score.add(match, rows, result.floor_xy, result.uncertainty_m)
            points = [r.world_xy for r in rows if r.considered]
            plaza.add(points, bool(step.decision.zones_occupied.get(PLAZA, False)))
        else:
            score.add(match, rows)
    row = {
        "sequence": stretch.sequence,
        "frames": f"{stretch.first}-{stretch.last}",
        "size": f"{stretch.size[0]}x{stretch.size[1]}",
        "role": stretch.role,
        "detector": detector.kind,
        "replayed": len(timed.cpu_ms),
        "fault_frames": faults,
        "recall": score.recall,
        "precision": score.precision,
        "floor_median_m": score.floor_median_m,
        "within_1sigma": score.within_sigma(1.0),
        "within_2sigma": score.within_sigma(2.0),
        **{f"recall_h{label}": score.band_recall(i) for i, label in enumerate(HEIGHT_BAND_LABELS)},
        **{f"gt_h{label}": score.band_truth[i] for i, label in enumerate(HEIGHT_BAND_LABELS)},
        "cpu_ms_p50": _percentile(timed.cpu_ms, 50),
        "cpu_ms_p95": _percentile(timed.cpu_ms, 95),
        "wall_ms_p50": _percentile(timed.wall_ms, 50),
        "wall_ms_p95": _percentile(timed.wall_ms, 95),
        "cpu_ms_target": MS_TARGET_640x480 * stretch.size[0] * stretch.size[1] / (640 * 480),
    }
    if not with_floor:
        return row
    row.update(_zone_columns("plaza", plaza))
    # Second pass: the same detections through the new-user mapping, tracker and decision.
    user_config = user_site.model_copy(update={"detector": detector})
    user_pipelines = build_pipelines(user_config, SITE.parent, references=references)
    user_camera = user_config.cameras[0].id
    user_pipelines[user_camera].detector = PlaybackDetector(recorder.outputs)
    protective = next(z for z in user_config.zones if z.type.value == "protective")
    user = MarginOccupancy(shapely.Polygon(protective.polygon), MARGINS_M)
    user_score = DetectionScore()
    for step in run_replay(user_config, user_pipelines, images, fps):
        result = step.frames[0]
        rows = truth.get(stretch.first + step.index, [])
        boxes = np.array([d.box_ltwh for d in result.detections]).reshape(-1, 4)
        user_score.add(match_boxes(boxes, rows), rows, result.floor_xy, result.uncertainty_m)
        points = [r.world_xy for r in rows if r.considered]
        user.add(points, bool(step.decision.zones_occupied.get(protective.id, False)))
    row.update(_zone_columns("user", user))
    row["user_floor_median_m"] = user_score.floor_median_m
    row["user_zone"] = protective.polygon
    return row


def _zone_columns(prefix: str, occupancy: MarginOccupancy) -> dict:
    columns = {
        f"{prefix}_zone_recall": occupancy.recall,
        f"{prefix}_occupied_frames": occupancy.scores[MARGINS_M[0]].occupied_frames,
    }
    for margin in MARGINS_M:
        columns[f"{prefix}_false_alarm_{margin}m"] = occupancy.false_alarm_rate(margin)
        columns[f"{prefix}_clear_frames_{margin}m"] = occupancy.scores[margin].clear_frames
    return columns


def candidate_kinds() -> list[str]:
    """Every configurable kind and each person detector combined with foreground."""
    kinds = list(DETECTOR_KINDS)
    kinds += [f"{kind}+foreground" for kind in DETECTOR_KINDS if kind != "foreground"]
    return kinds


def build_problem(detector: DetectorConfig | str) -> str | None:
    """Why this detector cannot be built here (through safetymon's factory), or None."""
    try:
        config = detector if isinstance(detector, DetectorConfig) else DetectorConfig(kind=detector)
        dummy = np.full((576, 768, 3), 128, np.uint8)
        build_detector(config, REPO / "models", reference_bgr=dummy)
    except ValidationError as error:
        return "; ".join(issue["msg"] for issue in error.errors())
    except (DetectorError, ValueError, ConfigError, ImportError, OSError) as error:
        return " ".join(str(error).split())[:200]
    return None


def stretches(frames: int) -> list[Stretch]:
    """The benchmark rows' frame sets (``frames`` per PETS09 stretch, at most 150)."""
    frames = max(1, min(150, frames))
    rows = []
    for first, role in ((1, "tune"), (151, "held out")):
        for size in SIZES:
            rows.append(Stretch("PETS09-S2L1", first, first + frames - 1, size, SIZES[0], role))
    rows.append(Stretch("TUD-Campus", 1, min(71, frames), (640, 480), (640, 480), "held out"))
    return rows


def _f(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown(rows: list[dict], default_label: str) -> str:
    """Three Markdown tables: zones + detection; uncertainty, height bands, time; targets."""
    out = [
        "| sequence | frames | size | detector | plaza zone rec | plaza FA 0.5 m | plaza FA 1.0 m "
        "| plaza occ/clear | new-user zone rec | new-user FA 0.5 m | new-user FA 1.0 m "
        "| new-user occ/clear | det recall | precision | floor p50 m | new-user floor p50 m |",
        "|" + "---|" * 16,
    ]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['sequence']} | {r['frames']} | {r['size']} | {r['label']} | "
                       f"not built: {r['error']} |" + " |" * 11)  # fmt: skip
            continue
        zone = []
        for p in ("plaza", "user"):
            if f"{p}_zone_recall" in r:
                counts = (
                    f"{r[f'{p}_occupied_frames']}/{r[f'{p}_clear_frames_0.5m']}/"
                    f"{r[f'{p}_clear_frames_1.0m']}"
                )
                zone += [
                    _f(r[f"{p}_zone_recall"]),
                    _f(r[f"{p}_false_alarm_0.5m"]),
                    _f(r[f"{p}_false_alarm_1.0m"]),
                    counts,
                ]
            else:
                zone += ["–"] * 4
        out.append(
            f"| {r['sequence']} | {r['frames']} | {r['size']} | {r['label']} | "
            + " | ".join(zone)
            + f" | {_f(r['recall'])} | {_f(r['precision'])} | {_f(r['floor_median_m'])} "
            f"| {_f(r.get('user_floor_median_m'))} |"
        )
    out += [
        "",
        "| sequence | frames | size | detector | within 1σ | within 2σ | "
        + " | ".join(f"recall h {label} px (n)" for label in HEIGHT_BAND_LABELS)
        + " | CPU ms p50 | CPU ms p95 | wall ms p50 | wall ms p95 | fault frames |",
        "|" + "---|" * 15,
    ]
    for r in rows:
        if "error" in r:
            continue
        bands = " | ".join(
            f"{_f(r[f'recall_h{label}'])} ({r[f'gt_h{label}']})" for label in HEIGHT_BAND_LABELS
        )
        out.append(
            f"| {r['sequence']} | {r['frames']} | {r['size']} | {r['label']} "
            f"| {_f(r['within_1sigma'])} | {_f(r['within_2sigma'])} | {bands} "
            f"| {_f(r['cpu_ms_p50'], 1)} | {_f(r['cpu_ms_p95'], 1)} | {_f(r['wall_ms_p50'], 1)} "
            f"| {_f(r['wall_ms_p95'], 1)} | {r['fault_frames']} |"
        )
    out += [
        "",
        f"Targets of the default detector ({default_label}); CPU target = 60 ms x pixels / "
        "(640x480), checked on the median:",
        "",
        "| sequence | frames | size | plaza zone rec ≥ 0.99 | plaza FA 0.5 m ≤ 0.05 "
        "| new-user zone rec ≥ 0.99 | new-user FA 0.5 m ≤ 0.05 | det recall ≥ 0.9 "
        "| precision ≥ 0.9 | floor p50 ≤ 0.25 m | CPU ms p50 ≤ target |",
        "|" + "---|" * 11,
    ]
    for r in rows:
        if not r.get("is_default") or "error" in r:
            continue
        checks = [
            target_verdict(r.get("plaza_zone_recall", math.nan), 0.99, at_most=False),
            target_verdict(r.get("plaza_false_alarm_0.5m", math.nan), 0.05, at_most=True),
            target_verdict(r.get("user_zone_recall", math.nan), 0.99, at_most=False),
            target_verdict(r.get("user_false_alarm_0.5m", math.nan), 0.05, at_most=True),
            target_verdict(r["recall"], 0.9, at_most=False),
            target_verdict(r["precision"], 0.9, at_most=False),
            target_verdict(r["floor_median_m"], 0.25, at_most=True),
            target_verdict(r["cpu_ms_p50"], r["cpu_ms_target"], at_most=True)
            + f" ({r['cpu_ms_target']:.1f})",
        ]
        head = f"| {r['sequence']} | {r['frames']} | {r['size']} | "
        out.append(head + " | ".join(checks) + " |")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150, help="frames per PETS09 stretch")
    parser.add_argument("--quick", action="store_true", help="20 frames per stretch")
    parser.add_argument(
        "--detectors",
        help="comma-separated kinds (default: every kind that can be built here)",
    )
    parser.add_argument(
        "--ssdlite-passes",
        help="comma-separated pass budgets: adds a row 'ssdlite passes=N' per budget "
        "(detector.ssdlite.planned_passes: the whole frame + N-1 tiles planned from the "
        "calibration)",
    )
    parser.add_argument(
        "--max-coast-s", type=float,
        help="override tracking.max_coast_s of both zone sets (seconds a track coasts "
        "without observations; default: each site's own)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print JSON rows instead")
    parser.add_argument("--threads", type=int, default=1, help="OpenCV threads (default 1)")
    args = parser.parse_args()
    if not PETS.is_dir() or not TUD.is_dir():
        print(f"error: {DATA} incomplete (../shared/data beside the repo)", file=sys.stderr)
        return 2
    cv2.setNumThreads(args.threads)
    frames = 20 if args.quick else args.frames
    requested = args.detectors.split(",") if args.detectors else candidate_kinds()
    unbuilt = {kind: build_problem(kind) for kind in requested}
    detectors: list[tuple[str, DetectorConfig, bool]] = []  # (label, config, is default)
    # The default is `auto`: ssdlite, plus foreground on a camera with a photo of the empty
    # cell. These sequences have none (the median reference of the foreground rows is a
    # stand-in), so the default runs as ssdlite here.
    default = DetectorConfig(kind="+".join(DetectorConfig().kinds))
    default_label = f"default = {default.kind}"
    for kind in requested:
        if unbuilt[kind] is not None:
            continue
        config = DetectorConfig(kind=kind)
        is_default = config.model_dump() == default.model_dump()
        detectors.append((f"{kind} (default)" if is_default else kind, config, is_default))
    for passes in (args.ssdlite_passes.split(",") if args.ssdlite_passes else []):
        planned = DetectorConfig(kind="ssdlite", ssdlite={"planned_passes": int(passes)})
        detectors.append((f"ssdlite passes={int(passes)}", planned, False))
    if not any(is_default for _, _, is_default in detectors):
        problem = build_problem(default)
        if problem is None:
            detectors.append((default_label, default, True))
        else:
            unbuilt[default_label] = problem
    pets_truth = load_mot_ground_truth(PETS / "gt" / "gt.txt")
    tud_truth = load_mot_ground_truth(TUD / "gt" / "gt.txt")
    plaza_site = load_site_config(SITE)
    if args.max_coast_s is not None:
        plaza_site = with_max_coast(plaza_site, args.max_coast_s)
    native_mapper = FloorMapper.from_camera_config(plaza_site.cameras[0], SITE.parent)
    rows: list[dict] = []
    for stretch in stretches(frames):
        images = load_images(stretch)
        scale_x = stretch.size[0] / stretch.native[0]
        scale_y = stretch.size[1] / stretch.native[1]
        pets = stretch.sequence.startswith("PETS")
        truth = scale_ground_truth(pets_truth if pets else tud_truth, scale_x, scale_y)
        fps = 7.0 if pets else 25.0
        if pets:
            mapper = native_mapper if stretch.size == stretch.native else FloorMapper(
                scale_homography(native_mapper.homography, scale_x, scale_y),
                floor_error_m=native_mapper.floor_error_m,
                image_size=stretch.size,
            )  # fmt: skip
            user_site = new_user_config(truth, range(1, 301), stretch.size, fps)
            if args.max_coast_s is not None:
                user_site = with_max_coast(user_site, args.max_coast_s)
        else:
            mapper, user_site = None, boxes_only_config(stretch.size, fps, truth)
        reference = None
        for label, config, is_default in detectors:
            if "foreground" in config.kinds and reference is None:
                reference = median_reference(images)
            print(f"... {stretch.label} {label}", file=sys.stderr, flush=True)
            try:
                row = evaluate(
                    config, stretch, images,
                    reference if "foreground" in config.kinds else None, truth,
                    plaza_site if pets else None, mapper, user_site, fps,
                )  # fmt: skip
            except (ConfigError, DetectorError) as error:
                row = {
                    "sequence": stretch.sequence,
                    "frames": f"{stretch.first}-{stretch.last}",
                    "size": f"{stretch.size[0]}x{stretch.size[1]}",
                    "error": " ".join(str(error).split())[:200],
                }
            row.update(label=label, is_default=is_default)
            rows.append(row)
    if args.json:
        print(json.dumps({"rows": rows, "not_built": unbuilt}, indent=1))
        return 0
    print(
        f"perception on MOT15, {args.threads} OpenCV thread(s), IoU >= 0.5; PETS09 frames 1-150 "
        "are the tuning frames, 151-300 and TUD-Campus are held out; occ/clear = occupied "
        "frames / clear frames at 0.5 m / at 1.0 m"
    )
    print()
    print(markdown(rows, default_label))
    missing = {kind: why for kind, why in unbuilt.items() if why is not None}
    if missing:
        print()
        print("not built here: " + "; ".join(f"{k}: {why}" for k, why in missing.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
