"""Per-cycle geometry: human-robot separation against S_p, and zone clearances.

Pure functions over arrays (floor frame, metres, m/s, seconds); the Numba kernels do the
pairwise work. The decision (``decision.py``) applies thresholds, hysteresis and memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from safetymon.geometry.kernels import human_robot_separation, segments_polygons_signed_distance
from safetymon.geometry.ssm import max_speed_deceleration, max_speed_fixed_stopping
from safetymon.safety.inputs import HumanBatch, RobotSnapshot
from safetymon.safety.site import CompiledSite, ZoneGroup


@dataclass(frozen=True)
class RobotLinks:
    """Link capsules of every robot whose state is usable this cycle, concatenated.

    Attributes:
        link_a, link_b, link_vel_a, link_vel_b: (L, 3) endpoints (m) and their velocities (m/s).
        link_radius_m: (L,) radii, metres.
        link_robot: (L,) int64 index into ``CompiledSite.robots``.
        present: (R,) bool, robots with usable state.
        state_age_s: (R,) age of each robot's state, seconds (0 where absent).
    """

    link_a: np.ndarray
    link_b: np.ndarray
    link_radius_m: np.ndarray
    link_vel_a: np.ndarray
    link_vel_b: np.ndarray
    link_robot: np.ndarray
    present: np.ndarray
    state_age_s: np.ndarray


def gather_links(site: CompiledSite, snapshots: list[RobotSnapshot]) -> RobotLinks:
    """Concatenate the link capsules of usable robot states (already checked by the caller)."""
    count = len(site.robots)
    present = np.zeros(count, dtype=bool)
    ages = np.zeros(count, dtype=np.float64)
    parts: list[tuple[np.ndarray, ...]] = []
    for snapshot in snapshots:
        index = site.robot_index[snapshot.robot_id]
        present[index] = True
        ages[index] = snapshot.age_s
        links = snapshot.link_a.shape[0]
        parts.append(
            (
                snapshot.link_a,
                snapshot.link_b,
                snapshot.link_radius_m,
                snapshot.link_vel_a,
                snapshot.link_vel_b,
                np.full(links, index, dtype=np.int64),
            )
        )
    if parts:
        columns = [
            np.ascontiguousarray(np.concatenate(column)) for column in zip(*parts, strict=True)
        ]
    else:
        empty3 = np.zeros((0, 3))
        columns = [empty3, empty3, np.zeros(0), empty3, empty3, np.zeros(0, dtype=np.int64)]
    return RobotLinks(*columns, present=present, state_age_s=ages)


@dataclass(frozen=True)
class Separation:
    """Human-robot separation of one cycle, each array (H, R).

    Attributes:
        distance_m: capsule surface distance (exact up to ``cutoff_m``, a lower bound beyond).
        protective_m: S_p for the pair (ISO/TS 15066), metres.
        allowed_speed_mps: largest robot speed keeping ``distance_m`` >= S_p (velocity
            scaling), m/s.
        human_speed_mps: human approach speed used (never below the configured floor), m/s.
        robot_speed_mps: robot approach speed toward the human, m/s.
        cutoff_m: pairs farther than this need no exact distance (no rule can fire).
    """

    distance_m: np.ndarray
    protective_m: np.ndarray
    allowed_speed_mps: np.ndarray
    human_speed_mps: np.ndarray
    robot_speed_mps: np.ndarray
    cutoff_m: float


def _link_speed_magnitude(links: RobotLinks, robots: int) -> np.ndarray:
    """Largest link endpoint speed of each robot, m/s (0 for robots without links)."""
    speeds = np.maximum(
        np.linalg.norm(links.link_vel_a, axis=1), np.linalg.norm(links.link_vel_b, axis=1)
    )
    per_robot = np.zeros(robots)
    np.maximum.at(per_robot, links.link_robot, speeds)
    return per_robot


def separation(
    site: CompiledSite, humans: HumanBatch, links: RobotLinks, camera_age_s: float
) -> Separation:
    """Distances, S_p and velocity-scaling limits for every (human, robot) pair.

    Reaction time per robot: monitor + controller reaction time + the newest camera frame's
    age + the robot state's age. Stopping: with a constant deceleration a_s and the robot's
    current speed |v| (largest link endpoint speed), T_s = |v| / a_s and the stopping travel
    toward the human is S_s = v_r·|v| / (2·a_s) (>= v_r² / (2·a_s)); measured stopping data
    are used as constants.
    """
    safety = site.safety
    robots = len(site.robots)
    speed_now = _link_speed_magnitude(links, robots)
    reaction = site.reaction_time_s + camera_age_s + links.state_age_s  # (R,)
    decel = site.deceleration_mps2
    has_decel = np.isfinite(decel)
    safe_decel = np.where(has_decel, decel, 1.0)
    stop_time_now = np.where(has_decel, speed_now / safe_decel, site.stopping_time_s)
    z_d = np.maximum(humans.uncertainty_m, safety.human_uncertainty_m)  # (H,)
    clearance = safety.intrusion_distance_m + z_d[:, None] + site.uncertainty_m[None, :]

    # Upper bound of S_p + margin over all pairs: beyond it no rule can fire (kernel pruning).
    human_speed_max = max(
        safety.human_speed_mps,
        float(np.max(np.linalg.norm(humans.velocity, axis=1), initial=0.0)),
    )
    robot_speed_max = np.maximum(speed_now, site.max_speed_mps)
    stop_time_max = np.where(has_decel, robot_speed_max / safe_decel, site.stopping_time_s)
    stop_dist_max = np.where(
        has_decel, robot_speed_max**2 / (2 * safe_decel), site.stopping_distance_m
    )
    bound = (
        human_speed_max * (reaction + stop_time_max)
        + robot_speed_max * reaction
        + stop_dist_max
        + safety.intrusion_distance_m
        + float(np.max(z_d, initial=safety.human_uncertainty_m))
        + site.uncertainty_m
    )
    cutoff = float(np.max(bound, initial=0.0)) + safety.warning_margin_m + safety.hysteresis_m
    cutoff += 0.01  # values at the cutoff itself must be exact

    heights = np.full(humans.count, safety.human_height_m)
    distance, robot_speed, human_toward = human_robot_separation(
        humans.xy,
        humans.velocity,
        humans.radius_m,
        heights,
        links.link_a,
        links.link_b,
        links.link_radius_m,
        links.link_vel_a,
        links.link_vel_b,
        links.link_robot,
        robots,
        cutoff,
    )
    human_speed = np.maximum(human_toward, safety.human_speed_mps)
    stop_distance = np.where(
        has_decel[None, :],
        robot_speed * speed_now[None, :] / (2 * safe_decel[None, :]),
        site.stopping_distance_m[None, :],
    )
    protective = (
        human_speed * (reaction[None, :] + stop_time_now[None, :])
        + robot_speed * reaction[None, :]
        + stop_distance
        + clearance
    )
    allowed = np.where(
        has_decel[None, :],
        max_speed_deceleration(
            distance, human_speed, reaction[None, :], safe_decel[None, :], clearance
        ),
        max_speed_fixed_stopping(
            distance,
            human_speed,
            reaction[None, :],
            np.nan_to_num(site.stopping_time_s)[None, :],
            np.nan_to_num(site.stopping_distance_m)[None, :],
            clearance,
        ),
    )
    return Separation(distance, protective, allowed, human_speed, robot_speed, cutoff)


def people_zone_clearance(
    group: ZoneGroup, humans: HumanBatch, extent_m: np.ndarray, reach_m: float
) -> np.ndarray:
    """(H, Z) distance in metres from each person's body (radius + uncertainty) to each zone.

    ``<= 0`` means the body overlaps the zone. Values beyond ``reach_m`` may be +inf.
    """
    if group.packed.count == 0 or humans.count == 0:
        return np.full((humans.count, group.packed.count), np.inf)
    signed = segments_polygons_signed_distance(
        humans.xy,
        humans.xy,
        group.packed.vertices,
        group.packed.offsets,
        group.packed.bboxes,
        reach_m,
    )
    return signed - extent_m[:, None]


def link_zone_signed_distance(group: ZoneGroup, links: RobotLinks, reach_m: float) -> np.ndarray:
    """(L, Z) signed distance in metres from each link's floor projection to each zone.

    Negative: the link's axis lies inside by that much; 0: it crosses the boundary; positive:
    outside by that much (possibly +inf beyond ``reach_m``).
    """
    if group.packed.count == 0 or links.link_a.shape[0] == 0:
        return np.full((links.link_a.shape[0], group.packed.count), np.inf)
    return segments_polygons_signed_distance(
        links.link_a,
        links.link_b,
        group.packed.vertices,
        group.packed.offsets,
        group.packed.bboxes,
        reach_m,
    )
