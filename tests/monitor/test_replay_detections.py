"""`safetymon replay --detections CAM=FILE`: recorded MOTChallenge detections instead of frames.

Real PETS09-S2L1 ground-truth boxes (gt.txt has the det.txt columns) replayed through the
real site file `zones/pets09-s2l1.yaml` (calibration from 8 ground-truth points).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from safetymon.cli.main import main
from tests.conftest import REPO, SHARED_DATA

PETS = SHARED_DATA / "mot15" / "PETS09-S2L1"
PETS_GT = PETS / "gt" / "gt.txt"
PETS_FRAMES = str(PETS / "img1" / "*.jpg")
SITE = REPO / "zones" / "pets09-s2l1.yaml"


def site(tmp_path: Path, extra_camera: str = "", fps: str = "fps: 7") -> Path:
    """The PETS09 site (HOG only) with absolute paths, optionally a second camera."""
    text = SITE.read_text().replace("kind: hog+foreground", "kind: hog")
    text = text.replace("../calibration/", str(REPO / "calibration") + "/")
    text = text.replace("    fps: 7\n", f"    {fps}\n" + extra_camera)
    path = tmp_path / "site.yaml"
    path.write_text(text)
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_replay_from_detections_maps_every_box_like_frames_do(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    code = main(["replay", "--config", str(site(tmp_path)), "--detections",
                 f"view001={PETS_GT}", "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    records = read_jsonl(out)
    gt = np.loadtxt(PETS_GT, delimiter=",")
    assert len(records) == int(gt[:, 0].max()) == 795  # the file's last frame ends the replay
    assert records[7]["t"] == pytest.approx(1.0)  # the camera's 7 fps
    errors = []
    for record in records:
        rows = gt[gt[:, 0] == record["frame"] + 1]
        assert len(record["detections"]) == len(rows)
        for detection, row in zip(record["detections"], rows, strict=True):
            assert detection["label"] == "person" and detection["camera"] == "view001"
            assert detection["box"] == pytest.approx(list(row[2:6]), abs=0.01)
            errors.append(np.hypot(*(np.array(detection["floor"]) - row[7:9])))
        assert len(record["humans"]) >= len(rows)  # everybody detected is reported
        assert "faults" not in record
    assert np.median(errors) < 0.15  # metres: the site's 8-point floor calibration


def test_replay_from_detections_is_deterministic(tmp_path: Path) -> None:
    outputs = []
    for run in range(2):
        out = tmp_path / f"run{run}.jsonl"
        code = main(["replay", "--config", str(site(tmp_path)), "--detections",
                     f"view001={PETS_GT}", "--out", str(out), "--no-progress",
                     "--max-frames", "100"])  # fmt: skip
        assert code == 0
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] and outputs[0].count(b"\n") == 100


def test_frames_without_rows_are_empty_frames(tmp_path: Path) -> None:
    detections = tmp_path / "det.txt"
    detections.write_text("5,-1,499,158,31,75,0.9,-1,-1,-1\n")
    out = tmp_path / "out.jsonl"
    code = main(["replay", "--config", str(site(tmp_path)), "--detections",
                 f"view001={detections}", "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    records = read_jsonl(out)
    assert [len(r["detections"]) for r in records] == [0, 0, 0, 0, 1]
    assert all("faults" not in r for r in records)
    assert records[4]["humans"] and not records[3]["humans"]


def test_site_source_names_the_detections_file(tmp_path: Path) -> None:
    text = (
        site(tmp_path)
        .read_text()
        .replace("source: ../shared/data/mot15/PETS09-S2L1/img1/*.jpg", f"source: {PETS_GT}")
    )
    path = tmp_path / "site-dets.yaml"
    path.write_text(text)
    out = tmp_path / "out.jsonl"
    code = main(["replay", "--config", str(path), "--detections", "view001", "--out", str(out),
                 "--no-progress", "--max-frames", "5"])  # fmt: skip
    assert code == 0 and len(read_jsonl(out)) == 5


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        ("1,-1,10,20,-3,40,0.9", "det.txt:2: column width must be > 0 pixels, got '-3'"),
        ("1,-1,ten,20,3,40,0.9", "det.txt:2: column left is not a number: 'ten'"),
        ("0,-1,10,20,3,40,0.9", "det.txt:2: column frame must be an integer >= 1"),
        ("1,-1,10,NaN,3,40,0.9", "det.txt:2: column top is not finite: 'NaN'"),
    ],
)
def test_malformed_rows_are_refused_with_file_line_and_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], row: str, needle: str
) -> None:
    detections = tmp_path / "det.txt"
    detections.write_text(f"1,-1,499,158,31,75,0.9\n{row}\n")
    out = tmp_path / "out.jsonl"
    code = main(["replay", "--config", str(site(tmp_path)), "--detections",
                 f"view001={detections}", "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 2 and needle in capsys.readouterr().err and not out.exists()


def test_unknown_frame_rate_and_bad_flags_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.jsonl"
    no_fps = site(tmp_path, fps="playback: fast")
    args = ["replay", "--config", str(no_fps), "--out", str(out), "--no-progress"]
    assert main([*args, "--detections", f"view001={PETS_GT}"]) == 2
    assert "frame rate of its detections is unknown: give --fps" in capsys.readouterr().err
    assert main([*args, "--detections", f"view001={PETS_GT}", "--fps", "7",
                 "--max-frames", "3"]) == 0  # fmt: skip
    assert main([*args, "--detections", f"nope={PETS_GT}"]) == 2
    assert "no camera 'nope'" in capsys.readouterr().err
    assert main([*args, "--detections", f"view001={PETS_GT}", "--source",
                 f"view001={PETS_FRAMES}"]) == 2  # fmt: skip
    assert "both --source and --detections" in capsys.readouterr().err
    assert main(args) == 2
    assert "give --source and/or --detections" in capsys.readouterr().err


def test_mixed_cameras_frames_and_detections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calibration = REPO / "calibration" / "pets09-view001.yaml"
    second = (f"  - {{id: recorded, source: unused.txt, calibration: {calibration}, "
              "fps: FPS}\n")  # fmt: skip
    out = tmp_path / "out.jsonl"
    path = site(tmp_path, second.replace("FPS", "7"))
    code = main(["replay", "--config", str(path), "--source", f"view001={PETS_FRAMES}",
                 "--detections", f"recorded={PETS_GT}", "--out", str(out), "--no-progress",
                 "--max-frames", "6"])  # fmt: skip
    assert code == 0
    records = read_jsonl(out)
    assert len(records) == 6
    cameras = {d["camera"] for r in records for d in r["detections"]}
    assert cameras == {"view001", "recorded"}  # HOG on the frames, the file's boxes
    assert all("faults" not in r for r in records)
    # the same people seen twice (same calibration, two cameras) are fused, not doubled
    gt = np.loadtxt(PETS_GT, delimiter=",")
    assert len(records[5]["humans"]) <= len(gt[gt[:, 0] == 6]) + 2
    # rates that differ are refused
    path = site(tmp_path, second.replace("FPS", "10"))
    code = main(["replay", "--config", str(path), "--source", f"view001={PETS_FRAMES}",
                 "--detections", f"recorded={PETS_GT}", "--out", str(out),
                 "--no-progress"])  # fmt: skip
    assert code == 2 and "different frame rates" in capsys.readouterr().err
