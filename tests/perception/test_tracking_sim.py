"""The identity scorer of the tracking tests counts swaps and misses correctly."""

from __future__ import annotations

import numpy as np

from safetymon.safety.inputs import HumanBatch
from tests.perception.walkers import IdentityScore


def test_identity_score_counts_a_swap_and_a_miss() -> None:
    score = IdentityScore(match_m=0.5)
    truth = np.array([[0.0, 0.0], [5.0, 0.0]])
    score.add(
        np.array([1, 2]),
        truth,
        HumanBatch.build([7, 8], truth, np.zeros((2, 2)), [0.3] * 2, [0.1] * 2),
    )
    swapped = HumanBatch.build([8, 7], truth, np.zeros((2, 2)), [0.3] * 2, [0.1] * 2)
    score.add(np.array([1, 2]), truth, swapped)
    far = HumanBatch.build([7], [[9.0, 9.0]], [[0.0, 0.0]], [0.3], [0.1])
    score.add(np.array([1]), truth[:1], far)
    assert (score.switches, score.matched, score.unmatched) == (2, 4, 1)
