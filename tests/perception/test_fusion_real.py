"""Multi-camera fusion on real geometry, end to end through `safetymon replay --detections`.

Real PETS09-S2L1 ground-truth trajectories (gt.txt world x, y; frames 1-795 at 7 fps), the
real PETS 2009 View_001 camera (Tsai calibration converted to FileStorage) and three virtual
cameras 5-7 m high around the plaza, all imported with `safetymon calibrate import`. Each
camera's det.txt holds the box a detector would give (foot and head of a 1.7 m person, width
0.4 of the height) with pixel noise and 10 % missed detections, only where the whole box lies
in the image; one person is seen by View_001 only. The real CLI replays every camera from its
file as a subprocess, and the JSON Lines are scored against the ground truth.

Nothing is tuned here: the tracker runs with its defaults (``TrackingConfig``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from safetymon.config.cameras import CameraConfig
from safetymon.perception.calibration.opencv_import import write_filestorage
from safetymon.perception.mapping import FloorMapper
from tests.conftest import REPO
from tests.perception.virtual_cameras import (
    PETS_GT,
    camera_matrix,
    intrinsics_values,
    look_at,
    pets_ground_truth,
    pets_view001_filestorage,
    pose_values,
)

FPS = 7
PERSON_HEIGHT_M = 1.7
WIDTH_RATIO = 0.4
FOOT_NOISE_PX = 1.5
HEIGHT_NOISE = 0.03
MISS_RATE = 0.1
MIN_BOX_HEIGHT_PX = 24.0
MATCH_GATE_M = 1.0
ONLY_VIEW001 = 6
"""Ground-truth id of the person only View_001 sees (frames 611-795)."""

VIRTUAL = {  # camera id: (centre (x, y, z) m, looked-at floor point), image 1280x720, f 800 px
    "east": ((12.0, -3.0, 6.0), (-5.0, -5.0, 0.0)),
    "north": ((-6.0, 14.0, 7.0), (-6.0, -4.0, 0.0)),
    "south": ((-2.0, -26.0, 5.0), (-5.0, -8.0, 0.0)),
}
VIRTUAL_SIZE = (1280, 720)


@dataclass(frozen=True)
class Scene:
    """The replayed scene: the site, each camera's det.txt, who each camera saw when."""

    site: Path
    detections: dict[str, Path]
    seen: dict[str, set[tuple[int, int]]]  # camera -> {(frame, gt id)}


def _import(folder: Path, camera: str, files: list[Path], scale: str) -> Path:
    out = folder / f"{camera}.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "safetymon", "calibrate", "import", *map(str, files),
         "--out", str(out), "--unit-scale", scale],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out


def _calibrations(folder: Path) -> dict[str, Path]:
    """Every camera imported from FileStorage files (XML and YAML, both pose forms, cm)."""
    paths = {"view001": _import(folder, "view001", list(pets_view001_filestorage(folder)), "0.001")}
    k = camera_matrix(*VIRTUAL_SIZE, 800.0)
    dist = np.array([-0.05, 0.01, 0.0, 0.0, 0.0])
    for number, (camera, (centre, target)) in enumerate(VIRTUAL.items()):
        rotation, tvec = look_at(np.array(centre), np.array(target))
        form, scale = ("rvec", 1.0) if number % 2 == 0 else ("R", 100.0)  # metres or cm
        suffix = ".xml" if number == 1 else ".yml"
        source = write_filestorage(
            folder / f"{camera}{suffix}",
            intrinsics_values(k, dist, VIRTUAL_SIZE) | pose_values(rotation, tvec * scale, form),
        )
        paths[camera] = _import(folder, camera, [source], str(1.0 / scale))
    return paths


def _det_rows(
    mapper: FloorMapper, gt: np.ndarray, rng: np.random.Generator
) -> tuple[list[str], set[tuple[int, int]]]:
    """det.txt rows of one camera and the (frame, id) pairs it detected."""
    width, height = mapper.image_size
    feet = mapper.project_points(np.c_[gt[:, 7:9], np.zeros(len(gt))])
    heads = mapper.project_points(np.c_[gt[:, 7:9], np.full(len(gt), PERSON_HEIGHT_M)])
    box_h = (feet[:, 1] - heads[:, 1]) * (1.0 + HEIGHT_NOISE * rng.standard_normal(len(gt)))
    foot = feet + FOOT_NOISE_PX * rng.standard_normal((len(gt), 2))
    box_w = WIDTH_RATIO * box_h
    left, top = foot[:, 0] - box_w / 2, foot[:, 1] - box_h
    inside = (
        np.all(np.isfinite(feet), axis=1) & np.all(np.isfinite(heads), axis=1)
        & (box_h >= MIN_BOX_HEIGHT_PX) & (left >= 0) & (top >= 0)
        & (left + box_w <= width) & (foot[:, 1] <= height)
    )  # fmt: skip
    detected = inside & (rng.random(len(gt)) >= MISS_RATE)
    confidence = rng.uniform(0.5, 1.0, len(gt))
    rows, seen = [], set()
    for i in np.flatnonzero(detected):
        rows.append(f"{int(gt[i, 0])},-1,{left[i]:.2f},{top[i]:.2f},{box_w[i]:.2f},"
                    f"{box_h[i]:.2f},{confidence[i]:.3f},-1,-1,-1")  # fmt: skip
        seen.add((int(gt[i, 0]), int(gt[i, 1])))
    return rows, seen


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    folder = tmp_path_factory.mktemp("fusion")
    calibrations = _calibrations(folder)
    gt = pets_ground_truth()
    rng = np.random.default_rng(2009)
    detections, seen = {}, {}
    for camera, path in calibrations.items():
        mapper = FloorMapper.from_camera_config(
            CameraConfig(id=camera, source="unused", calibration=str(path)), folder
        )
        rows_gt = gt if camera == "view001" else gt[gt[:, 1] != ONLY_VIEW001]
        rows, seen[camera] = _det_rows(mapper, rows_gt, rng)
        detections[camera] = folder / f"{camera}.det.txt"
        detections[camera].write_text("\n".join(rows) + "\n")
    cameras = "\n".join(
        f"  - {{id: {camera}, source: {camera}.det.txt, calibration: {path.name}, fps: {FPS}}}"
        for camera, path in calibrations.items()
    )
    # View_001's real annotated boxes (the same frames missed) for the test on real pixels
    kept = {(f, p) for f, p in seen["view001"]}
    annotated = [row for row in PETS_GT.read_text().splitlines() if row.strip()
                 and (int(row.split(",")[0]), int(float(row.split(",")[1]))) in kept]  # fmt: skip
    detections["view001-annotated"] = folder / "view001.annotated.txt"
    detections["view001-annotated"].write_text("\n".join(annotated) + "\n")
    site = folder / "site.yaml"
    site.write_text(
        f"site: pets09-fusion\ncameras:\n{cameras}\n"
        "zones:\n  - {id: plaza, type: protective, polygon: [[-10, -5], [-6, -5], [-6, -1], "
        "[-10, -1]]}\n"
    )
    return Scene(site, detections, seen)


def replay(scene: Scene, cameras: list[str], out: Path) -> list[dict]:
    """Run the real CLI on the given cameras' detections; the JSON Lines records.

    A camera name ``view001-annotated`` replays View_001 from its real annotated boxes.
    """
    flags = [
        f"--detections={camera.split('-')[0]}={scene.detections[camera]}" for camera in cameras
    ]
    result = subprocess.run(
        [sys.executable, "-m", "safetymon", "replay", "--config", str(scene.site), *flags,
         "--out", str(out), "--no-progress"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


@dataclass
class Score:
    """A replay scored against the ground truth (frame = record index + 1)."""

    errors: dict[tuple[int, int], float]  # (frame, gt id) -> distance to its track, m
    tracks: dict[int, Counter]  # gt id -> track ids it was matched to (person-frames each)
    humans: int  # humans reported, summed over frames
    near_extra: int  # humans matched to nobody but within MATCH_GATE_M of a person
    duplicate_births: int  # tracks born on a person whose own track was still reported


def score(records: list[dict], gt: np.ndarray) -> Score:
    errors: dict[tuple[int, int], float] = {}
    tracks: dict[int, Counter] = {}
    humans_total = near_extra = duplicate_births = 0
    previous: dict[int, int] = {}  # gt id -> its track in the previous frame
    previous_ids: set[int] = set()
    for record in records:
        frame = record["frame"] + 1
        rows = gt[gt[:, 0] == frame]
        humans = record["humans"]
        humans_total += len(humans)
        ids = {h["track_id"] for h in humans}
        current: dict[int, int] = {}
        if humans and len(rows):
            xy = np.array([h["floor"] for h in humans])
            distance = np.linalg.norm(rows[:, None, 7:9] - xy[None, :, :], axis=2)
            cost = np.where(distance <= MATCH_GATE_M, distance, 1e6)
            matched_rows, matched_humans = linear_sum_assignment(cost)
            keep = cost[matched_rows, matched_humans] <= MATCH_GATE_M
            for i, j in zip(matched_rows[keep], matched_humans[keep], strict=True):
                person, track = int(rows[i, 1]), humans[j]["track_id"]
                errors[(frame, person)] = float(distance[i, j])
                tracks.setdefault(person, Counter())[track] += 1
                current[person] = track
            unmatched = set(range(len(humans))) - set(matched_humans[keep].tolist())
            near_extra += sum(1 for j in unmatched if distance[:, j].min() <= MATCH_GATE_M)
            for j, human in enumerate(humans):
                if human["track_id"] in previous_ids:
                    continue  # not born in this frame
                person = int(rows[np.argmin(distance[:, j]), 1])
                if distance[:, j].min() <= MATCH_GATE_M and previous.get(person) in ids:
                    duplicate_births += previous[person] != human["track_id"]
        previous, previous_ids = current, ids
    return Score(errors, tracks, humans_total, near_extra, duplicate_births)


def rms(values: list[float]) -> float:
    return float(np.sqrt(np.mean(np.square(values))))


def seam_entries(seen: dict[str, set[tuple[int, int]]]) -> int:
    """Times a person already seen by one camera enters another camera's view."""
    entries = 0
    for camera, pairs in seen.items():
        others = set().union(*(s for c, s in seen.items() if c != camera))
        entries += sum(
            1 for frame, person in pairs
            if (frame - 1, person) not in pairs and (frame - 1, person) in others
        )  # fmt: skip
    return entries


def test_fused_tracks_one_per_person_better_than_any_camera(scene: Scene, tmp_path: Path) -> None:
    gt = pets_ground_truth()
    cameras = [camera for camera in scene.detections if camera != "view001-annotated"]
    fused = score(replay(scene, cameras, tmp_path / "fused.jsonl"), gt)
    seen_by = Counter(pair for pairs in scene.seen.values() for pair in pairs)
    multi = {pair for pair, count in seen_by.items() if count >= 2}
    seen_any = set(seen_by)
    entries = seam_entries(scene.seen)
    print(f"\nperson-frames seen: {len(seen_any)}, by >= 2 cameras: {len(multi)}, "
          f"seam entries: {entries}")  # fmt: skip
    assert len(multi) > 1000 and entries > 50  # the scene really has overlaps and seams

    # everyone detected is tracked, and (almost) no track is a second copy of someone
    tracked = seen_any & set(fused.errors)
    print(f"fused: tracked {len(tracked)}/{len(seen_any)} seen person-frames; of "
          f"{fused.humans} reported humans {fused.near_extra} unmatched near a person; "
          f"{fused.duplicate_births} track(s) born on an already tracked person")  # fmt: skip
    assert len(tracked) >= 0.99 * len(seen_any)
    assert fused.duplicate_births <= 0.002 * entries  # no second track when a view is entered
    assert fused.near_extra <= 0.01 * fused.humans  # (coasting after a lost track included)

    # one track per person: the main track of each person carries nearly all its frames
    for person, counts in sorted(fused.tracks.items()):
        main = counts.most_common(1)[0][1] / sum(counts.values())
        print(f"  person {person:2d}: {len(counts)} track(s), main track {main:.0%}")
    main_share = sum(c.most_common(1)[0][1] for c in fused.tracks.values()) / sum(
        sum(c.values()) for c in fused.tracks.values()
    )
    print(f"fused: main-track share of all matched person-frames {main_share:.1%}")
    assert main_share >= 0.9

    # fused positions beat every single camera on the person-frames it shares with others
    fused_all = rms([fused.errors[pair] for pair in multi if pair in fused.errors])
    for camera in cameras:
        single = score(replay(scene, [camera], tmp_path / f"{camera}.jsonl"), gt)
        shared = [pair for pair in multi & scene.seen[camera]
                  if pair in single.errors and pair in fused.errors]  # fmt: skip
        single_rms = rms([single.errors[pair] for pair in shared])
        fused_rms = rms([fused.errors[pair] for pair in shared])
        print(f"  {camera:8s}: {len(shared)} shared person-frames, RMS alone {single_rms:.3f} m,"
              f" fused {fused_rms:.3f} m")  # fmt: skip
        assert len(shared) > 200
        assert fused_rms < single_rms
    print(f"fused RMS over all multi-camera person-frames: {fused_all:.3f} m")


def test_person_seen_by_one_camera_only_is_still_tracked(scene: Scene, tmp_path: Path) -> None:
    gt = pets_ground_truth()
    cameras = [camera for camera in scene.detections if camera != "view001-annotated"]
    fused = score(replay(scene, cameras, tmp_path / "fused.jsonl"), gt)
    only = {pair for pair in scene.seen["view001"] if pair[1] == ONLY_VIEW001}
    assert all(pair not in s for c, s in scene.seen.items() if c != "view001" for pair in only)
    assert len(only) > 100
    errors = [fused.errors[pair] for pair in only if pair in fused.errors]
    print(f"\nperson {ONLY_VIEW001}: tracked in {len(errors)}/{len(only)} frames seen, "
          f"RMS {rms(errors):.3f} m, tracks {dict(fused.tracks[ONLY_VIEW001])}")  # fmt: skip
    assert len(errors) >= 0.98 * len(only)
    assert rms(errors) < 0.5


def test_fusion_with_view001_real_annotated_boxes(scene: Scene, tmp_path: Path) -> None:
    """View_001 from the dataset's own boxes (real pixels: ~2 px off its calibration)."""
    gt = pets_ground_truth()
    cameras = ["view001-annotated", "east", "north", "south"]
    fused = score(replay(scene, cameras, tmp_path / "fused.jsonl"), gt)
    alone = score(replay(scene, ["view001-annotated"], tmp_path / "alone.jsonl"), gt)
    seen_by = Counter(pair for pairs in scene.seen.values() for pair in pairs)
    multi = {pair for pair, count in seen_by.items() if count >= 2}
    shared = [p for p in multi & scene.seen["view001"] if p in alone.errors and p in fused.errors]
    alone_rms = rms([alone.errors[pair] for pair in shared])
    fused_rms = rms([fused.errors[pair] for pair in shared])
    print(f"\nannotated View_001: {len(shared)} shared person-frames, RMS alone {alone_rms:.3f} m,"
          f" fused {fused_rms:.3f} m; {fused.duplicate_births} duplicate births, "
          f"{fused.near_extra} unmatched near a person of {fused.humans}")  # fmt: skip
    assert len(set(seen_by) & set(fused.errors)) >= 0.99 * len(seen_by)
    assert fused.duplicate_births <= 0.002 * seam_entries(scene.seen)
    assert fused.near_extra <= 0.01 * fused.humans
    assert fused_rms < alone_rms
