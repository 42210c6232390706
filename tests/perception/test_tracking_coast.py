"""A coasting track's uncertainty grows no faster than a person walks, and still covers one."""

from __future__ import annotations

import numpy as np
import pytest

from safetymon.config.tracking import TrackingConfig
from safetymon.perception.tracking import FloorObservation, MultiCameraTracker


def observe(tracker: MultiCameraTracker, t: float, x: float, y: float = 0.0) -> None:
    obs = FloorObservation("cam1", t, (x, y), 0.05, 0.3, 0.9)
    tracker.update([obs], t)


def test_newborn_track_coasts_at_walking_speed() -> None:
    config = TrackingConfig(max_coast_s=2.0)
    tracker = MultiCameraTracker(config)
    observe(tracker, 0.0, 1.0)
    start = float(tracker.humans_at(0.0).uncertainty_m[0])
    for coast_s in (0.25, 0.5, 1.0, 1.5):
        grown = float(tracker.humans_at(coast_s).uncertainty_m[0]) - start
        assert grown <= config.coast_growth_mps * coast_s + 1e-9
    # Without the cap the filter's unknown velocity (1.5 m/s 1-sigma per axis) would have
    # grown it by about 2 x 1.5 m/s: the cap is what acts here.
    loose = MultiCameraTracker(config.model_copy(update={"coast_growth_mps": 12.0}))
    observe(loose, 0.0, 1.0)
    assert float(loose.humans_at(1.0).uncertainty_m[0]) - start > 2.5


def test_observed_track_is_unchanged_by_the_cap() -> None:
    capped, loose = (
        MultiCameraTracker(TrackingConfig(coast_growth_mps=g)) for g in (1.6, 12.0)
    )
    for tracker in (capped, loose):
        for step in range(20):
            observe(tracker, step * 0.1, 1.2 * step * 0.1)
    now = 1.9
    np.testing.assert_allclose(
        capped.humans_at(now).uncertainty_m, loose.humans_at(now).uncertainty_m
    )


@pytest.mark.parametrize("turn", [0.0, np.pi / 4])
def test_a_walker_who_turns_while_unseen_stays_covered(turn: float) -> None:
    # Observed walking at 1.2 m/s for 2 s, then unseen for 1 s while turning by `turn` and
    # walking on at the same speed: the coasting disc (uncertainty around the prediction,
    # which keeps the old heading) still holds the true position. (A sharp turn or a
    # reversal while unseen is not covered by the track alone, with or without the cap:
    # the decision's human speed x reaction time and the zone margins are for that.)
    config = TrackingConfig(max_coast_s=1.5)
    tracker = MultiCameraTracker(config)
    speed = 1.2
    for step in range(21):
        observe(tracker, step * 0.1, speed * step * 0.1)
    last = np.array([speed * 2.0, 0.0])
    heading = np.array([np.cos(turn), np.sin(turn)])
    for coast_s in (0.3, 0.6, 1.0):
        humans = tracker.humans_at(2.0 + coast_s)
        truth = last + speed * coast_s * heading
        error = float(np.linalg.norm(humans.xy[0] - truth))
        reach = float(humans.uncertainty_m[0])
        assert error <= reach
        assert reach <= float(tracker.humans_at(2.0).uncertainty_m[0]) + 1.6 * coast_s + 1e-9
