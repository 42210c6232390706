"""A site's worst-case protective separation distance S_p per robot (ISO/TS 15066), pure.

For ``safetymon config check`` and for judging zone edits (``geometry.protection``): S_p of a
robot moving at its configured maximum speed toward a person at the floor walking speed,
with the reaction time the decision would use when its inputs are as old as it accepts.
"""

from __future__ import annotations

from collections.abc import Mapping

from safetymon.config.site import SiteConfig
from safetymon.geometry.ssm import protective_separation_distance, stopping_for


def camera_latencies_s(
    config: SiteConfig, camera_latency_s: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Camera id → glass-to-frame latency (seconds): ``camera_latency_s`` (resolved with the
    calibration files) where given, else the site file's (``configured_latency_s``)."""
    given = camera_latency_s or {}
    return {
        camera.id: given.get(camera.id, camera.configured_latency_s())
        for camera in config.cameras
    }


def input_age_limits_s(
    config: SiteConfig, robot_index: int, camera_latency_s: Mapping[str, float] | None = None
) -> tuple[float, float]:
    """The oldest camera light and robot state (seconds) the decision still uses for a robot.

    The decision adds the largest camera frame age plus that camera's glass-to-frame latency
    and the robot state's age to T_r; beyond the age limits the input is stale and the robot
    is stopped anyway.
    """
    latency = camera_latencies_s(config, camera_latency_s)
    camera_s = max(
        (camera.max_frame_age_s + latency[camera.id] for camera in config.cameras), default=0.0
    )
    return camera_s, config.robots[robot_index].max_state_age_s


def robot_separation_m(
    config: SiteConfig,
    robot_index: int,
    *,
    at_age_limits: bool = True,
    camera_latency_s: Mapping[str, float] | None = None,
) -> float:
    """S_p in metres for a robot at its maximum speed and a person at the floor speed; for
    a dynamically stable robot plus its base braking at its largest base speed and its fall
    reach (its fall envelope extends its geometry toward people that far).

    Args:
        at_age_limits: add the input age limits (`input_age_limits_s`) to the reaction time,
            as the decision does with the measured ages: the largest S_p under which the
            monitor still lets the robot move. False: fresh inputs (configured reaction times
            and the largest camera latency only).
        camera_latency_s: cameras' glass-to-frame latencies resolved with their calibration
            files (default: the site file's, ``camera_latencies_s``).
    """
    robot = config.robots[robot_index]
    safety = config.safety
    stopping = stopping_for(robot.stopping, robot.max_speed_mps)
    reaction_s = safety.reaction_time_s + robot.reaction_time_s
    if at_age_limits:
        reaction_s += sum(input_age_limits_s(config, robot_index, camera_latency_s))
    else:
        reaction_s += max(camera_latencies_s(config, camera_latency_s).values(), default=0.0)
    terms = protective_separation_distance(
        human_speed_mps=safety.human_speed_mps,
        robot_speed_mps=robot.max_speed_mps,
        reaction_time_s=reaction_s,
        stopping_time_s=stopping.stopping_time_s,
        stopping_distance_m=stopping.stopping_distance_m,
        intrusion_distance_m=safety.intrusion_distance_m,
        human_uncertainty_m=safety.human_uncertainty_m,
        robot_uncertainty_m=robot.uncertainty_m,
    )
    separation_m = terms.protective_separation_distance_m
    if robot.stability is not None:  # base braking at its largest speed, and the fall reach
        base = stopping_for(robot.stability.base_stopping, robot.stability.max_base_speed_mps)
        separation_m += (
            safety.human_speed_mps * base.stopping_time_s
            + base.stopping_distance_m
            + robot.stability.fall_reach_m
        )
    return separation_m
