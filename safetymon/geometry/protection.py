"""How much protection a change of a site's zones takes away (pure; floor metres, z up).

Issue 15, finding 13: with the token, a protective zone shrunk to 1 mm² 50 m away, or a
robot envelope grown to 200 m, was accepted and applied without a word. A change is now
judged against what the zones are for:

- **per changed zone** of type protective, restricted or envelope: area before and after,
  the area lost (before minus after, never negative) and, for protective zones, the
  distance from the robot's reach to the zone;
- **per robot**: the *required region* R = its reach grown by its worst-case S_p
  (``site_separation.robot_separation_m``: maximum speed, inputs at their age limits).
  Its reach is its ``permitted_zone`` (the envelope it must stay in); a robot without one
  stands at its ``base_pose`` point. The *cover* is the fraction of R's area inside the
  union of the protective zones, and the *depth* how far around the reach they reach in
  their tightest direction (0 when some of the reach itself is uncovered).

A change that lowers a robot's cover (beyond ``COVER_TOLERANCE``) is **refused** unless the
new site says the cell is protected another way (``safety.protected_otherwise``); it is
then still reported. Covers that were already short stay allowed when an edit does not
lower them further, so a cell whose separation monitoring does the protecting is not
blocked from moving a warning zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from safetymon.config.site import SiteConfig
from safetymon.config.zones import ZoneType
from safetymon.geometry.site_separation import robot_separation_m

COVER_TOLERANCE = 1e-4
"""A cover lower by at most this fraction is unchanged (floating-point area noise)."""
WATCHED_TYPES = (ZoneType.PROTECTIVE, ZoneType.RESTRICTED, ZoneType.ENVELOPE)
"""Zone types whose changes are judged (warning zones only slow the robot)."""


@dataclass(frozen=True)
class ZoneChange:
    """One watched zone that differs between two sites.

    Attributes:
        zone_id, zone_type: the zone.
        area_before_m2, area_after_m2: its area, None where it does not exist.
        lost_m2: area before minus after (>= 0): floor that zone no longer covers.
        reach_distance_before_m, reach_distance_after_m: protective zones only: distance from
            the nearest robot's reach to the zone (0: they overlap), None otherwise.
    """

    zone_id: str
    zone_type: str
    area_before_m2: float | None
    area_after_m2: float | None
    lost_m2: float
    reach_distance_before_m: float | None = None
    reach_distance_after_m: float | None = None

    def line(self) -> str:
        """One human-readable sentence."""
        if self.area_after_m2 is None:
            what = f"removed ({self.area_before_m2:.2f} m² no longer covered)"
        elif self.area_before_m2 is None:
            what = f"added ({self.area_after_m2:.2f} m²)"
        else:
            what = f"area {self.area_before_m2:.2f} → {self.area_after_m2:.2f} m²" + (
                f", {self.lost_m2:.2f} m² lost" if self.lost_m2 > 0 else ""
            )
        reach = ""
        if self.reach_distance_after_m is not None or self.reach_distance_before_m is not None:
            reach = f"; from the robot's reach {_m(self.reach_distance_before_m)} → " + _m(
                self.reach_distance_after_m
            )
        return f"{self.zone_type} zone {self.zone_id!r}: {what}{reach}"


@dataclass(frozen=True)
class RobotCover:
    """How much of one robot's required region the protective zones cover, before and after.

    Attributes:
        robot_id: the robot.
        separation_m: its worst-case S_p after the change (metres).
        reach: "envelope 'ID'" or "base point (x, y)": what stands for its reach.
        required_m2: area of the required region after the change.
        cover_before, cover_after: covered fraction of the required region (0..1).
        depth_before_m, depth_after_m: how far around the reach the cover extends (metres).
    """

    robot_id: str
    separation_m: float
    reach: str
    required_m2: float
    cover_before: float
    cover_after: float
    depth_before_m: float
    depth_after_m: float

    @property
    def lowered(self) -> bool:
        """Whether the change lowers the cover."""
        return self.cover_after < self.cover_before - COVER_TOLERANCE

    def line(self) -> str:
        """One human-readable sentence."""
        return (
            f"robot {self.robot_id!r}: protective zones cover {self.cover_before:.1%} → "
            f"{self.cover_after:.1%} of its worst-case S_p {self.separation_m:.2f} m around "
            f"its reach ({self.reach}; {self.required_m2:.1f} m²), to "
            f"{self.depth_before_m:.2f} → {self.depth_after_m:.2f} m deep"
        )


@dataclass(frozen=True)
class ProtectionReport:
    """What a change of zones does to the protection (see the module docstring).

    Attributes:
        zones: every watched zone that changed.
        robots: every robot's cover before and after.
        protected_otherwise: the new site's ``safety.protected_otherwise``.
        refusals: why the change is refused (empty: allowed).
    """

    zones: tuple[ZoneChange, ...]
    robots: tuple[RobotCover, ...]
    protected_otherwise: str | None
    refusals: tuple[str, ...] = field(default=())

    @property
    def weakens(self) -> bool:
        """Whether any protection is lost (area of a watched zone or a robot's cover)."""
        return any(z.lost_m2 > 0 for z in self.zones) or any(r.lowered for r in self.robots)

    def lines(self) -> list[str]:
        """The report as sentences: changes, covers that changed, refusals."""
        lines = [z.line() for z in self.zones]
        lines += [r.line() for r in self.robots if abs(r.cover_after - r.cover_before) > 0]
        if self.weakens and not self.refusals and self.protected_otherwise:
            lines.append(f"allowed: the cell is protected otherwise ({self.protected_otherwise})")
        return lines + [f"refused: {reason}" for reason in self.refusals]


def protection_report(before: SiteConfig, after: SiteConfig) -> ProtectionReport:
    """Judge the zones of ``after`` against those of ``before`` (same cell)."""
    zones = _zone_changes(before, after)
    robots = tuple(
        _robot_cover(before, after, index) for index, robot in enumerate(after.robots)
        if any(r.id == robot.id for r in before.robots)
    )  # fmt: skip
    refusals = tuple(
        f"robot {cover.robot_id!r}: the protective zones would cover {cover.cover_after:.1%} "
        f"of its worst-case S_p {cover.separation_m:.2f} m around its reach, down from "
        f"{cover.cover_before:.1%}; set safety.protected_otherwise to say how the cell is "
        "protected instead, or keep the zones"
        for cover in robots
        if cover.lowered and not after.safety.protected_otherwise
    )
    return ProtectionReport(zones, robots, after.safety.protected_otherwise, refusals)


def _zone_changes(before: SiteConfig, after: SiteConfig) -> tuple[ZoneChange, ...]:
    old = {z.id: z for z in before.zones if z.type in WATCHED_TYPES}
    new = {z.id: z for z in after.zones if z.type in WATCHED_TYPES}
    changes = []
    for zone_id in [*old, *(i for i in new if i not in old)]:
        a, b = old.get(zone_id), new.get(zone_id)
        if a is not None and b is not None and a.polygon == b.polygon and a.type == b.type:
            continue
        shape_a = a.shape() if a is not None else None
        shape_b = b.shape() if b is not None else None
        lost = 0.0
        if shape_a is not None:
            kept = shape_a.intersection(shape_b).area if shape_b is not None else 0.0
            lost = max(0.0, shape_a.area - kept)
        protective = ZoneType.PROTECTIVE in {z.type for z in (a, b) if z is not None}
        zone_type = (b or a).type.value  # type: ignore[union-attr]
        changes.append(
            ZoneChange(
                zone_id, zone_type,
                None if shape_a is None else float(shape_a.area),
                None if shape_b is None else float(shape_b.area),
                float(lost),
                _reach_distance(before, shape_a) if protective else None,
                _reach_distance(after, shape_b) if protective else None,
            )
        )  # fmt: skip
    return tuple(changes)


def _reach(config: SiteConfig, index: int) -> tuple[BaseGeometry, str]:
    robot = config.robots[index]
    if robot.permitted_zone is not None:
        return config.zone(robot.permitted_zone).shape(), f"envelope {robot.permitted_zone!r}"
    pose = robot.base_pose
    return Point(pose.x_m, pose.y_m), f"base point ({pose.x_m:g}, {pose.y_m:g})"


def _reach_distance(config: SiteConfig, shape: BaseGeometry | None) -> float | None:
    if shape is None or not config.robots:
        return None
    return float(min(_reach(config, i)[0].distance(shape) for i in range(len(config.robots))))


def _protective_union(config: SiteConfig) -> BaseGeometry:
    shapes = [z.shape() for z in config.zones if z.type is ZoneType.PROTECTIVE]
    return shapely.union_all(shapes) if shapes else shapely.Polygon()


def _cover(
    config: SiteConfig, index: int, separation_m: float
) -> tuple[float, float, BaseGeometry, str]:
    """(covered fraction, depth m, required region, reach text) of robot ``index``."""
    reach, text = _reach(config, index)
    required = reach.buffer(separation_m)
    protective = _protective_union(config)
    covered = required.intersection(protective).area / required.area if required.area else 0.0
    if protective.is_empty or not reach.difference(protective).is_empty:
        depth = 0.0
    else:  # distance from the reach to the nearest uncovered floor around it
        around = reach.buffer(2.0 * separation_m + 1.0).difference(protective)
        depth = float(reach.distance(around)) if not around.is_empty else separation_m
    return float(covered), depth, required, text


def _robot_cover(before: SiteConfig, after: SiteConfig, index: int) -> RobotCover:
    robot = after.robots[index]
    old_index = next(i for i, r in enumerate(before.robots) if r.id == robot.id)
    separation = robot_separation_m(after, index)
    old_cover, old_depth, _, _ = _cover(before, old_index, robot_separation_m(before, old_index))
    new_cover, new_depth, required, text = _cover(after, index, separation)
    return RobotCover(
        robot.id, separation, text, float(required.area), old_cover, new_cover,
        old_depth, new_depth,
    )  # fmt: skip


def _m(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} m"
