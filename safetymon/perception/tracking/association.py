"""Gating, association cost and one-to-one assignment of observations to tracks.

Units: floor frame, metres. A pair outside the gate has cost ``+inf`` and is never assigned.
The cost of a gated pair is the negative log-likelihood of the observation under the track's
predicted position (up to a constant): squared Mahalanobis distance plus ``log det S`` with
``S = P_pos + r I``, so a coasting track with a wide covariance does not swallow observations
that fit a well-observed track better.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.optimize import linear_sum_assignment

Method = Literal["hungarian", "greedy"]


def association_cost(
    pred_xy: np.ndarray,
    pred_pos_cov: np.ndarray,
    gate_radius_m: np.ndarray,
    obs_xy: np.ndarray,
    obs_var: np.ndarray,
    compatible: np.ndarray,
) -> np.ndarray:
    """(T, N) cost of assigning observation j to track i; ``inf`` outside the gate.

    Args:
        pred_xy: (T, 2) track positions predicted to the observation time, metres.
        pred_pos_cov: (T, 2, 2) their position covariances, m^2.
        gate_radius_m: (T,) gate radius of each track, metres (Euclidean distance).
        obs_xy: (N, 2) observed positions, metres.
        obs_var: (N,) observation position variances, m^2.
        compatible: (T, N) whether the labels of track i and observation j may associate.
    """
    dx = obs_xy[None, :, 0] - pred_xy[:, None, 0]
    dy = obs_xy[None, :, 1] - pred_xy[:, None, 1]
    a = pred_pos_cov[:, None, 0, 0] + obs_var[None, :]
    c = pred_pos_cov[:, None, 1, 1] + obs_var[None, :]
    b = 0.5 * (pred_pos_cov[:, None, 0, 1] + pred_pos_cov[:, None, 1, 0])
    det = np.maximum(a * c - b * b, 1e-12)
    mahalanobis2 = (c * dx * dx - 2.0 * b * dx * dy + a * dy * dy) / det
    cost = mahalanobis2 + np.log(det)
    inside = (np.hypot(dx, dy) <= gate_radius_m[:, None]) & compatible
    return np.where(inside, cost, np.inf)


def assign(cost: np.ndarray, method: Method = "hungarian") -> tuple[np.ndarray, np.ndarray]:
    """One-to-one pairs ``(rows, cols)`` (track, observation) with finite cost.

    ``hungarian`` maximises the number of gated pairs, then minimises their total cost;
    ``greedy`` takes the cheapest remaining pair first. Each row and each column is used at
    most once, so two observations of one camera frame never update the same track.
    """
    if cost.size == 0 or not np.isfinite(cost).any():
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty
    if method == "greedy":
        return _greedy(cost)
    if method != "hungarian":
        raise ValueError(f"assignment method {method!r} is not 'hungarian' or 'greedy'")
    return _hungarian(cost)


def _hungarian(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    finite = np.isfinite(cost)
    rows_used = np.flatnonzero(finite.any(axis=1))
    cols_used = np.flatnonzero(finite.any(axis=0))
    sub = cost[np.ix_(rows_used, cols_used)]
    sub_finite = np.isfinite(sub)
    low = float(sub[sub_finite].min())
    high = float(sub[sub_finite].max())
    # Larger than any sum of gated costs: one more gated pair always beats a cheaper set.
    forbidden = high + (high - low + 1.0) * (min(sub.shape) + 1)
    rows, cols = linear_sum_assignment(np.where(sub_finite, sub, forbidden))
    keep = sub_finite[rows, cols]
    return rows_used[rows[keep]], cols_used[cols[keep]]


def _greedy(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows_all, cols_all = np.nonzero(np.isfinite(cost))
    order = np.argsort(cost[rows_all, cols_all], kind="stable")
    row_free = np.ones(cost.shape[0], dtype=bool)
    col_free = np.ones(cost.shape[1], dtype=bool)
    rows: list[int] = []
    cols: list[int] = []
    for index in order:
        row = rows_all[index]
        col = cols_all[index]
        if row_free[row] and col_free[col]:
            row_free[row] = False
            col_free[col] = False
            rows.append(int(row))
            cols.append(int(col))
    return np.asarray(rows, dtype=np.intp), np.asarray(cols, dtype=np.intp)
