"""hog, foreground and their combination on the real PETS09-S2L1 and OpenCV sample images."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import cv2
import numpy as np
import pytest

from safetymon.config.cameras import DetectorConfig, ForegroundConfig
from safetymon.perception.detectors import (
    Detection,
    DetectorError,
    build_detector,
    foot_point,
    load_reference,
)
from safetymon.perception.detectors.combined import box_iou, merge_detections
from safetymon.perception.detectors.foreground import ForegroundDetector, build_reference
from safetymon.perception.detectors.hog import HogDetector
from safetymon.perception.models import ModelError
from tests.conftest import SHARED_DATA

PETS = SHARED_DATA / "mot15" / "PETS09-S2L1"


def frame_path(number: int) -> str:
    """Path of 1-based frame `number` (1..300)."""
    return str(PETS / "img1" / f"{number:06d}.jpg")


@lru_cache(maxsize=64)
def frame(number: int) -> np.ndarray:
    """BGR frame `number` (768x576)."""
    image = cv2.imread(frame_path(number))
    assert image is not None, frame_path(number)
    return image


@lru_cache(maxsize=1)
def ground_truth() -> dict[int, list[tuple[float, float, float, float]]]:
    """Frame number -> visible person boxes (left, top, width, height) in pixels."""
    boxes: dict[int, list[tuple[float, float, float, float]]] = {}
    for line in (PETS / "gt" / "gt.txt").read_text().splitlines():
        values = [float(value) for value in line.split(",")[:7]]
        number, _track, left, top, width, height, flag = values
        if number <= 300 and flag > 0:
            boxes.setdefault(int(number), []).append((left, top, width, height))
    return boxes


SAMPLE = range(1, 301, 15)  # 20 frames spread over the sequence


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """Commissioning substitute: per-pixel median of 30 frames in which people keep moving."""
    return build_reference(frame(number) for number in range(1, 301, 10))


def _foot_covered(person: tuple[float, ...], detections: list[Detection]) -> bool:
    """Whether a ground-truth person's foot point lies in (or 8 px from) a detection box."""
    foot_x, foot_y = person[0] + person[2] / 2, person[1] + person[3]
    for detection in detections:
        left, top, width, height = detection.box_ltwh
        if left - 8 <= foot_x <= left + width + 8 and top - 8 <= foot_y <= top + height + 8:
            return True
    return False


def _matches(truth: list[tuple[float, ...]], found: list[Detection]) -> int:
    used: set[int] = set()
    for person in truth:
        scores = [box_iou(person, detection.box_ltwh) for detection in found]
        best = int(np.argmax(scores)) if scores else -1
        if best >= 0 and scores[best] >= 0.5 and best not in used:
            used.add(best)
    return len(used)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "frame is None"),
        ("image.jpg", "frame is a str"),
        (np.zeros((64, 64, 3), np.float32), "dtype float32"),
        (np.zeros((64, 64), np.uint8), "shape (64, 64)"),
        (np.zeros((8, 64, 3), np.uint8), "too small"),
    ],
)
def test_invalid_frames_are_detector_errors(value: object, message: str) -> None:
    with pytest.raises(DetectorError, match=message.replace("(", r"\(").replace(")", r"\)")):
        HogDetector().detect(value)  # type: ignore[arg-type]


def test_hog_finds_people_in_photos_and_none_in_empty_scenes() -> None:
    detector = HogDetector()
    for name in ("Background_Subtraction_Tutorial_frame.jpg", "basketball1.png"):
        found = detector.detect(cv2.imread(str(SHARED_DATA / "people" / name)))
        assert found, name
        assert all(d.label == "person" and d.source == "hog" for d in found)
        assert all(0.5 <= d.confidence <= 1.0 for d in found)
    for name in ("building.jpg", "squirrel_cls.jpg", "stuff.jpg"):
        assert detector.detect(cv2.imread(str(SHARED_DATA / "no_people" / name))) == [], name


def test_hog_on_pets09_is_precise_and_finds_most_people() -> None:
    detector = HogDetector()
    truth_count = found_count = matched = 0
    for number in SAMPLE:
        found = detector.detect(frame(number))
        truth = ground_truth()[number]
        truth_count += len(truth)
        found_count += len(found)
        matched += _matches(truth, found)
    assert matched / truth_count >= 0.55  # measured 0.69 on every 5th frame
    assert matched / found_count >= 0.85  # measured 0.97


def test_foreground_covers_every_foot_on_pets09(reference: np.ndarray) -> None:
    detector = ForegroundDetector(reference)
    people = covered = 0
    for number in SAMPLE:
        found = detector.detect(frame(number))
        assert all(d.label == "foreground" and d.keypoints is None for d in found)
        for person in ground_truth()[number]:
            people += 1
            covered += _foot_covered(person, found)
    assert covered / people >= 0.95  # measured 0.98 over all 300 frames


def test_foreground_sees_nothing_in_the_reference_itself(reference: np.ndarray) -> None:
    assert ForegroundDetector(reference).detect(reference) == []


def test_ignore_mask_removes_the_masked_blob(reference: np.ndarray) -> None:
    detector = ForegroundDetector(reference)
    image = frame(100)
    found = detector.detect(image)
    assert found
    target = max(found, key=lambda d: d.box_ltwh[2] * d.box_ltwh[3])
    left, top, width, height = (round(v) for v in target.box_ltwh)
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[max(0, top - 4) : top + height + 4, max(0, left - 4) : left + width + 4] = 255
    masked = detector.detect(image, ignore_mask=mask)
    assert len(masked) == len(found) - 1
    assert all(box_iou(d.box_ltwh, target.box_ltwh) == 0.0 for d in masked)
    with pytest.raises(DetectorError, match="ignore_mask has shape"):
        detector.detect(image, ignore_mask=mask[:100])


def test_stationary_person_does_not_fade_even_with_adaptation(reference: np.ndarray) -> None:
    # A real person (cut from frame 100) pasted into the empty reference, standing still
    # for 300 frames while the reference adapts quickly everywhere else.
    left, top, width, height = (int(v) for v in ground_truth()[100][0])
    scene = reference.copy()
    scene[top : top + height, left : left + width] = frame(100)[
        top : top + height, left : left + width
    ]
    detector = ForegroundDetector(reference, ForegroundConfig(adapt_rate=0.05))
    brighter = cv2.add(scene, np.full_like(scene, 6))  # slow global light change
    for _ in range(300):
        found = detector.detect(brighter)
    person = (left, top, width, height)
    assert any(box_iou(person, d.box_ltwh) >= 0.5 for d in found)
    assert len(found) == 1  # the light change was absorbed elsewhere


def test_foreground_refuses_a_frame_of_another_size(reference: np.ndarray) -> None:
    with pytest.raises(DetectorError, match="resolution changed"):
        ForegroundDetector(reference).detect(cv2.resize(reference, (640, 480)))


def test_build_reference_needs_frames_of_one_size() -> None:
    with pytest.raises(DetectorError, match="at least 3"):
        build_reference([frame(1)])
    with pytest.raises(DetectorError, match="differ in shape"):
        build_reference([frame(1), frame(2), cv2.resize(frame(3), (640, 480))])


def test_merge_keeps_person_label_and_keypoints() -> None:
    keypoints = np.zeros((17, 3))
    blob = Detection((100, 100, 40, 100), 0.9, "foreground", None, "foreground")
    person = Detection((102, 98, 40, 100), 0.6, "person", None, "hog")
    pose = Detection((101, 99, 40, 100), 0.5, "person", keypoints, "onnx")
    far = Detection((400, 100, 40, 100), 0.7, "foreground", None, "foreground")
    merged = merge_detections([blob, person, pose, far], 0.5)
    assert len(merged) == 2
    kept = next(d for d in merged if d.box_ltwh[0] < 300)
    assert kept.label == "person" and kept.keypoints is keypoints and kept.source == "onnx"
    assert kept.box_ltwh == (100, 98, 42, 102)  # grown to cover the merged boxes
    assert far in merged


def test_merge_keeps_the_largest_measured_foot_sigma() -> None:
    ssd = Detection((100, 100, 40, 100), 0.8, "person", None, "ssdlite", 6.0, (98, 100, 44, 105))
    hog = Detection((101, 99, 40, 100), 0.6, "person", None, "hog", 4.0, (90, 90, 60, 130))
    blob = Detection((100, 101, 40, 100), 0.9, "foreground", None, "foreground")
    alone = Detection((400, 100, 40, 100), 0.7, "person", None, "ssdlite", 5.0, (1, 2, 3, 4))
    merged = merge_detections([ssd, hog, blob, alone], 0.5)
    kept = next(d for d in merged if d.box_ltwh[0] < 300)
    assert kept.source == "ssdlite" and kept.foot_sigma_px == 6.0
    assert kept.raw_box_ltwh is None  # a union is no longer one detector's box
    assert alone in merged  # untouched: its own sigma and raw box
    only_blobs = merge_detections([blob, replace(blob, confidence=0.5)], 0.5)
    assert only_blobs[0].foot_sigma_px is None


def test_hog_plus_foreground_on_pets09(reference: np.ndarray) -> None:
    combined = build_detector(DetectorConfig(kind="hog+foreground"), reference_bgr=reference)
    hog = HogDetector()
    foreground = ForegroundDetector(reference)
    people = covered = 0
    for number in SAMPLE:
        image = frame(number)
        found = combined.detect(image)
        assert len(found) <= len(hog.detect(image)) + len(foreground.detect(image))
        assert {d.source for d in found} <= {"hog", "foreground"}
        for person in ground_truth()[number]:
            people += 1
            covered += _foot_covered(person, found)
    assert covered / people >= 0.97
    assert combined.kind == "hog+foreground"


def test_foot_point_uses_confident_ankles() -> None:
    box = (100.0, 50.0, 40.0, 100.0)
    assert foot_point(Detection(box, 0.9, "person")) == (120.0, 150.0)
    keypoints = np.zeros((17, 3))
    keypoints[15] = (110.0, 140.0, 0.9)
    keypoints[16] = (126.0, 144.0, 0.8)
    assert foot_point(Detection(box, 0.9, "person", keypoints)) == (118.0, 144.0)
    keypoints[16, 2] = 0.1
    assert foot_point(Detection(box, 0.9, "person", keypoints)) == (110.0, 140.0)
    keypoints[15, 2] = 0.2
    assert foot_point(Detection(box, 0.9, "person", keypoints)) == (120.0, 150.0)


def test_factory_refuses_what_it_cannot_build(tmp_path) -> None:
    with pytest.raises(DetectorError, match="needs a reference image"):
        build_detector(DetectorConfig(kind="foreground"))
    with pytest.raises(DetectorError, match="missing or not an image"):
        load_reference(tmp_path / "empty-cell.png")
    (tmp_path / "manifest.yaml").write_text("models: []\n")
    with pytest.raises(ModelError, match="not in"):
        build_detector(DetectorConfig(kind="onnx", model="yolo11n"), tmp_path)


@pytest.mark.parametrize(
    ("fields", "location", "value"),
    [
        ({"foreground": {"shadow_min_ratio": 0.9, "shadow_max_ratio": 0.5}}, "foreground", "0.9"),
        ({"hog": {"scale_step": 1.0}}, "hog.scale_step", "1.0"),
        ({"foreground": {"min_area": 3}}, "foreground.min_area", "3"),
        ({"onnx_backend": "tensorrt"}, "onnx_backend", "tensorrt"),
    ],
)
def test_detector_config_errors_name_field_and_value(
    fields: dict, location: str, value: str
) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as error:
        DetectorConfig(**fields)
    text = str(error.value)
    assert location in text and value in text


def test_hog_on_the_real_tud_campus_footage() -> None:
    from safetymon.perception.sources import ReplayReader

    folder = SHARED_DATA / "mot15" / "TUD-Campus"
    truth: dict[int, list[tuple[float, ...]]] = {}
    for line in (folder / "gt" / "gt.txt").read_text().splitlines():
        values = [float(value) for value in line.split(",")[:6]]
        truth.setdefault(int(values[0]) - 1, []).append(tuple(values[2:6]))
    detector = HogDetector()
    people = found_count = matched = 0
    for replay in ReplayReader(str(folder / "TUD-Campus.mp4")):
        if replay.index % 5:
            continue
        found = detector.detect(replay.image)
        people += len(truth.get(replay.index, []))
        found_count += len(found)
        matched += _matches(truth.get(replay.index, []), found)
    assert matched / people >= 0.25  # measured 26 / 75: a crowded, occluded scene
    assert matched / found_count >= 0.75  # measured 26 / 30
