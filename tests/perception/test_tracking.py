"""Multi-camera floor tracker: simulated walkers with real noise, real Kalman and assignment."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from pydantic import ValidationError

from safetymon.config.tracking import TrackingConfig
from safetymon.perception.tracking import FloorObservation, MultiCameraTracker
from tests.perception.walkers import nearest_distance, observe, run_walkers

FPS = 15.0


def person(camera: str, time_s: float, x: float, y: float, **changes: object) -> FloorObservation:
    values: dict[str, object] = {
        "camera_id": camera,
        "time_s": time_s,
        "xy": (x, y),
        "uncertainty_m": 0.05,
        "radius_m": 0.3,
        "confidence": 0.9,
        "label": "person",
    }
    values.update(changes)
    return FloorObservation(**values)  # type: ignore[arg-type]


def walk(start: tuple[float, float], velocity: tuple[float, float], seconds: float) -> np.ndarray:
    """(frames, 1, 2) straight walk sampled at FPS."""
    t = np.arange(0.0, seconds, 1.0 / FPS)
    return (np.asarray(start) + np.outer(t, velocity))[:, None, :]


@pytest.mark.parametrize("assignment", ["hungarian", "greedy"])
def test_velocity_converges_to_the_true_walking_velocity(assignment: str) -> None:
    rng = np.random.default_rng(1)
    tracker = MultiCameraTracker(TrackingConfig(assignment=assignment))  # type: ignore[arg-type]
    true_velocity = np.array([1.2, -0.5])
    truth = walk((-3.0, 1.0), tuple(true_velocity), 6.0)
    velocities, nees = [], []
    for frame, points in enumerate(truth):
        tracker.update(observe("cam", frame / FPS, points, rng, noise_m=0.05), frame / FPS)
        if frame >= 2 * FPS:  # converged after 2 s
            (track,) = tracker.tracks()
            error = track.velocity - true_velocity
            velocities.append(track.velocity)
            nees.append(float(error @ np.linalg.solve(track.covariance[2:, 2:], error)))
    # Unbiased: the mean estimate over 4 s is close; every estimate is within 0.6 m/s.
    assert np.linalg.norm(np.mean(velocities, axis=0) - true_velocity) < 0.1
    assert np.max(np.linalg.norm(np.array(velocities) - true_velocity, axis=1)) < 0.6
    # Not overconfident: errors fit the filter's own velocity covariance (chi-square with 2
    # dof has mean 2; a straight walk has no acceleration, so the model is conservative).
    assert np.mean(nees) < 2.0
    (track,) = tracker.tracks()
    assert np.linalg.norm(track.xy - truth[-1, 0]) < 0.1
    assert track.confirmed and track.hits == len(truth)
    batch = tracker.humans_at(track.last_update_s + 0.5)
    assert np.linalg.norm(batch.xy[0] - (truth[-1, 0] + 0.5 * np.array([1.2, -0.5]))) < 0.2


def test_a_person_seen_once_is_reported_at_once_as_tentative() -> None:
    tracker = MultiCameraTracker(TrackingConfig(confirm_hits=3))
    result = tracker.update([person("cam", 5.0, 1.0, 2.0, uncertainty_m=0.1)], 5.0)
    assert result.born == (1,) and result.matched == 0
    (view,) = tracker.tracks()
    assert not view.confirmed and view.hits == 1 and view.label == "person"
    batch = tracker.humans_at(5.0)
    assert batch.track_ids.tolist() == [1]
    assert batch.xy[0].tolist() == [1.0, 2.0]
    assert batch.radius_m[0] == 0.3
    assert batch.uncertainty_m[0] >= 0.1  # never below the observation's own uncertainty
    assert batch.velocity[0].tolist() == [0.0, 0.0]


def crossing(gap_s: float) -> np.ndarray:
    """(frames, 2, 2) perpendicular walks at 1.3 m/s through the origin, ``gap_s`` apart."""
    t = np.arange(0.0, 6.0, 1.0 / FPS)
    a = np.stack([-4.0 + 1.3 * t, 0.0 * t], axis=1)
    b = np.stack([0.0 * t, -4.0 + 1.3 * (t - gap_s)], axis=1)
    return np.stack([a, b], axis=1)


def test_crossing_walkers_keep_identity_and_are_never_lost() -> None:
    paths = crossing(0.3)  # closest approach 0.28 m between centres
    switches = 0
    for seed in range(20):
        tracker = MultiCameraTracker()
        score, worst = run_walkers(tracker, paths, FPS, np.random.default_rng(seed), 0.05)
        assert worst < 0.3, f"seed {seed}: a walker was {worst:.2f} m from every report"
        assert score.unmatched == 0
        switches += score.switches
    assert switches <= 2, f"{switches} identity switches in 20 crossings"


def test_walkers_on_a_collision_course_may_swap_ids_but_are_never_lost() -> None:
    paths = crossing(0.0)  # both reach the origin together: identities are ambiguous
    for seed in range(5):
        score, worst = run_walkers(
            MultiCameraTracker(), paths, FPS, np.random.default_rng(seed), 0.05
        )
        assert worst < 0.3 and score.unmatched == 0


def test_two_cameras_seeing_one_person_make_one_track() -> None:
    rng = np.random.default_rng(2)
    tracker = MultiCameraTracker(TrackingConfig(merge_distance_m=0.4))
    truth = walk((0.0, 0.0), (1.0, 0.5), 3.0)
    for frame, points in enumerate(truth):
        t = frame / FPS
        tracker.update(observe("left", t, points, rng, 0.05, uncertainty_m=0.2), t)
        # The right camera's mapping is off by 0.35 m (within its stated 0.2 m 1-sigma
        # uncertainty, calibration included) and its frames come 7 ms later.
        later = points + np.array([1.0, 0.5]) * 0.007
        seen = observe("right", t + 0.007, later, rng, 0.05, (0.25, -0.25), uncertainty_m=0.2)
        tracker.update(seen, t + 0.007)
    batch = tracker.humans_at(3.0)
    assert batch.count == 1
    (view,) = tracker.tracks()
    assert view.cameras == {"left", "right"}
    assert view.hits == 2 * len(truth)
    assert np.linalg.norm(view.velocity - [1.0, 0.5]) < 0.5
    assert (
        nearest_distance(
            batch, truth[-1, 0] + np.array([1.0, 0.5]) * (3.0 - (len(truth) - 1) / FPS)
        )
        < 0.4
    )


def test_two_people_seen_by_two_cameras_stay_two_tracks() -> None:
    rng = np.random.default_rng(3)
    tracker = MultiCameraTracker()
    points = np.array([[0.0, 0.0], [0.7, 0.0]])
    for frame in range(30):
        t = frame / FPS
        tracker.update(observe("left", t, points, rng, 0.03), t)
        tracker.update(observe("right", t + 0.004, points, rng, 0.03, offset=(0.1, 0.0)), t + 0.004)
    assert tracker.humans_at(2.0).count == 2


def test_duplicate_tracks_from_disagreeing_cameras_merge_once_close() -> None:
    """Cameras disagree by 1.6 m (beyond the gate) at first, then agree: one track remains."""
    rng = np.random.default_rng(4)
    tracker = MultiCameraTracker(TrackingConfig(gate_m=1.0, merge_distance_m=0.4))
    truth = walk((0.0, 0.0), (0.5, 0.0), 6.0)
    counts = []
    for frame, points in enumerate(truth):
        t = frame / FPS
        offset = max(1.6 - 0.8 * t, 0.1)
        tracker.update(observe("left", t, points, rng, 0.03), t)
        tracker.update(
            observe("right", t + 0.003, points, rng, 0.03, offset=(0.0, offset)), t + 0.003
        )
        counts.append(tracker.humans_at(t + 0.003).count)
    assert counts[0] == 2
    assert counts[-1] == 1
    assert tracker.stats.merged == 1 and tracker.stats.died == 0
    (view,) = tracker.tracks()
    assert view.track_id == 1 and view.cameras == {"left", "right"}
    assert max(counts) == 2


def test_occluded_person_coasts_with_growing_uncertainty_and_is_reassociated() -> None:
    rng = np.random.default_rng(5)
    tracker = MultiCameraTracker(TrackingConfig(max_coast_s=1.5))
    truth = walk((-2.0, 0.0), (1.0, 0.0), 4.0)
    hidden = range(int(1.5 * FPS), int(2.5 * FPS))  # 1 s behind a pillar
    uncertainty = []
    for frame, points in enumerate(truth):
        t = frame / FPS
        seen = [] if frame in hidden else observe("cam", t, points, rng, 0.05)
        tracker.update(seen, t)
        batch = tracker.humans_at(t)
        assert batch.count == 1, f"frame {frame}: {batch.count} people reported"
        # The truth stays inside the reported extent while coasting.
        assert nearest_distance(batch, points[0]) < max(0.3, float(batch.uncertainty_m[0]))
        if frame in hidden:
            uncertainty.append(float(batch.uncertainty_m[0]))
    assert np.all(np.diff(uncertainty) > 0)
    assert uncertainty[-1] > 3 * uncertainty[0]
    (view,) = tracker.tracks()
    assert view.track_id == 1 and tracker.stats.born == 1


def test_track_dies_after_max_coast_and_not_before() -> None:
    tracker = MultiCameraTracker(TrackingConfig(max_coast_s=1.0))
    tracker.update([person("cam", 10.0, 0.0, 0.0)], 10.0)
    assert tracker.humans_at(10.999).count == 1
    assert tracker.humans_at(11.001).count == 0
    tracker.update([], 10.9)
    assert len(tracker.tracks()) == 1 and tracker.stats.died == 0
    tracker.update([], 11.2)
    assert tracker.tracks() == () and tracker.stats.died == 1


def test_gate_grows_with_time_since_the_last_observation() -> None:
    config = TrackingConfig(gate_m=0.5, max_human_speed_mps=2.0, merge_distance_m=0.0)
    soon = MultiCameraTracker(config)
    soon.update([person("cam", 0.0, 0.0, 0.0)], 0.0)
    soon.update([person("cam", 0.1, 1.2, 0.0)], 0.1)  # 1.2 m > 0.5 + 2.0 x 0.1
    assert len(soon.tracks()) == 2
    late = MultiCameraTracker(config)
    late.update([person("cam", 0.0, 0.0, 0.0)], 0.0)
    late.update([person("cam", 0.5, 1.2, 0.0)], 0.5)  # 1.2 m < 0.5 + 2.0 x 0.5
    assert len(late.tracks()) == 1


def test_two_observations_of_one_frame_never_share_a_track() -> None:
    tracker = MultiCameraTracker()
    tracker.update([person("cam", 0.0, 0.0, 0.0)], 0.0)
    result = tracker.update([person("cam", 0.1, 0.05, 0.0), person("cam", 0.1, -0.05, 0.0)], 0.1)
    assert result.matched == 1 and len(result.born) == 1
    assert tracker.humans_at(0.1).count == 2


def test_person_and_foreground_labels_do_not_associate() -> None:
    tracker = MultiCameraTracker()
    tracker.update([person("a", 0.0, 0.0, 0.0)], 0.0)
    tracker.update([person("b", 0.01, 0.1, 0.0, label="foreground", radius_m=0.6)], 0.01)
    labels = sorted(view.label for view in tracker.tracks())
    assert labels == ["foreground", "person"]
    assert sorted(tracker.humans_at(0.02).radius_m.tolist()) == [0.3, 0.6]


def test_late_frame_is_applied_without_turning_the_track_back_in_time() -> None:
    tracker = MultiCameraTracker(TrackingConfig(max_out_of_order_s=0.2))
    for frame in range(20):
        t = frame * 0.1
        tracker.update([person("a", t, 1.0 * t, 0.0)], t)
    # Camera b's frame captured 8 ms before camera a's newest one arrives now.
    result = tracker.update([person("b", 1.892, 1.892, 0.0)], 1.892)
    assert result.matched == 1 and result.born == () and not result.stale
    (view,) = tracker.tracks()
    assert view.last_update_s == pytest.approx(1.9)
    assert view.xy[0] == pytest.approx(1.9, abs=0.05)
    assert view.velocity[0] == pytest.approx(1.0, abs=0.1)
    assert tracker.stats.late_frames == 1


def test_stale_frame_is_rejected_and_reported() -> None:
    tracker = MultiCameraTracker(TrackingConfig(max_out_of_order_s=0.2))
    tracker.update([person("a", 5.0, 0.0, 0.0)], 5.0)
    result = tracker.update([person("b", 4.5, 3.0, 0.0)], 4.5)
    assert result.stale and result.born == ()
    assert "0.500 s older" in result.rejected[0][1]
    assert tracker.stats.rejected_stale == 1 and len(tracker.tracks()) == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"xy": (math.nan, 1.0)}, "xy"),
        ({"xy": (1.0, math.inf)}, "xy"),
        ({"xy": (1.0,)}, "xy"),
        ({"uncertainty_m": math.nan}, "uncertainty_m"),
        ({"uncertainty_m": -0.1}, "uncertainty_m"),
        ({"radius_m": math.inf}, "radius_m"),
        ({"confidence": 1.5}, "confidence"),
        ({"label": "robot"}, "label"),
        ({"camera_id": ""}, "camera_id"),
        ({"time_s": 0.2}, "time_s"),
    ],
)
def test_invalid_observation_is_rejected_by_name_and_the_rest_is_used(
    changes: dict[str, object], field: str
) -> None:
    tracker = MultiCameraTracker()
    bad = replace(person("cam", 0.1, 0.0, 0.0), **changes)
    result = tracker.update([bad, person("cam", 0.1, 2.0, 0.0)], 0.1)
    assert len(result.rejected) == 1
    index, reason = result.rejected[0]
    assert index == 0 and reason.startswith(field)
    assert result.born == (1,)
    assert tracker.stats.rejected_invalid == 1
    batch = tracker.humans_at(0.2)
    assert batch.count == 1 and np.all(np.isfinite(batch.xy))


def test_non_finite_frame_time_and_foreign_objects_do_not_crash() -> None:
    tracker = MultiCameraTracker()
    result = tracker.update([person("cam", math.nan, 0.0, 0.0)], math.nan)
    assert "not finite" in result.rejected[0][1]
    result = tracker.update(["not an observation", None], 1.0)  # type: ignore[list-item]
    assert [index for index, _ in result.rejected] == [0, 1]
    assert tracker.stats.rejected_invalid == 3 and tracker.tracks() == ()
    with pytest.raises(ValueError, match="time_s=nan"):
        tracker.humans_at(math.nan)


def test_humans_at_predicts_without_changing_the_tracks() -> None:
    tracker = MultiCameraTracker()
    for frame in range(10):
        tracker.update([person("cam", frame * 0.1, frame * 0.1, 0.0)], frame * 0.1)
    before = tracker.tracks()[0]
    first = tracker.humans_at(1.4)
    second = tracker.humans_at(1.4)
    after = tracker.tracks()[0]
    assert np.array_equal(first.xy, second.xy)
    assert np.array_equal(before.covariance, after.covariance)
    assert first.xy[0, 0] > before.xy[0] + 0.3  # moved on by ~0.5 s x 1 m/s
    assert first.uncertainty_m[0] > tracker.humans_at(0.9).uncertainty_m[0]


def test_velocity_is_clamped_to_the_max_human_speed() -> None:
    tracker = MultiCameraTracker(TrackingConfig(max_human_speed_mps=3.0, gate_m=5.0))
    for frame in range(10):
        x = 0.0 if frame % 2 == 0 else 4.0  # a detector flipping between two places
        tracker.update([person("cam", frame * 0.05, x, 0.0)], frame * 0.05)
    for view in tracker.tracks():
        assert np.linalg.norm(view.velocity) <= 3.0 + 1e-9
    assert np.all(np.linalg.norm(tracker.humans_at(0.5).velocity, axis=1) <= 3.0 + 1e-9)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("gate_m", 0.0),
        ("max_human_speed_mps", 20.0),
        ("accel_noise_mps2", math.nan),
        ("confirm_hits", 0),
        ("max_coast_s", -1.0),
        ("uncertainty_sigmas", 0.5),
        ("assignment", "auction"),
        ("unknown_field", 1),
    ],
)
def test_config_rejects_bad_values_by_field_name(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        TrackingConfig(**{field: value})
