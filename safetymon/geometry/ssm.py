"""Speed and separation monitoring: ISO/TS 15066 (ISO 10218-2:2025, 5.14.5 and Annex L).

Protective separation distance, constant-speed form::

    S_p = S_h + S_r + S_s + C + Z_d + Z_r
    S_h = v_h · (T_r + T_s)      human moves during reaction and stopping
    S_r = v_r · T_r              robot moves during reaction
    S_s                          robot stopping distance; constant deceleration a_s:
                                 S_s = v_r² / (2·a_s), T_s = v_r / a_s

Velocity scaling inverts it for a measured distance d (constant deceleration, C' = C+Z_d+Z_r)::

    v_r,max = sqrt(v_h² + (a_s·T_r)² − 2·a_s·C' + 2·a_s·d) − (a_s·T_r + v_h)

(0 when the root is not real or the result is negative; the same expression as CNR-STIIMA's
ssm_safety). All distances in metres, speeds in m/s, times in seconds, deceleration in m/s².
The scalar functions here serve the calculator and the tests; the decision uses the NumPy
array forms, which apply the same formulas element-wise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from safetymon.config.robots import StoppingConfig


class SsmInputError(ValueError):
    """An input of the separation formulas is negative, non-finite or missing."""


def _require(name: str, value: float, *, positive: bool = False) -> float:
    if value is None:
        raise SsmInputError(f"{name} is missing")
    value = float(value)
    if not math.isfinite(value):
        raise SsmInputError(f"{name} must be a finite number, got {value}")
    if value < 0.0 or (positive and value == 0.0):
        bound = "> 0" if positive else ">= 0"
        raise SsmInputError(f"{name} must be {bound}, got {value}")
    return value


@dataclass(frozen=True)
class StoppingBehaviour:
    """Robot stopping time T_s (s) and distance S_s (m) at a given speed."""

    stopping_time_s: float
    stopping_distance_m: float


def stopping_from_deceleration(
    robot_speed_mps: float, deceleration_mps2: float
) -> StoppingBehaviour:
    """T_s = v_r / a_s and S_s = v_r² / (2·a_s) for constant deceleration."""
    v_r = _require("robot speed", robot_speed_mps)
    a_s = _require("deceleration", deceleration_mps2, positive=True)
    return StoppingBehaviour(v_r / a_s, v_r * v_r / (2.0 * a_s))


def stopping_for(stopping: StoppingConfig, robot_speed_mps: float) -> StoppingBehaviour:
    """Stopping time and distance of a configured robot at a speed (m/s).

    Constant deceleration gives speed-dependent values; measured stopping data are taken as
    constants (they were measured at maximum speed, so they are conservative below it).
    """
    if stopping.deceleration_mps2 is not None:
        return stopping_from_deceleration(robot_speed_mps, stopping.deceleration_mps2)
    return StoppingBehaviour(
        float(stopping.stopping_time_s or 0.0), float(stopping.stopping_distance_m or 0.0)
    )


@dataclass(frozen=True)
class SeparationTerms:
    """The terms of S_p, each in metres."""

    S_h_m: float
    S_r_m: float
    S_s_m: float
    C_m: float
    Z_d_m: float
    Z_r_m: float

    @property
    def protective_separation_distance_m(self) -> float:
        """S_p = S_h + S_r + S_s + C + Z_d + Z_r in metres."""
        return self.S_h_m + self.S_r_m + self.S_s_m + self.C_m + self.Z_d_m + self.Z_r_m

    def as_dict(self) -> dict[str, float]:
        """All terms plus ``protective_separation_distance_m``."""
        out = asdict(self)
        out["protective_separation_distance_m"] = self.protective_separation_distance_m
        return out


def protective_separation_distance(
    *,
    human_speed_mps: float,
    robot_speed_mps: float,
    reaction_time_s: float,
    stopping_time_s: float,
    stopping_distance_m: float,
    intrusion_distance_m: float,
    human_uncertainty_m: float,
    robot_uncertainty_m: float,
) -> SeparationTerms:
    """ISO/TS 15066 protective separation distance S_p with each of its terms."""
    v_h = _require("human speed", human_speed_mps)
    v_r = _require("robot speed", robot_speed_mps)
    t_r = _require("reaction time", reaction_time_s)
    t_s = _require("stopping time", stopping_time_s)
    s_s = _require("stopping distance", stopping_distance_m)
    c = _require("intrusion distance", intrusion_distance_m)
    z_d = _require("human uncertainty", human_uncertainty_m)
    z_r = _require("robot uncertainty", robot_uncertainty_m)
    return SeparationTerms(
        S_h_m=v_h * (t_r + t_s),
        S_r_m=v_r * t_r,
        S_s_m=s_s,
        C_m=c,
        Z_d_m=z_d,
        Z_r_m=z_r,
    )


def max_robot_speed(
    *,
    distance_m: float,
    human_speed_mps: float,
    reaction_time_s: float,
    deceleration_mps2: float,
    intrusion_distance_m: float,
    human_uncertainty_m: float,
    robot_uncertainty_m: float,
) -> float:
    """Largest robot speed (m/s) that keeps ``distance_m`` >= S_p; 0 when none is safe."""
    d = _require("distance", distance_m)
    v_h = _require("human speed", human_speed_mps)
    t_r = _require("reaction time", reaction_time_s)
    a_s = _require("deceleration", deceleration_mps2, positive=True)
    c_total = (
        _require("intrusion distance", intrusion_distance_m)
        + _require("human uncertainty", human_uncertainty_m)
        + _require("robot uncertainty", robot_uncertainty_m)
    )
    return float(
        max_speed_deceleration(
            np.float64(d), np.float64(v_h), np.float64(t_r), a_s, np.float64(c_total)
        )
    )


def max_speed_deceleration(
    distance_m: np.ndarray | float,
    human_speed_mps: np.ndarray | float,
    reaction_time_s: np.ndarray | float,
    deceleration_mps2: float,
    clearance_m: np.ndarray | float,
) -> np.ndarray:
    """Velocity scaling, constant-deceleration model, element-wise (m/s, >= 0).

    ``clearance_m`` is C' = C + Z_d + Z_r. Non-real roots and negative results give 0.
    """
    a_s = deceleration_mps2
    v_h = np.asarray(human_speed_mps, dtype=np.float64)
    t_r = np.asarray(reaction_time_s, dtype=np.float64)
    radicand = (
        v_h**2
        + (a_s * t_r) ** 2
        - 2.0 * a_s * np.asarray(clearance_m)
        + 2.0 * a_s * (np.asarray(distance_m, dtype=np.float64))
    )
    root = np.sqrt(np.maximum(radicand, 0.0))
    speed = root - (a_s * t_r + v_h)
    return np.where((radicand >= 0.0) & (speed > 0.0), speed, 0.0)


def max_speed_fixed_stopping(
    distance_m: np.ndarray | float,
    human_speed_mps: np.ndarray | float,
    reaction_time_s: np.ndarray | float,
    stopping_time_s: float,
    stopping_distance_m: float,
    clearance_m: np.ndarray | float,
) -> np.ndarray:
    """Velocity scaling when T_s and S_s are fixed (measured at maximum speed), element-wise.

    From d = v_h·(T_r + T_s) + v_r·T_r + S_s + C': v_r,max = (d − v_h·(T_r+T_s) − S_s − C')/T_r.
    With T_r = 0 any speed is allowed while d > the rest (returned as +inf), none otherwise.
    """
    t_r = np.asarray(reaction_time_s, dtype=np.float64)
    rest = np.asarray(distance_m, dtype=np.float64) - (
        np.asarray(human_speed_mps) * (t_r + stopping_time_s)
        + stopping_distance_m
        + np.asarray(clearance_m)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = np.where(t_r > 0.0, rest / np.where(t_r > 0.0, t_r, 1.0), np.inf)
    return np.where(rest > 0.0, speed, 0.0)
