"""Batched constant-velocity Kalman filter on the floor plane (plain NumPy).

State per track: ``(x, y, vx, vy)`` in the floor frame (metres, m/s); covariance (4, 4) in
the matching units. Process noise: continuous white-noise acceleration with spectral density
``q = sigma_a^2`` (m^2/s^3), so per axis over ``dt`` seconds::

    Q = q * [[dt^3/3, dt^2/2],
             [dt^2/2, dt    ]]

Measurements are floor positions with isotropic variance ``r`` (m^2). Every function takes N
tracks at once; ``dt`` may differ per track and may be negative (prediction backwards in
time adds the same noise as forwards: uncertainty never shrinks by predicting).
"""

from __future__ import annotations

import numpy as np

_EYE4 = np.eye(4)


def transition(dt: np.ndarray) -> np.ndarray:
    """(N, 4, 4) state transitions for time steps ``dt`` (N,) in seconds."""
    count = dt.shape[0]
    F = np.broadcast_to(_EYE4, (count, 4, 4)).copy()
    F[:, 0, 2] = dt
    F[:, 1, 3] = dt
    return F


def process_noise(dt: np.ndarray, accel_sigma_mps2: float) -> np.ndarray:
    """(N, 4, 4) process noise over ``|dt|`` (N,) seconds for 1-sigma acceleration m/s^2."""
    step = np.abs(dt)
    q = accel_sigma_mps2**2
    Q = np.zeros((dt.shape[0], 4, 4))
    pos = q * step**3 / 3.0
    cross = q * step**2 / 2.0
    vel = q * step
    for axis in (0, 1):
        Q[:, axis, axis] = pos
        Q[:, axis, axis + 2] = cross
        Q[:, axis + 2, axis] = cross
        Q[:, axis + 2, axis + 2] = vel
    return Q


def predict(
    x: np.ndarray, P: np.ndarray, dt: np.ndarray, accel_sigma_mps2: float
) -> tuple[np.ndarray, np.ndarray]:
    """Predict states (N, 4) and covariances (N, 4, 4) by ``dt`` (N,) seconds (no mutation)."""
    x_new = x.copy()
    x_new[:, :2] += x[:, 2:] * dt[:, None]
    F = transition(dt)
    P_new = F @ P @ F.transpose(0, 2, 1) + process_noise(dt, accel_sigma_mps2)
    return x_new, _symmetric(P_new)


def update(
    x: np.ndarray, P: np.ndarray, z: np.ndarray, r_var: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Fuse position measurements ``z`` (N, 2) m with variances ``r_var`` (N,) m^2.

    Joseph-form covariance update (stays symmetric positive semi-definite). No mutation.
    """
    count = x.shape[0]
    R = r_var[:, None, None] * np.eye(2)
    S = P[:, :2, :2] + R
    K = P[:, :, :2] @ np.linalg.inv(S)  # (N, 4, 2)
    innovation = z - x[:, :2]
    x_new = x + np.einsum("nij,nj->ni", K, innovation)
    I_KH = np.broadcast_to(_EYE4, (count, 4, 4)).copy()
    I_KH[:, :, :2] -= K
    P_new = I_KH @ P @ I_KH.transpose(0, 2, 1) + K @ R @ K.transpose(0, 2, 1)
    return x_new, _symmetric(P_new)


def initial_covariance(r_var: np.ndarray, speed_sigma_mps: float) -> np.ndarray:
    """(N, 4, 4) covariance of new tracks: position variance ``r_var`` (N,) m^2, velocity
    1-sigma ``speed_sigma_mps`` per axis."""
    P = np.zeros((r_var.shape[0], 4, 4))
    P[:, 0, 0] = r_var
    P[:, 1, 1] = r_var
    P[:, 2, 2] = speed_sigma_mps**2
    P[:, 3, 3] = speed_sigma_mps**2
    return P


def largest_position_sigma(P: np.ndarray) -> np.ndarray:
    """(N,) square root of the largest eigenvalue of each 2x2 position covariance, metres."""
    a = P[:, 0, 0]
    c = P[:, 1, 1]
    b = 0.5 * (P[:, 0, 1] + P[:, 1, 0])
    largest = 0.5 * (a + c) + np.sqrt(0.25 * (a - c) ** 2 + b**2)
    return np.sqrt(np.maximum(largest, 0.0))


def clamp_speed(x: np.ndarray, max_speed_mps: float) -> np.ndarray:
    """States with velocity vectors scaled down to at most ``max_speed_mps`` (no mutation)."""
    speed = np.linalg.norm(x[:, 2:], axis=1)
    scale = np.where(speed > max_speed_mps, max_speed_mps / np.maximum(speed, 1e-12), 1.0)
    clamped = x.copy()
    clamped[:, 2:] *= scale[:, None]
    return clamped


def _symmetric(P: np.ndarray) -> np.ndarray:
    return 0.5 * (P + P.transpose(0, 2, 1))
