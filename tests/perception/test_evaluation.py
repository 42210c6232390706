"""Scoring functions used by the perception benchmark and replay checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from safetymon.perception.evaluation import (
    GroundTruthBox,
    OccupancyScore,
    iou_matrix,
    load_mot_ground_truth,
    match_boxes,
)
from tests.conftest import SHARED_DATA

PETS = SHARED_DATA / "mot15" / "PETS09-S2L1"


def gt(track: int, box: tuple[float, float, float, float], considered: bool = True):
    return GroundTruthBox(track, box, (0.0, 0.0), considered)


def test_iou_of_known_boxes() -> None:
    iou = iou_matrix(np.array([[0, 0, 10, 10], [100, 100, 5, 5]]), np.array([[5, 0, 10, 10]]))
    assert iou[0, 0] == pytest.approx(50 / 150)
    assert iou[1, 0] == 0.0


def test_matching_counts_tp_fp_fn_and_ignores_dont_care_boxes() -> None:
    truth = [gt(1, (0, 0, 10, 20)), gt(2, (50, 0, 10, 20)), gt(3, (100, 0, 10, 20), False)]
    detections = np.array([[1, 1, 10, 20], [101, 0, 10, 20], [200, 200, 10, 10]])
    match = match_boxes(detections, truth)
    assert (match.true_positives, match.false_positives, match.false_negatives) == (1, 1, 1)


def test_matching_is_one_to_one() -> None:
    truth = [gt(1, (0, 0, 10, 20))]
    match = match_boxes(np.array([[0, 0, 10, 20], [0, 0, 10, 20]]), truth)
    assert (match.true_positives, match.false_positives, match.false_negatives) == (1, 1, 0)


def test_occupancy_score() -> None:
    score = OccupancyScore()
    for inside, near, flagged in [
        (True, True, True),
        (True, True, False),
        (False, False, True),
        (False, False, False),
        (False, True, True),
    ]:
        score.add(inside, near, flagged)
    assert score.recall == 0.5 and score.false_alarm_rate == 0.5
    assert score.ambiguous_frames == 1
    assert math.isnan(OccupancyScore().recall)


def test_loads_pets09_ground_truth() -> None:
    frames = load_mot_ground_truth(PETS / "gt" / "gt.txt")
    assert min(frames) == 1 and max(frames) == 795
    first = frames[1]
    assert any(box.track_id == 9 and box.world_xy == (-4.1554, -7.3591) for box in first)
    assert sum(len(rows) for rows in frames.values()) == 4650


def test_malformed_ground_truth_names_the_line(tmp_path) -> None:
    path = tmp_path / "gt.txt"
    path.write_text("1,1,0,0,10,10,1,0,0,0\n2,x,0,0,10,10,1,0,0,0\n")
    with pytest.raises(ValueError, match=":2: not numeric"):
        load_mot_ground_truth(path)
