"""A scripted walk-through of a site: people walk set paths while each robot's arm sweeps.

It feeds the real decision engine at its configured rate in simulated time (no camera,
no robot needed), so a safety officer can see how a site file behaves before commissioning.
Floor frame: metres, z up. Each robot is a two-link arm standing at the centre of its
envelope zone (or of the site's zones), the second link sweeping a circle at the robot's
configured maximum speed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import shapely

from safetymon.config.site import SiteConfig
from safetymon.safety.decision import Decision, DecisionEngine
from safetymon.safety.inputs import CameraStatus, CycleInput, HumanBatch, RobotSnapshot
from safetymon.safety.site import compile_site

UPPER_ARM_M = 0.8
FOREARM_M = 0.5


@dataclass(frozen=True)
class Walker:
    """A person walking a polyline of floor waypoints (metres) at a constant speed (m/s)."""

    track_id: int
    waypoints: np.ndarray
    speed_mps: float
    start_s: float

    def at(self, time_s: float) -> tuple[np.ndarray, np.ndarray] | None:
        """Position and velocity at ``time_s``, or None before the start or after the end."""
        travelled = (time_s - self.start_s) * self.speed_mps
        if travelled < 0:
            return None
        for a, b in zip(self.waypoints[:-1], self.waypoints[1:], strict=True):
            length = float(np.linalg.norm(b - a))
            if travelled <= length and length > 0:
                direction = (b - a) / length
                return a + direction * travelled, direction * self.speed_mps
            travelled -= length
        return None


def _arm_base(config: SiteConfig, robot_index: int) -> np.ndarray:
    robot = config.robots[robot_index]
    if robot.permitted_zone is not None:
        centre = config.zone(robot.permitted_zone).shape().centroid
    else:
        centre = shapely.union_all([zone.shape() for zone in config.zones]).centroid
    return np.array([centre.x, centre.y])


def default_walkers(config: SiteConfig) -> list[Walker]:
    """One person walks from outside the site straight through the middle and back out."""
    shapes = [zone.shape() for zone in config.zones] or [shapely.box(0, 0, 1, 1)]
    xmin, ymin, xmax, ymax = shapely.union_all(shapes).bounds
    centre = np.array([(xmin + xmax) / 2, (ymin + ymax) / 2])
    start = np.array([xmax + 4.0, centre[1]])
    turn = centre + np.array([0.9, 0.0])
    path = np.array([start, turn, turn, start])
    return [Walker(1, path, 1.0, 1.5)]


def run_scenario(
    config: SiteConfig, duration_s: float, walkers: list[Walker] | None = None
) -> Iterator[Decision]:
    """Yield one decision per cycle of simulated time (monotonic seconds from 0).

    The simulated robots obey the decision: each sweeps at its maximum speed times the
    previous cycle's speed scale (0 while STOP).
    """
    engine = DecisionEngine(compile_site(config))
    walkers = default_walkers(config) if walkers is None else walkers
    bases = [_arm_base(config, i) for i in range(len(config.robots))]
    angles = [0.0] * len(config.robots)
    period = 1.0 / config.safety.decision_rate_hz
    memory = engine.initial_memory(0.0)
    scale = 0.0
    for step in range(int(duration_s / period) + 1):
        time_s = step * period
        humans = [(w.track_id, *state) for w in walkers if (state := w.at(time_s)) is not None]
        batch = HumanBatch.build(
            [h[0] for h in humans], [h[1] for h in humans], [h[2] for h in humans],
            [config.safety.human_radius_m] * len(humans), [0.1] * len(humans),
        )  # fmt: skip
        robots = []
        for index, robot in enumerate(config.robots):
            tip_speed = robot.max_speed_mps * scale
            angles[index] += tip_speed / FOREARM_M * period
            robots.append(
                _arm(robot.id, bases[index], angles[index], tip_speed, robot.link_radius_m)
            )
        cameras = tuple(CameraStatus(camera.id, 0.03) for camera in config.cameras)
        decision, memory = engine.step(CycleInput(time_s, batch, tuple(robots), cameras), memory)
        scale = decision.speed_scale
        yield decision


def _arm(
    robot_id: str, base: np.ndarray, angle: float, tip_speed: float, radius: float
) -> RobotSnapshot:
    """Upright upper arm; the forearm points at ``angle`` (rad), its tip moving at tip_speed."""
    elbow = np.array([base[0], base[1], UPPER_ARM_M])
    tip = elbow + FOREARM_M * np.array([math.cos(angle), math.sin(angle), 0.0])
    tip_velocity = tip_speed * np.array([-math.sin(angle), math.cos(angle), 0.0])
    return RobotSnapshot(
        robot_id=robot_id,
        age_s=0.01,
        link_a=np.array([[base[0], base[1], 0.0], elbow]),
        link_b=np.array([elbow, tip]),
        link_radius_m=np.array([radius, radius]),
        link_vel_a=np.zeros((2, 3)),
        link_vel_b=np.array([[0.0, 0.0, 0.0], tip_velocity]),
    )
