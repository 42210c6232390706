"""Multi-camera people tracking parameters (floor frame: metres, seconds)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from safetymon.config.base import StrictModel


class TrackingConfig(StrictModel):
    """Association, Kalman filter, birth and death rules of the floor tracker.

    Every camera's floor observations (metres, floor frame) update one shared set of
    constant-velocity tracks. The defaults suit people walking in a cell seen at 5-30 fps
    with floor mapping errors of about 0.1 m; they are starting points, not certified values.
    """

    gate_m: float = Field(
        1.0,
        gt=0.0,
        le=10.0,
        description=(
            "Base association gate in metres: an observation farther than this from a track's "
            "predicted position (plus max_human_speed_mps x the time since the track's last "
            "observation) cannot update that track. Covers measurement noise and the offset "
            "between two cameras' views of one person."
        ),
    )
    max_human_speed_mps: float = Field(
        3.0,
        gt=0.0,
        le=12.0,
        description=(
            "Largest human floor speed in m/s: widens the gate with the time since a track's "
            "last observation, and track velocities are clamped to it. Keep it below the "
            "decision's human_speed_limit_mps (12 m/s), above which a speed is invalid input."
        ),
    )
    accel_noise_mps2: float = Field(
        1.0,
        gt=0.0,
        le=50.0,
        description=(
            "Process noise of the constant-velocity model: 1-sigma white acceleration in m/s^2 "
            "(continuous white-noise acceleration with spectral density accel_noise_mps2^2 "
            "per second)."
        ),
    )
    initial_speed_sigma_mps: float = Field(
        1.5,
        gt=0.0,
        le=12.0,
        description="1-sigma of the unknown velocity (m/s, per axis) of a newly born track.",
    )
    confirm_hits: int = Field(
        3,
        ge=1,
        le=1000,
        description=(
            "Observations after which a track is `confirmed` (display and evidence only: "
            "every track, tentative or confirmed, is reported to the decision)."
        ),
    )
    max_coast_s: float = Field(
        1.5,
        gt=0.0,
        le=60.0,
        description=(
            "Death rule: a track without any observation for longer than this (seconds) is "
            "removed; until then it coasts on its velocity with growing uncertainty."
        ),
    )
    max_out_of_order_s: float = Field(
        0.2,
        ge=0.0,
        le=5.0,
        description=(
            "A camera frame older than the newest frame seen by more than this (seconds) is "
            "rejected as stale and reported; younger late frames are applied."
        ),
    )
    merge_distance_m: float = Field(
        0.4,
        ge=0.0,
        le=5.0,
        description=(
            "Two tracks of the same label closer than this (metres) that no common camera has "
            "ever observed (duplicates of one person from different cameras) are merged."
        ),
    )
    uncertainty_sigmas: float = Field(
        2.0,
        ge=1.0,
        le=6.0,
        description=(
            "Reported uncertainty_m = this x sqrt(largest eigenvalue of the predicted position "
            "covariance), never below the observations' own uncertainty (2 sigma holds a 2-D "
            "Gaussian position with 86 % probability, 3 sigma with 99 %)."
        ),
    )
    coast_growth_mps: float = Field(
        1.6,
        gt=0.0,
        le=12.0,
        description=(
            "While a track coasts (no observation), its reported uncertainty_m grows by at most "
            "this many metres per second since its last observation: as fast as a person "
            "walks (ISO 13855's 1.6 m/s), not as fast as a barely known velocity would let the "
            "filter's covariance grow. The decision still adds the human speed times the "
            "reaction time on top."
        ),
    )
    assignment: Literal["hungarian", "greedy"] = Field(
        "hungarian",
        description=(
            "Observation-to-track assignment: globally optimal (Hungarian, SciPy "
            "linear_sum_assignment) or greedy nearest pair first."
        ),
    )
