"""The tracker on real walking paths: PETS09-S2L1 ground-truth floor positions (7 fps).

MOT15 ground truth gives every person's floor position (x_world, y_world, metres) for all 795
frames; the tests feed them with Gaussian noise as camera observations and score coverage
(every person present has a reported human within 0.5 m) and MOT-style identity switches.
"""

from __future__ import annotations

import numpy as np
import pytest

from safetymon.perception.tracking import FloorObservation, MultiCameraTracker
from tests.conftest import SHARED_DATA
from tests.perception.walkers import IdentityScore, nearest_distance

GT = SHARED_DATA / "mot15" / "PETS09-S2L1" / "gt" / "gt.txt"
FPS = 7.0
NOISE_M = 0.1


def ground_truth() -> dict[int, np.ndarray]:
    """Frame -> (N, 3) rows of (id, x_world, y_world)."""
    if not GT.exists():
        pytest.fail(f"shared test data missing: {GT}")
    rows = np.loadtxt(GT, delimiter=",")
    return {int(f): rows[rows[:, 0] == f][:, [1, 7, 8]] for f in np.unique(rows[:, 0])}


def camera_frame(
    camera: str, time_s: float, people: np.ndarray, rng: np.random.Generator, offset: np.ndarray
) -> list[FloorObservation]:
    noisy = people[:, 1:] + offset + rng.normal(0.0, NOISE_M, (len(people), 2))
    return [
        FloorObservation(camera, time_s, (float(x), float(y)), NOISE_M, 0.3, 0.9, "person")
        for x, y in noisy
    ]


def score_sequence(cameras: int, seed: int) -> tuple[IdentityScore, float, int, int]:
    """Run frames 1..795; (identity score, worst coverage distance m, misses > 0.5 m, tracks
    born). With two cameras, one sees x < -4 m, the other x > -9 m (mapped 0.2 m off and
    25 ms later): people walking across the overlap are handed over."""
    truth = ground_truth()
    rng = np.random.default_rng(seed)
    tracker = MultiCameraTracker()
    score = IdentityScore(match_m=1.0)
    worst, misses = 0.0, 0
    for frame in range(1, 796):
        people = truth.get(frame, np.zeros((0, 3)))
        time_s = frame / FPS
        if cameras == 1:
            tracker.update(camera_frame("view1", time_s, people, rng, np.zeros(2)), time_s)
        else:
            left = people[people[:, 1] < -4.0]
            right = people[people[:, 1] > -9.0]
            tracker.update(camera_frame("left", time_s, left, rng, np.zeros(2)), time_s)
            offset = np.array([0.15, -0.12])
            later = time_s + 0.025
            tracker.update(camera_frame("right", later, right, rng, offset), later)
        batch = tracker.humans_at(time_s + 0.03)
        score.add(people[:, 0].astype(int), people[:, 1:], batch)
        for point in people[:, 1:]:
            distance = nearest_distance(batch, point)
            worst = max(worst, distance)
            misses += distance > 0.5
    return score, worst, misses, tracker.stats.born


@pytest.mark.parametrize("cameras", [1, 2])
def test_pets09_people_are_always_covered_with_few_identity_switches(cameras: int) -> None:
    score, worst, misses, born = score_sequence(cameras, seed=0)
    people = len({int(i) for rows in ground_truth().values() for i in rows[:, 0]})
    print(
        f"\nPETS09-S2L1, {cameras} camera(s), noise {NOISE_M} m: {score.matched} person-frames, "
        f"{misses} farther than 0.5 m from a report (worst {worst:.3f} m), "
        f"{score.switches} identity switches, {born} tracks born for {people} people"
    )
    assert misses == 0
    assert score.unmatched == 0
    assert score.switches <= 6
    assert born <= people + 6
