"""The new-user site builder (real OpenCV, real files) and the new-user check script."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from safetymon.config.loader import load_site_config
from safetymon.perception.evaluation import GroundTruthBox
from safetymon.perception.new_user_site import (
    FootPoints,
    busiest_square,
    encode_video,
    fit_floor_homography,
    ground_truth_feet,
    place_zones,
    site_document,
    write_site,
)
from tests.conftest import REPO, SHARED_DATA

PETS = SHARED_DATA / "mot15" / "PETS09-S2L1"


def test_ground_truth_feet_take_considered_rows_with_world() -> None:
    truth = {
        1: [GroundTruthBox(1, (10, 20, 4, 30), (1.0, 2.0), True)],
        2: [
            GroundTruthBox(2, (0, 0, 2, 2), (float("nan"), float("nan")), True),
            GroundTruthBox(3, (0, 0, 2, 2), (5.0, 5.0), False),
            GroundTruthBox(4, (100, 50, 10, 40), (3.0, 4.0), True),
        ],
    }
    feet = ground_truth_feet(truth)
    assert feet.pixels.tolist() == [[12.0, 50.0], [105.0, 90.0]]
    assert feet.world.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert ground_truth_feet(truth, [2]).pixels.tolist() == [[105.0, 90.0]]


def test_homography_is_findhomography_as_returned() -> None:
    true = np.array([[0.02, 0.001, -3.0], [0.0005, -0.03, 8.0], [0.0001, 0.002, 1.0]])
    pixels = np.array([[u, v] for u in range(0, 640, 80) for v in range(200, 480, 70)], float)
    mapped = np.c_[pixels, np.ones(len(pixels))] @ true.T
    world = mapped[:, :2] / mapped[:, 2:]
    homography = fit_floor_homography(FootPoints(pixels, world))
    expected, _ = cv2.findHomography(pixels, world, 0)
    assert np.array_equal(homography, expected)
    assert homography / homography[2, 2] == pytest.approx(true, rel=1e-6, abs=1e-9)
    with pytest.raises(ValueError, match=">= 4"):
        fit_floor_homography(FootPoints(pixels[:3], world[:3]))


def test_busiest_square_and_zones() -> None:
    world = np.array([[0.1, 0.1], [5.1, 5.1], [5.2, 5.6], [5.9, 5.3], [float("nan"), 1.0]])
    assert busiest_square(world, 1.0, 0.5) == (5.5, 5.5)  # cells [5, 6) x [5, 6) hold 3
    zones = place_zones(world, protective_side_m=1.0, warning_margin_m=0.5)
    assert zones[0]["type"] == "protective" and zones[1]["type"] == "warning"
    # 0.25 m grid: the first 1 m square (lowest x, then y) holding all three is
    # [5.0, 6.0) x [4.75, 5.75)
    assert busiest_square(world, 1.0) == (5.5, 5.25)
    assert zones[0]["polygon"] == [[5.0, 4.75], [6.0, 4.75], [6.0, 5.75], [5.0, 5.75]]
    assert zones[1]["polygon"] == [[4.5, 4.25], [6.5, 4.25], [6.5, 6.25], [4.5, 6.25]]
    with pytest.raises(ValueError, match="no finite"):
        busiest_square(np.array([[np.nan, np.nan]]), 1.0)


def test_site_file_has_no_detector_and_loads(tmp_path) -> None:
    frames = [np.full((48, 64, 3), value, np.uint8) for value in (10, 120, 240)]
    video = tmp_path / "clip.mp4"
    codec = encode_video(frames, video, 5.0, (32, 24))
    assert codec in ("H.264", "MPEG-4 Part 2 (mp4v)")
    capture = cv2.VideoCapture(str(video))
    ok, image = capture.read()
    capture.release()
    assert ok and image.shape == (24, 32, 3)
    zones = place_zones(np.array([[0.0, 0.0], [0.5, 0.5]]))
    document = site_document("s", "cam", str(video), np.eye(3), (32, 24), 5.0, zones)
    assert "detector" not in document
    config = load_site_config(write_site(tmp_path / "site.yaml", document, "made by a test"))
    assert config.cameras[0].image_size == (32, 24)
    assert config.detector.kind == type(config.detector)().kind
    with pytest.raises(ValueError, match="singular"):
        site_document("s", "cam", "x.mp4", np.zeros((3, 3)), (32, 24), 5.0, zones)


@pytest.mark.slow
def test_new_user_check_prints_a_well_formed_table(tmp_path) -> None:
    completed = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "new_user_check.py"), "--frames", "40",
         "--size", "320x240", "--out-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=280, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-2000:]
    lines = [line for line in completed.stdout.splitlines() if line.startswith("|")]
    assert len(lines) == 3
    header, rule, row = (line.strip("|").split("|") for line in lines)
    assert len(header) == len(rule) == len(row) == 16
    cells = dict(zip((h.strip() for h in header), (c.strip() for c in row), strict=True))
    assert cells["sequence"] == "PETS09-S2L1" and cells["frames"] == "1-40"
    assert cells["size"] == "320x240"
    occupied, clear_05, clear_10 = (int(n) for n in cells["occ / clear 0.5 / clear 1.0"].split("/"))
    assert occupied + clear_05 <= 40 and clear_10 <= clear_05
    for name in ("zone recall", "false al. 0.5 m", "det recall"):
        assert cells[name] == "–" or 0.0 <= float(cells[name]) <= 1.0
    jsonl = next(tmp_path.glob("*.jsonl"))
    assert len(jsonl.read_text().splitlines()) == 40
