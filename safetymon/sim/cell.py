"""The scripted demo work cell: a table with an arm, people walking set paths, ground truth.

Floor frame: metres, x east, y north, z up (the site's frame). Times are seconds of scene
time from 0. Everything here is a pure function of time (and, for the arm, of the phase the
caller integrates with the decision's speed scale), so the demo, tests and benchmarks see
the same scene.

The script (about 36 s), on a site with a protective zone inside a warning zone:

* person 1 cuts across the warning zone's south-west corner from the south, leaving the
  camera's view to the west, far from the arm (a SLOW episode, no STOP);
* person 2 walks into the protective zone, stands there 5 s (a STOP episode) and leaves;
* person 3 cuts across the warning zone's south-east corner (another SLOW episode).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import shapely

from safetymon.config.site import SiteConfig
from safetymon.config.zones import ZoneConfig, ZoneType
from safetymon.sim.camera import SimCamera
from safetymon.sim.people import Appearance, PersonPose
from safetymon.sim.scenario import Walker

#: Length of one gait cycle (two steps) along the path, metres.
STRIDE_CYCLE_M = 1.4
#: Default scene length, seconds.
DEMO_DURATION_S = 36.0


@dataclass(frozen=True)
class ArmCapsules:
    """The arm's links as capsules in the floor frame (the form the decision uses).

    Attributes:
        link_a, link_b: (L, 3) capsule axis endpoints, metres.
        radius_m: (L,) capsule radii, metres.
        vel_a, vel_b: (L, 3) endpoint velocities, m/s.
    """

    link_a: np.ndarray
    link_b: np.ndarray
    radius_m: np.ndarray
    vel_a: np.ndarray
    vel_b: np.ndarray


@dataclass(frozen=True)
class ArmModel:
    """A small articulated arm standing on the table (floor frame, metres, radians).

    Joints: base yaw, shoulder elevation, elbow (relative elevation of the forearm) and a
    tool pointing straight down from the wrist. The joint angles follow a periodic
    pick-and-place pattern of one phase variable; ``phase_rate_rad_s`` is the phase speed
    at speed scale 1, chosen so no point of the arm exceeds ``max_speed_mps``.
    """

    base: np.ndarray
    radius_m: float = 0.08
    column_m: float = 0.30
    upper_m: float = 0.42
    fore_m: float = 0.38
    tool_m: float = 0.14
    max_speed_mps: float = 0.8

    def joints(self, phase_rad: float) -> np.ndarray:
        """(4,) joint angles (radians) at ``phase_rad``: yaw, shoulder, elbow, wrist."""
        yaw = 1.25 * math.sin(phase_rad)
        shoulder = 0.95 + 0.25 * math.cos(2.0 * phase_rad)
        elbow = -1.75 + 0.3 * math.cos(2.0 * phase_rad)
        return np.array([yaw, shoulder, elbow, -(shoulder + elbow) - math.pi / 2])

    def points(self, phase_rad: float) -> np.ndarray:
        """(5, 3) base, shoulder, elbow, wrist and tool tip at ``phase_rad``, metres."""
        yaw, shoulder, elbow, _ = self.joints(phase_rad)
        heading = np.array([math.cos(yaw), math.sin(yaw), 0.0])
        up = np.array([0.0, 0.0, 1.0])
        base = np.asarray(self.base, dtype=np.float64)
        top = base + self.column_m * up
        elbow_point = top + self.upper_m * (math.cos(shoulder) * heading + math.sin(shoulder) * up)
        fore = shoulder + elbow
        wrist = elbow_point + self.fore_m * (math.cos(fore) * heading + math.sin(fore) * up)
        tip = wrist - self.tool_m * up
        return np.stack([base, top, elbow_point, wrist, tip])

    @cached_property
    def phase_rate_rad_s(self) -> float:
        """Phase speed (rad/s) at speed scale 1: the fastest point moves at max_speed_mps."""
        phases = np.linspace(0.0, 2.0 * math.pi, 721)
        step = 1e-4
        fastest = max(
            float(np.max(np.linalg.norm(self.points(p + step) - self.points(p - step), axis=1)))
            / (2.0 * step)
            for p in phases
        )
        return self.max_speed_mps / fastest

    def advance(self, phase_rad: float, dt_s: float, speed_scale: float) -> float:
        """The phase after ``dt_s`` seconds at ``speed_scale`` (0 = stopped, 1 = full speed).

        Raises:
            ValueError: on a negative or non-finite step or a scale outside [0, 1].
        """
        if not (math.isfinite(dt_s) and dt_s >= 0.0):
            raise ValueError(f"dt_s must be a finite number >= 0, got {dt_s!r}")
        if not (math.isfinite(speed_scale) and 0.0 <= speed_scale <= 1.0):
            raise ValueError(f"speed_scale must be in [0, 1], got {speed_scale!r}")
        return phase_rad + self.phase_rate_rad_s * speed_scale * dt_s

    def capsules(self, phase_rad: float, speed_scale: float = 0.0) -> ArmCapsules:
        """Link capsules at ``phase_rad``, with velocities for motion at ``speed_scale``.

        Raises:
            ValueError: a non-finite phase or a scale outside [0, 1].
        """
        if not math.isfinite(phase_rad):
            raise ValueError(f"phase_rad must be finite, got {phase_rad!r}")
        if not (math.isfinite(speed_scale) and 0.0 <= speed_scale <= 1.0):
            raise ValueError(f"speed_scale must be in [0, 1], got {speed_scale!r}")
        step = 1e-4
        points = self.points(phase_rad)
        rate = self.phase_rate_rad_s * speed_scale
        velocity = (self.points(phase_rad + step) - self.points(phase_rad - step)) / (2 * step)
        velocity *= rate
        links = len(points) - 1
        return ArmCapsules(
            link_a=points[:-1].copy(),
            link_b=points[1:].copy(),
            radius_m=np.full(links, self.radius_m),
            vel_a=velocity[:-1].copy(),
            vel_b=velocity[1:].copy(),
        )


@dataclass(frozen=True)
class ScriptedPerson:
    """A person following legs of scripted walking, standing still between legs.

    Each leg is a `Walker` (its own start time); between one leg's end and the next leg's
    start the person stands at the last waypoint. Before the first leg and after the last
    the person is not in the scene.
    """

    track_id: int
    legs: tuple[Walker, ...]
    appearance: Appearance

    def __post_init__(self) -> None:
        if not self.legs:
            raise ValueError(f"person {self.track_id}: legs is empty")
        for index, (leg, after) in enumerate(zip(self.legs[:-1], self.legs[1:], strict=True)):
            if after.start_s < _end_s(leg):
                raise ValueError(
                    f"person {self.track_id}: legs[{index + 1}].start_s {after.start_s} is "
                    f"before legs[{index}] ends at {_end_s(leg):.3f} s"
                )

    @property
    def end_s(self) -> float:
        """When the person leaves the scene, seconds."""
        return _end_s(self.legs[-1])

    def pose_at(self, time_s: float) -> PersonPose | None:
        """The person's pose at ``time_s``, or None when not in the scene."""
        travelled = 0.0
        for index, leg in enumerate(self.legs):
            if time_s < leg.start_s:
                if index == 0:
                    return None
                previous = self.legs[index - 1]
                return self._pose(previous.waypoints[-1], np.zeros(2), previous, travelled, 0.0)
            state = leg.at(time_s)
            if state is not None:
                xy, velocity = state
                walked = (time_s - leg.start_s) * leg.speed_mps
                return self._pose(xy, velocity, leg, travelled + walked, 1.0)
            travelled += _length(leg)
        return None

    def _pose(
        self, xy: np.ndarray, velocity: np.ndarray, leg: Walker, travelled: float, stride: float
    ) -> PersonPose:
        speed = float(np.linalg.norm(velocity))
        direction = velocity if speed > 0 else _last_direction(leg)
        return PersonPose(
            track_id=self.track_id,
            xy=np.asarray(xy, dtype=np.float64).copy(),
            velocity=np.asarray(velocity, dtype=np.float64).copy(),
            heading_rad=math.atan2(direction[1], direction[0]),
            gait_phase_rad=2.0 * math.pi * travelled / STRIDE_CYCLE_M,
            stride=stride,
            appearance=self.appearance,
        )


def _length(leg: Walker) -> float:
    return float(np.sum(np.linalg.norm(np.diff(leg.waypoints, axis=0), axis=1)))


def _end_s(leg: Walker) -> float:
    return leg.start_s + _length(leg) / leg.speed_mps


def _last_direction(leg: Walker) -> np.ndarray:
    steps = np.diff(leg.waypoints, axis=0)
    for step in steps[::-1]:
        if np.linalg.norm(step) > 0:
            return step
    return np.array([1.0, 0.0])


@dataclass(frozen=True)
class Table:
    """A box standing on the floor: [x0, x1] x [y0, y1] x [0, height_m], metres."""

    x0: float
    y0: float
    x1: float
    y1: float
    height_m: float

    def corners(self) -> np.ndarray:
        """(8, 3) corners: the four floor corners, then the four top corners."""
        ring = [(self.x0, self.y0), (self.x1, self.y0), (self.x1, self.y1), (self.x0, self.y1)]
        return np.array([(x, y, z) for z in (0.0, self.height_m) for x, y in ring])


@dataclass(frozen=True)
class SceneState:
    """The scene at one instant, with ground truth.

    Attributes:
        time_s: scene time, seconds.
        people: posed people in the scene (floor positions and velocities are ground truth).
        arm_phase_rad: the arm's phase (radians), as integrated by the caller.
        arm: the arm's link capsules (floor frame), velocities at the given speed scale.
    """

    time_s: float
    people: tuple[PersonPose, ...]
    arm_phase_rad: float
    arm: ArmCapsules


@dataclass(frozen=True)
class DemoScene:
    """The demo cell: zones to tape on the floor, a table with an arm, scripted people."""

    zones: tuple[ZoneConfig, ...]
    table: Table
    arm: ArmModel
    people: tuple[ScriptedPerson, ...]
    duration_s: float = DEMO_DURATION_S

    @classmethod
    def from_site(
        cls, config: SiteConfig, robot_id: str | None = None, corner_cut_m: float = 0.25
    ) -> DemoScene:
        """The demo script laid out on a site's first protective and warning zones.

        The arm stands at the centre of its robot's permitted zone (or of the protective
        zone), on a table 0.9 m x 0.7 m around it. The passers-by cut the warning zone's
        corners ``corner_cut_m`` metres deep (measured along the zone's edges); deeper cuts
        bring them within the arm's protective separation distance (STOP, not SLOW). At
        0.25 m a passer-by's body (0.3 m radius plus 0.1 m uncertainty) overlaps the warning
        zone for over a second while the ground-truth decision stays SLOW with a camera frame
        up to 0.2 s old (0.55 m, the earlier default, turned SLOW into STOP at 0.15 s, and a
        loaded 2-core CI machine gave the live demo frames 0.14 s old). The price: at their
        deepest the passers-by stand at the image's lower corners, partly out of view. (The
        far corners keep them in view, but there HOG's foot points are too uncertain: the
        live demo stopped for them. A roomier cell, a camera farther back and a wider warning
        zone, would give both.)

        Raises:
            ValueError: the site lacks a protective or a warning zone, or the robot.
        """
        protective = first_zone(config, ZoneType.PROTECTIVE)
        warning = first_zone(config, ZoneType.WARNING)
        robots = [r for r in config.robots if robot_id is None or r.id == robot_id]
        if not robots:
            raise ValueError(f"robot_id: no robot {robot_id!r} in site {config.site!r}")
        robot = robots[0]
        area = (
            config.zone(robot.permitted_zone).shape()
            if robot.permitted_zone is not None
            else protective.shape()
        )
        centre = area.centroid
        table = Table(centre.x - 0.45, centre.y - 0.35, centre.x + 0.45, centre.y + 0.35, 0.72)
        arm = ArmModel(
            base=np.array([centre.x, centre.y, table.height_m]),
            radius_m=robot.link_radius_m,
            max_speed_mps=0.8 * robot.max_speed_mps,
        )
        px0, py0, _, _ = protective.shape().bounds
        wx0, wy0, wx1, _ = warning.shape().bounds
        if not (math.isfinite(corner_cut_m) and corner_cut_m > 0.0):
            raise ValueError(f"corner_cut_m must be a positive number, got {corner_cut_m!r}")
        corner_cut = corner_cut_m
        people = (
            ScriptedPerson(1, (_corner_crossing((wx0, wy0), (1, 1), corner_cut, 2.0,
                                                reverse=True),),
                           Appearance.varied(0)),
            ScriptedPerson(
                2,
                (
                    Walker(2, np.array([[px0 - 2.6, py0 - 2.4], [px0 + 0.25, py0 + 0.3]]),
                           1.1, 9.0),
                    Walker(2, np.array([[px0 + 0.25, py0 + 0.3], [px0 - 0.5, py0 - 0.6],
                                        [px0 - 3.0, py0 - 1.4]]), 1.2, 17.5),
                ),
                Appearance.varied(1),
            ),
            ScriptedPerson(3, (_corner_crossing((wx1, wy0), (-1, 1), corner_cut, 25.0),),
                           Appearance.varied(2)),
        )  # fmt: skip
        zones = tuple(zone for zone in config.zones if zone.type is not ZoneType.ENVELOPE)
        return cls(zones, table, arm, people)

    def state_at(
        self, time_s: float, arm_phase_rad: float = 0.0, speed_scale: float = 0.0
    ) -> SceneState:
        """The scene at ``time_s`` with the arm at ``arm_phase_rad`` moving at ``speed_scale``.

        Raises:
            ValueError: a non-finite time or phase.
        """
        if not math.isfinite(time_s):
            raise ValueError(f"time_s must be finite, got {time_s!r}")
        if not math.isfinite(arm_phase_rad):
            raise ValueError(f"arm_phase_rad must be finite, got {arm_phase_rad!r}")
        poses = tuple(p for person in self.people if (p := person.pose_at(time_s)) is not None)
        arm = self.arm.capsules(arm_phase_rad, speed_scale)
        return SceneState(time_s, poses, arm_phase_rad, arm)


def first_zone(config: SiteConfig, kind: ZoneType) -> ZoneConfig:
    """The site's first zone of ``kind``; ValueError naming the site if it has none."""
    for zone in config.zones:
        if zone.type is kind:
            return zone
    raise ValueError(f"zones: site {config.site!r} has no {kind.value} zone for the demo script")


def _corner_crossing(
    corner: tuple[float, float],
    inward: tuple[int, int],
    cut_m: float,
    start_s: float,
    reverse: bool = False,
) -> Walker:
    """A straight walk cutting a zone corner: it passes ``cut_m`` inside along each edge.

    The walk runs clockwise around the corner (``reverse``: counter-clockwise).
    """
    inward_unit = np.array(inward, dtype=np.float64) / math.sqrt(2.0)
    along = np.array([inward_unit[1], -inward_unit[0]])
    middle = np.asarray(corner) + inward_unit * (cut_m / math.sqrt(2.0))
    half = 3.2
    ends = [middle - along * half, middle + along * half]
    if reverse:
        ends.reverse()
    return Walker(0, np.array(ends), 1.0, start_s)


def demo_camera() -> SimCamera:
    """The demo cell's camera: ceiling-mounted south of the cell, looking down obliquely.

    Mounted at (1.0, -2.6, 3.4) m, aimed at (1.0, 0.9, 0.0) m, 74° horizontal field of view,
    640x480 pixels: the whole warning zone and the people's heads stay in view.
    """
    return SimCamera.look_at((1.0, -2.6, 3.4), (1.0, 0.9, 0.0), math.radians(74.0))


def in_zone(zone: ZoneConfig, xy: np.ndarray) -> bool:
    """Whether a floor point (metres) lies inside ``zone`` (boundary counts as inside)."""
    return bool(shapely.intersects(zone.shape(), shapely.Point(float(xy[0]), float(xy[1]))))
