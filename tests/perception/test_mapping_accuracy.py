"""floor_errors / summarize on PETS09-S2L1 ground truth (real boxes, real world positions)."""

from __future__ import annotations

import numpy as np
import pytest

from safetymon.perception.calibration.floor import fit_floor_from_points
from safetymon.perception.calibration.floor_accuracy import floor_errors, summarize
from safetymon.perception.mapping import FloorMapper
from tests.perception.test_calibration_floor import pets_rows


def test_pets09_floor_errors_and_summary() -> None:
    rows = pets_rows()
    boxes, world = rows[:, 2:6], rows[:, 7:9]
    feet = np.c_[boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3]]
    every_50th = np.arange(0, len(rows), 50)
    fit = fit_floor_from_points(feet[every_50th], world[every_50th])
    mapper = FloorMapper(fit.homography, floor_error_m=fit.loo_rms_m or fit.rms_m)
    errors, sigma = floor_errors(mapper, boxes, world)
    summary = summarize(errors, sigma)
    assert summary.count == len(rows) and summary.unmapped == 0
    assert summary.median_m == pytest.approx(np.median(errors))
    assert summary.p95_m == pytest.approx(np.percentile(errors, 95))
    assert summary.median_m < 0.1 and summary.p95_m < 0.3  # metres
    assert summary.within_2_sigma > 0.9  # the stated uncertainty covers the real error
    assert "median" in summary.line()
    # boxes displaced by 20 px downwards land farther off than the stated uncertainty allows
    shifted = boxes + np.array([0.0, 20.0, 0.0, 0.0])
    worse = summarize(*floor_errors(mapper, shifted, world))
    assert worse.median_m > 3 * summary.median_m and worse.within_2_sigma < 0.5


def test_unmapped_boxes_are_counted_not_hidden() -> None:
    # horizon at v = 100: boxes whose bottom is above it cannot be placed
    mapper = FloorMapper(np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, -100.0]]))
    boxes = np.array([[10.0, 150.0, 20.0, 50.0], [10.0, 10.0, 20.0, 50.0]])
    errors, sigma = floor_errors(mapper, boxes, np.zeros((2, 2)))
    assert np.isfinite(errors[0]) and np.isnan(errors[1]) and sigma[1] == np.inf
    assert summarize(errors, sigma).unmapped == 1
    with pytest.raises(ValueError, match="2 boxes but 1 world points"):
        floor_errors(mapper, boxes, np.zeros((1, 2)))
    with pytest.raises(ValueError, match="no box could be mapped"):
        summarize(np.array([np.nan]))
