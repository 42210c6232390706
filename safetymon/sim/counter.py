"""The humanoid service counter of the demo: counter, shelf, a walking humanoid, people.

Floor frame: metres, x east along the counter, y north from the shop toward the staff
side, z up (the site's frame, ``safetymon/examples/demo-humanoid-counter.yaml``). Times are
seconds of scene time from 0. The people are a pure function of time; the humanoid is
whatever the simulated robot says it is (`HumanoidPose`, turned into link capsules with
the robot's own URDF by `HumanoidBody`), so the camera shows the robot that really moved.

Everything is laid out from the site's zones: the robot's permitted (envelope) zone is the
staff side, with the counter along its southern edge, a shelf along its northern edge and
the humanoid's patrol loop between them; the first protective zone is the service point in
front of the counter; the first warning zone is the shop floor in front of that.

The script (45 s):

* person 1 crosses the shop south of the warning zone, far from the humanoid: RUN;
* person 2 walks across the warning zone's outer part: SLOW (the humanoid walks slower);
* person 3 walks up to the counter's east end, into the service point (protective zone),
  stays 4 s and leaves: STOP (the humanoid stands still), then RUN after the restart delay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from safetymon.config.robots import RobotConfig
from safetymon.config.site import SiteConfig
from safetymon.config.zones import ZoneConfig, ZoneType
from safetymon.geometry.ssm import stopping_for
from safetymon.robot.geometry import RobotModel
from safetymon.robot.kinematics import UrdfChain
from safetymon.sim.camera import SimCamera
from safetymon.sim.cell import ScriptedPerson, Table, first_zone
from safetymon.sim.humanoid import (
    PELVIS_HEIGHT_M,
    GaitModel,
    HumanoidPose,
    HumanoidWalker,
    PatrolLoop,
    WalkState,
    state_message,
)
from safetymon.sim.people import BGR, Appearance, Capsule, PersonPose
from safetymon.sim.render import (
    LABEL_FIRST_PERSON,
    LABEL_ROBOT,
    CellRenderer,
    Room,
    capsule_mask,
)
from safetymon.sim.scenario import Walker

COUNTER_DURATION_S = 45.0
"""Length of the script, seconds."""
COUNTER_HEIGHT_M = 0.75
SHELF_HEIGHT_M = 1.4
COUNTER_ROOM = Room(x0=-2.5, y0=-5.0, x1=8.5, y1=7.6, height_m=4.6)
"""The shop around the counter (walls and ceiling), metres."""

_SHELL: BGR = (222, 224, 226)
_DARK: BGR = (58, 60, 66)
_ACCENT: BGR = (30, 130, 235)
_COUNTER: BGR = (120, 150, 185)
_SHELF: BGR = (150, 138, 122)


@dataclass(frozen=True)
class HumanoidCapsules:
    """The humanoid's link capsules in the floor frame (the decision's form) and their looks.

    Attributes:
        link_a, link_b: (L, 3) capsule axis endpoints, metres.
        radius_m: (L,) radii, metres.
        colours: (L,) BGR colour of each capsule.
        base_xy: (2,) the base's floor point, metres.
    """

    link_a: np.ndarray
    link_b: np.ndarray
    radius_m: np.ndarray
    colours: tuple[BGR, ...]
    base_xy: np.ndarray


class HumanoidBody:
    """Turns `HumanoidPose`s into floor-frame capsules with the robot's configured URDF.

    Args:
        robot: the humanoid's config (``geometry`` kind urdf, the demo humanoid's joints).
        base_dir: the site file's folder (relative URDF paths).

    Raises:
        ValueError: the robot's geometry is not a URDF, or it cannot be loaded.
    """

    def __init__(self, robot: RobotConfig, base_dir: Path) -> None:
        self.robot = robot
        self.model = RobotModel(robot, base_dir)
        chain = self.model.chain
        if not isinstance(chain, UrdfChain):
            raise ValueError(f"robot {robot.id}: the demo humanoid needs geometry kind urdf")
        self.colours = tuple(_colour(frame) for frame in chain.capsule_frames)

    def capsules(self, pose: HumanoidPose) -> HumanoidCapsules:
        """The capsules of ``pose``.

        Raises:
            MessageError: the pose does not fit the robot (joint count or limits).
        """
        floor = self.model.capsules(state_message(pose, self.robot.id, 1))
        return HumanoidCapsules(floor.a, floor.b, floor.radius_m, self.colours, floor.base_xy)


def _colour(frame: str) -> BGR:
    """A capsule's colour from its frame: shells light, joints dark, torso and feet accented."""
    if not frame.startswith("collision:"):
        return _DARK  # a joint-to-joint capsule: the robot's "skeleton"
    link = frame.split(":", 1)[1].rsplit("/", 1)[0]
    if link == "torso":
        return _ACCENT
    if link.endswith("_foot") or link == "pelvis":
        return _DARK
    return _SHELL


@dataclass(frozen=True)
class CounterState:
    """The scene at one instant, with ground truth.

    Attributes:
        time_s: scene time, seconds.
        people: posed people in the scene (floor positions and velocities are ground truth).
        humanoid: the humanoid's capsules, or None when its pose is not known yet.
    """

    time_s: float
    people: tuple[PersonPose, ...]
    humanoid: HumanoidCapsules | None


@dataclass(frozen=True)
class CounterScene:
    """The service counter: zones taped on the floor, the counter, a shelf, scripted people,
    and the humanoid's patrol loop.

    Attributes:
        zones: the zones drawn on the floor (envelope zones are not taped).
        table: the counter (named like the arm cell's table: the floor is worn around it).
        shelf: the shelf behind the humanoid.
        loop: the humanoid's patrol loop.
        people: the scripted people.
        duration_s: the script's length, seconds.
    """

    zones: tuple[ZoneConfig, ...]
    table: Table
    shelf: Table
    loop: PatrolLoop
    people: tuple[ScriptedPerson, ...]
    duration_s: float = COUNTER_DURATION_S

    @classmethod
    def from_site(cls, config: SiteConfig, robot_id: str | None = None) -> CounterScene:
        """The counter and script laid out on a site's zones (see the module docstring).

        Raises:
            ValueError: no such robot, the robot has no permitted zone, or the site lacks a
                protective or a warning zone.
        """
        robot = _robot(config, robot_id)
        if robot.permitted_zone is None:
            raise ValueError(f"robots: {robot.id} needs a permitted_zone (the staff side)")
        ex0, ey0, ex1, ey1 = config.zone(robot.permitted_zone).shape().bounds
        _, py0, px1, py1 = first_zone(config, ZoneType.PROTECTIVE).shape().bounds
        wx0, wy0, wx1, _ = first_zone(config, ZoneType.WARNING).shape().bounds
        counter = Table(ex0 + 0.3, ey0 - 0.5, ex1 - 0.6, ey0, COUNTER_HEIGHT_M)
        shelf = Table(ex0, ey1 - 0.35, ex1, ey1, SHELF_HEIGHT_M)
        radius = 0.3
        loop = PatrolLoop(ex0 + 1.0, ey0 + 0.8, (ex1 - ex0) - 2.0 - 2 * radius, radius)
        service = (px1 - 0.4, 0.5 * (py0 + py1))  # the counter's east end
        people = (
            ScriptedPerson(1, (Walker(1, np.array([[wx0 - 2.0, wy0 - 1.6],
                                                    [wx1 + 2.0, wy0 - 1.3]]), 1.2, 2.5),),
                           Appearance.varied(0)),
            ScriptedPerson(2, (Walker(2, np.array([[wx1 + 2.0, wy0 + 0.35],
                                                    [wx0 - 2.0, wy0 + 0.35]]), 1.0, 11.0),),
                           Appearance.varied(1)),
            ScriptedPerson(
                3,
                (
                    Walker(3, np.array([[wx1 + 1.5, wy0 - 0.8], service]), 1.1, 26.5),
                    Walker(3, np.array([service, [wx1 + 2.0, wy0 - 1.8]]), 1.2, 34.5),
                ),
                Appearance.varied(3),
            ),
        )  # fmt: skip
        zones = tuple(zone for zone in config.zones if zone.type is not ZoneType.ENVELOPE)
        return cls(zones, counter, shelf, loop, people)

    def walker(self, robot: RobotConfig) -> HumanoidWalker:
        """The humanoid's walk on this scene's loop, braking as the robot's base stopping
        says (``stability.base_stopping``: from walking speed to standstill in its stopping
        time).

        Raises:
            ValueError: the robot has no ``stability.base_stopping`` (a humanoid's braking
                must be configured) or it gives no positive stopping time.
        """
        if robot.stability is None:
            raise ValueError(f"robot {robot.id}: a humanoid needs stability.base_stopping")
        gait = GaitModel()
        stopping = stopping_for(robot.stability.base_stopping, gait.walk_speed_mps)
        stopping_s = stopping.stopping_time_s
        if not stopping_s > 0.0:
            raise ValueError(
                f"robot {robot.id}: stability.base_stopping gives a stopping time of "
                f"{stopping_s} s at {gait.walk_speed_mps} m/s; it must be > 0"
            )
        return HumanoidWalker(self.loop, gait, slow_down_per_s=1.0 / stopping_s)

    def state_at(self, time_s: float, humanoid: HumanoidCapsules | None) -> CounterState:
        """The scene at ``time_s`` with the humanoid as given.

        Raises:
            ValueError: a non-finite time.
        """
        if not math.isfinite(time_s):
            raise ValueError(f"time_s must be finite, got {time_s!r}")
        poses = tuple(p for person in self.people if (p := person.pose_at(time_s)) is not None)
        return CounterState(time_s, poses, humanoid)


def start_pose(scene: CounterScene, time_s: float = 0.0) -> HumanoidPose:
    """The humanoid standing at the start of its loop (before it walks)."""
    walker = HumanoidWalker(scene.loop, GaitModel(), pelvis_height_m=PELVIS_HEIGHT_M)
    return walker.pose(WalkState(time_s))


def counter_camera() -> SimCamera:
    """The counter's camera: on the shop's south wall, looking north over the shop floor.

    Mounted at (3.0, -3.2, 4.4) m, aimed at (3.0, 3.0, 0.0) m, 58° horizontal field of view,
    640x480 pixels: the shop floor, the counter and the humanoid behind it stay in view.
    """
    return SimCamera.look_at((3.0, -3.2, 4.4), (3.0, 3.0, 0.0), math.radians(58.0))


class CounterRenderer(CellRenderer):
    """Renders `CounterState`s of a `CounterScene` through a `SimCamera` (`render` and
    `render_with_truth` are the cell's; this class draws the counter's scene).

    Args:
        scene: the counter scene.
        camera: the camera; images are ``camera.image_size``.
        seed: seed of the floor texture and the sensor noise.
        noise_sigma: standard deviation of the sensor noise, grey levels (0: none).
    """

    def __init__(
        self, scene: CounterScene, camera: SimCamera, seed: int = 0, noise_sigma: float = 2.0
    ) -> None:
        super().__init__(scene, camera, seed, noise_sigma, COUNTER_ROOM)  # type: ignore[arg-type]
        self.counter_scene = scene

    def reference(self, with_robot: bool = False, arm_phase_rad: float = 0.0) -> np.ndarray:
        """The commissioning reference: the empty shop (counter and shelf) without noise."""
        image = self._background.copy()
        self._draw_furniture(image, None)
        return image

    def robot_mask(self, state: CounterState, margin_px: int = 0) -> np.ndarray:  # type: ignore[override]
        """(H, W) bool: pixels covered by the humanoid's capsules (ignoring occlusion)."""
        width, height = self.camera.image_size
        body = state.humanoid
        if body is None:
            return np.zeros((height, width), bool)
        return capsule_mask(self.camera, body.link_a, body.link_b, body.radius_m, margin_px)

    def _draw_furniture(self, image: np.ndarray, labels: np.ndarray | None) -> None:
        scene = self.counter_scene
        boxes = sorted((scene.shelf, scene.table), key=lambda box: -self._depth_of(box))
        for box in boxes:
            colour = _COUNTER if box is scene.table else _SHELF
            self._draw_box(image, labels, box, colour)

    def _depth_of(self, box: Table) -> float:
        centre = np.array([[(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2, box.height_m / 2]])
        return float(self.camera.depth(centre)[0])

    def _draw_scene(  # type: ignore[override]
        self,
        image: np.ndarray,
        labels: np.ndarray | None,
        state: CounterState,
        people: bool,
        robot: bool,
    ) -> None:
        """Far to near: shelf, humanoid, counter, then the people (painter's algorithm)."""
        scene = self.counter_scene
        groups: list[tuple[float, int, object]] = [
            (self._depth_of(scene.shelf), 0, scene.shelf),
            (self._depth_of(scene.table), 0, scene.table),
        ]
        if robot and state.humanoid is not None:
            base = state.humanoid.base_xy
            centre = np.array([[base[0], base[1], 0.7]])
            groups.append((float(self.camera.depth(centre)[0]), 0, state.humanoid))
        if people:
            for index, pose in enumerate(state.people):
                self._draw_shadow(image, pose)
                centre = np.array([[pose.xy[0], pose.xy[1], 0.9]])
                groups.append((float(self.camera.depth(centre)[0]), index + 1, pose))
        for _, index, item in sorted(groups, key=lambda g: -g[0]):
            if isinstance(item, Table):
                colour = _COUNTER if item is scene.table else _SHELF
                self._draw_box(image, labels, item, colour)
            elif isinstance(item, HumanoidCapsules):
                self._draw_humanoid(image, labels, item)
            else:
                assert isinstance(item, PersonPose)
                self._draw_person(image, labels, item, LABEL_FIRST_PERSON + index - 1)

    def _draw_humanoid(
        self, image: np.ndarray, labels: np.ndarray | None, body: HumanoidCapsules
    ) -> None:
        capsules = [
            Capsule(a, b, float(r), colour, "humanoid")
            for a, b, r, colour in zip(
                body.link_a, body.link_b, body.radius_m, body.colours, strict=True
            )
        ]
        self._draw_capsules(image, labels, capsules, LABEL_ROBOT)


def _robot(config: SiteConfig, robot_id: str | None) -> RobotConfig:
    robots = [r for r in config.robots if robot_id is None or r.id == robot_id]
    if not robots:
        raise ValueError(f"robot_id: no robot {robot_id!r} in site {config.site!r}")
    return robots[0]
