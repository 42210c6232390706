"""Scoring functions used by the perception benchmark and replay checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely

from safetymon.perception.evaluation import (
    DetectionScore,
    GroundTruthBox,
    MarginOccupancy,
    OccupancyScore,
    height_band,
    iou_matrix,
    load_mot_ground_truth,
    match_boxes,
    scale_ground_truth,
    scale_homography,
    score_replay_records,
    target_verdict,
    zone_truth,
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


def test_height_bands_have_their_lower_edge() -> None:
    assert [height_band(h) for h in (10, 59.9, 60, 89.9, 90, 129.9, 130, 400)] == [
        0, 0, 1, 1, 2, 2, 3, 3,
    ]  # fmt: skip


def test_scaled_homography_maps_resized_pixels_to_the_same_floor_point() -> None:
    homography = np.array([[2.0, 0.0, 1.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0]])
    scaled = scale_homography(homography, 0.5, 0.25)
    # pixel (10, 8) of the original is (5, 2) of the resized frame; floor (2*10+1, 3*8)
    floor = scaled @ np.array([5.0, 2.0, 1.0])
    assert floor[:2] / floor[2] == pytest.approx([21.0, 24.0])
    with pytest.raises(ValueError, match="> 0"):
        scale_homography(homography, 0.0, 1.0)


def test_scaled_ground_truth_scales_boxes_not_world() -> None:
    truth = {3: [GroundTruthBox(7, (10, 20, 30, 40), (1.5, -2.0), False)]}
    row = scale_ground_truth(truth, 0.5, 0.25)[3][0]
    assert row.box_ltwh == (5, 5, 15, 10)
    assert (row.track_id, row.world_xy, row.considered) == (7, (1.5, -2.0), False)


SQUARE = shapely.Polygon([(0, 0), (2, 0), (2, 2), (0, 2)])


def test_zone_truth_inside_near_and_clear() -> None:
    assert zone_truth([(1.0, 1.0)], SQUARE, 0.5) == (True, True)
    assert zone_truth([(2.0, 1.0)], SQUARE, 0.5) == (True, True)  # on the line: inside
    assert zone_truth([(2.4, 1.0)], SQUARE, 0.5) == (False, True)
    assert zone_truth([(2.6, 1.0)], SQUARE, 0.5) == (False, False)
    assert zone_truth([(2.6, 1.0)], SQUARE, 1.0) == (False, True)
    assert zone_truth([(float("nan"), 1.0), (5.0, 5.0)], SQUARE, 0.5) == (False, False)
    assert zone_truth([], SQUARE, 0.5) == (False, False)


def test_margin_occupancy_counts_clear_frames_per_margin() -> None:
    score = MarginOccupancy(SQUARE, (0.5, 1.0))
    score.add([(1.0, 1.0)], True)  # occupied, flagged
    score.add([(1.0, 1.0), (9.0, 9.0)], False)  # occupied, missed
    score.add([(2.8, 1.0)], True)  # clear at 0.5 m, near at 1.0 m
    score.add([(9.0, 9.0)], False)  # clear at both
    score.add([], True)  # clear at both, false alarm
    assert score.recall == 0.5
    assert score.scores[0.5].clear_frames == 3 and score.false_alarm_rate(0.5) == 2 / 3
    assert score.scores[1.0].clear_frames == 2 and score.false_alarm_rate(1.0) == 0.5
    assert score.scores[1.0].ambiguous_frames == 1


def test_detection_score_bands_floor_error_and_sigma() -> None:
    truth = [
        GroundTruthBox(1, (0, 0, 20, 50), (0.0, 0.0), True),  # band <60, missed
        GroundTruthBox(2, (100, 0, 40, 100), (1.0, 1.0), True),  # band 90-130, found
        GroundTruthBox(3, (300, 0, 40, 140), (5.0, 5.0), False),  # ignored
    ]
    detections = np.array([[100, 0, 40, 100], [500, 500, 10, 10]], dtype=float)
    floor = np.array([[1.3, 1.4], [7.0, 7.0]])  # error 0.5 m for the matched one
    score = DetectionScore()
    score.add(match_boxes(detections, truth), truth, floor, np.array([0.4, 0.1]))
    assert (score.recall, score.precision) == (0.5, 0.5)
    assert score.band_truth == [1, 0, 1, 0] and score.band_found == [0, 0, 1, 0]
    assert score.band_recall(0) == 0.0 and score.band_recall(2) == 1.0
    assert math.isnan(score.band_recall(1))
    assert score.floor_errors_m == [pytest.approx(0.5)]
    assert score.floor_median_m == pytest.approx(0.5)
    assert score.within_sigma(1.0) == 0.0 and score.within_sigma(2.0) == 1.0  # 0.5 / 0.4


def test_detection_score_without_floor_or_matches_is_nan() -> None:
    score = DetectionScore()
    score.add(match_boxes(np.zeros((0, 4)), []), [])
    assert math.isnan(score.recall) and math.isnan(score.precision)
    assert math.isnan(score.floor_median_m) and math.isnan(score.within_sigma(2.0))


def test_target_verdict() -> None:
    assert target_verdict(0.95, 0.99, at_most=False) == "missed by 0.04"
    assert target_verdict(0.99, 0.99, at_most=False) == "met"
    assert target_verdict(0.03, 0.05, at_most=True) == "met"
    assert target_verdict(0.30, 0.25, at_most=True) == "missed by 0.05"
    assert target_verdict(float("nan"), 0.25, at_most=True) == "n/a"


def test_score_replay_records_reads_boxes_floor_and_zone_flag() -> None:
    truth = {
        5: [GroundTruthBox(1, (0, 0, 10, 20), (1.0, 1.0), True)],  # inside SQUARE
        6: [GroundTruthBox(1, (0, 0, 10, 20), (9.0, 9.0), True)],  # clear at both margins
    }
    records = [
        {
            "frame": 0,
            "detections": [{"box": [0, 0, 10, 20], "floor": [1.0, 1.6]}],
            "zones": {"z": True},
        },
        {
            "frame": 1,
            "detections": [{"box": [0, 0, 10, 20], "floor": None}],
            "zones": {"z": True},
            "faults": {"cam": "cannot be placed"},
        },
    ]
    detections, occupancy, faulty = score_replay_records(
        records, truth, first_frame=5, zone=SQUARE, zone_id="z"
    )
    assert (detections.true_positives, detections.false_positives) == (2, 0)
    assert detections.floor_errors_m == [pytest.approx(0.6)]  # the null floor is skipped
    assert occupancy.recall == 1.0 and occupancy.false_alarm_rate(0.5) == 1.0
    assert faulty == 1
    with pytest.raises(ValueError, match="no zone 'w'"):
        score_replay_records(records, truth, first_frame=5, zone=SQUARE, zone_id="w")
    with pytest.raises(ValueError, match="go together"):
        score_replay_records(records, truth, zone=SQUARE)
