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
        base_xy: (R, 2) floor point of each robot's base origin, metres (NaN: unknown).
        base_velocity: (R, 2) its floor velocity, m/s (NaN: unknown).
    """

    link_a: np.ndarray
    link_b: np.ndarray
    link_radius_m: np.ndarray
    link_vel_a: np.ndarray
    link_vel_b: np.ndarray
    link_robot: np.ndarray
    present: np.ndarray
    state_age_s: np.ndarray
    base_xy: np.ndarray | None = None
    base_velocity: np.ndarray | None = None


def gather_links(site: CompiledSite, snapshots: list[RobotSnapshot]) -> RobotLinks:
    """Concatenate the link capsules of usable robot states (already checked by the caller)."""
    count = len(site.robots)
    present = np.zeros(count, dtype=bool)
    ages = np.zeros(count, dtype=np.float64)
    base_xy = np.full((count, 2), np.nan)
    base_velocity = np.full((count, 2), np.nan)
    parts: list[tuple[np.ndarray, ...]] = []
    for snapshot in snapshots:
        index = site.robot_index[snapshot.robot_id]
        present[index] = True
        ages[index] = snapshot.age_s
        if snapshot.base_xy is not None:
            base_xy[index] = snapshot.base_xy
        if snapshot.base_velocity is not None:
            base_velocity[index] = snapshot.base_velocity
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
    return RobotLinks(*columns, present=present, state_age_s=ages, base_xy=base_xy,
                      base_velocity=base_velocity)  # fmt: skip


@dataclass(frozen=True)
class BaseTerms:
    """A dynamically stable robot's base in S_p (docs/ROBOT.md, "Dynamically stable robots").

    Attributes:
        envelope: (a, b, radius, vel_a, vel_b, robot index) of each fall envelope: a vertical
            capsule of radius ``fall_reach_m`` on the base's floor point, moving with the base.
        speed_mps: (R,) base speed used for braking: the measured one, or the largest base
            speed where unknown; 0 for other robots.
        stop_time_s, stop_distance_m: (R,) the base's stopping time T_b and distance S_b at
            that speed (0 for other robots).
        unknown_speed_mps: (R,) ``speed_mps`` where the base velocity is unknown, else 0.
    """

    envelope: tuple[np.ndarray, ...]
    speed_mps: np.ndarray
    stop_time_s: np.ndarray
    stop_distance_m: np.ndarray
    unknown_speed_mps: np.ndarray


def base_stopping(site: CompiledSite, speed_mps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R,) base stopping time T_b (s) and distance S_b (m) at base speeds ``speed_mps``:
    from the base deceleration, or the measured constants; 0 for robots without a base."""
    decel = site.base_deceleration_mps2
    has_decel = np.isfinite(decel)
    safe = np.where(has_decel, decel, 1.0)
    time_s = np.where(has_decel, speed_mps / safe, np.nan_to_num(site.base_stopping_time_s))
    distance_m = np.where(
        has_decel, speed_mps**2 / (2 * safe), np.nan_to_num(site.base_stopping_distance_m)
    )
    return time_s, distance_m


def base_terms(site: CompiledSite, links: RobotLinks) -> BaseTerms:
    """Fall envelopes and base braking of the present dynamically stable robots."""
    robots = len(site.robots)
    stable = np.isfinite(site.fall_reach_m) & links.present
    xy = links.base_xy if links.base_xy is not None else np.full((robots, 2), np.nan)
    vel = links.base_velocity if links.base_velocity is not None else np.full((robots, 2), np.nan)
    known = np.all(np.isfinite(vel), axis=1)
    speed = np.where(known, np.linalg.norm(np.nan_to_num(vel), axis=1), site.max_base_speed_mps)
    speed = np.where(stable, speed, 0.0)
    stop_time, stop_distance = base_stopping(site, speed)
    stop_time = np.where(stable, stop_time, 0.0)
    stop_distance = np.where(stable, stop_distance, 0.0)
    rows = np.flatnonzero(stable & np.all(np.isfinite(xy), axis=1))
    a = np.c_[xy[rows], np.zeros(rows.size)]
    b = np.c_[xy[rows], site.height_m[rows]]
    v = np.c_[np.where(known[rows, None], np.nan_to_num(vel[rows]), 0.0), np.zeros(rows.size)]
    envelope = (a, b, site.fall_reach_m[rows], v, v.copy(), rows.astype(np.int64))
    unknown = np.where(stable & ~known, speed, 0.0)
    return BaseTerms(envelope, speed, stop_time, stop_distance, unknown)


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

    A dynamically stable robot (`base_terms`) is also its fall envelope toward people, and
    its base's braking adds v_h·T_b + S_b (base speed v_b: T_b = v_b / a_b, S_b = v_b² /
    (2·a_b), or the measured data) to S_p, as if the base braked after the links stopped.
    """
    safety = site.safety
    robots = len(site.robots)
    base = base_terms(site, links)
    speed_now = np.maximum(_link_speed_magnitude(links, robots), base.speed_mps)
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
    base_time_max, base_dist_max = base_stopping(site, site.max_base_speed_mps)
    bound = (
        human_speed_max * (reaction + stop_time_max + base_time_max)
        + robot_speed_max * reaction
        + stop_dist_max
        + base_dist_max
        + safety.intrusion_distance_m
        + float(np.max(z_d, initial=safety.human_uncertainty_m))
        + site.uncertainty_m
    )
    cutoff = float(np.max(bound, initial=0.0)) + safety.warning_margin_m + safety.hysteresis_m
    cutoff += 0.01  # values at the cutoff itself must be exact

    heights = np.full(humans.count, safety.human_height_m)
    # toward people a dynamically stable robot is its links and its fall envelope
    columns = (links.link_a, links.link_b, links.link_radius_m, links.link_vel_a,
               links.link_vel_b, links.link_robot)  # fmt: skip
    if base.envelope[-1].size:  # copies only while a dynamically stable robot is present
        columns = tuple(np.ascontiguousarray(np.r_[c, e]) for c, e in zip(columns,
                        base.envelope, strict=True))  # fmt: skip
    distance, robot_speed, human_toward = human_robot_separation(
        humans.xy, humans.velocity, humans.radius_m, heights, *columns, robots, cutoff
    )
    # a base whose velocity is unknown may come straight at the person at its largest speed
    robot_speed = np.maximum(robot_speed, base.unknown_speed_mps[None, :])
    human_speed = np.maximum(human_toward, safety.human_speed_mps)
    # the base brakes after the links' stop (an upper bound: stopping times add)
    clearance = (
        clearance
        + human_speed * base.stop_time_s[None, :]
        + base.stop_distance_m[None, :]
    )
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
