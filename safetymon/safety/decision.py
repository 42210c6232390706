"""The decision state machine: (cycle input, memory) → RUN | SLOW(speed_scale) | STOP.

Rules (DESIGN.md, "The decision"):

- ``d < S_p`` for any (person, robot) pair → STOP (SEPARATION). ``d < S_p + warning margin`` →
  SLOW with the largest speed scale that keeps ``d >= S_p`` (velocity scaling, relative to the
  robot's configured maximum speed); a scale below ``min_speed_scale`` is a STOP.
- A person (or unclassified foreground) overlapping a protective zone → STOP; a warning
  zone → SLOW. A robot link over a restricted zone, or outside its envelope → STOP.
- A camera frame, robot state or other input older than its limit, a malformed or
  non-finite input, a camera or detector fault, missing calibration, an operator stop or any
  fault reported by the monitor → STOP.
- Hysteresis: a distance or zone cause that fired stays active until it has cleared its
  threshold by ``hysteresis_m``.
- Restart: every cause stays in effect until it has been clear for ``restart_delay_s``;
  causes from ``manual_reset`` zones (and start-up, when ``startup_requires_reset``) also
  need an explicit reset after they cleared. The monitor starts in STOP (STARTUP).

``DecisionEngine.step`` is pure and deterministic (same input and memory → same output) and
never raises: an unexpected error becomes a STOP with INTERNAL_ERROR. Authenticating a reset
is the caller's job; ``CycleInput.reset_requested`` means an authenticated reset arrived.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np

from safetymon.config.zones import ZoneType
from safetymon.safety.inputs import CycleInput, HumanBatch, RobotSnapshot
from safetymon.safety.separation import (
    RobotLinks,
    Separation,
    gather_links,
    link_zone_signed_distance,
    people_zone_clearance,
    separation,
)
from safetymon.safety.site import CompiledSite
from safetymon.signals.frame import SafetyState
from safetymon.signals.reasons import Reason

CauseKey = tuple[Reason, str]


@dataclass(frozen=True)
class Cause:
    """One reason the robots may not run at full speed.

    Attributes:
        reason: the reason code.
        subject: what it is about (zone id, robot id, camera id, ...; "" for the monitor).
        state: STOP or SLOW.
        speed_scale: 0 for STOP, the permitted fraction of maximum speed for SLOW.
        detail: human-readable explanation with the measured values.
        last_active_s: monotonic time it was last observed, seconds.
        active: observed in this cycle (False: held by the restart delay or a latch).
        latched: needs an explicit reset once clear.
    """

    reason: Reason
    subject: str
    state: SafetyState
    speed_scale: float
    detail: str
    last_active_s: float
    active: bool = True
    latched: bool = False

    @property
    def key(self) -> CauseKey:
        """Identity of the cause across cycles."""
        return (self.reason, self.subject)


@dataclass(frozen=True)
class ClosestApproach:
    """The (person, robot) pair with the least margin d − S_p this cycle (metres, m/s)."""

    track_id: int
    robot_id: str
    distance_m: float
    protective_separation_m: float
    human_speed_mps: float
    robot_speed_mps: float


@dataclass(frozen=True)
class Decision:
    """The output of one cycle."""

    time_s: float
    state: SafetyState
    speed_scale: float
    reasons: Reason
    causes: tuple[Cause, ...]
    zones_occupied: Mapping[str, bool]
    closest: ClosestApproach | None

    @property
    def reason_names(self) -> list[str]:
        """Names of the reason bits."""
        return self.reasons.names


@dataclass(frozen=True)
class DecisionMemory:
    """What the decision carries from one cycle to the next (immutable).

    Attributes:
        time_s: time of the last cycle (monotonic seconds).
        causes: causes still in effect, by key.
        zones_occupied: zone ids occupied last cycle (hysteresis).
        separation_stop, separation_slow: robot ids whose separation STOP / SLOW fired.
        robot_zone_breach: (robot id, zone id) pairs breached last cycle.
    """

    time_s: float
    causes: Mapping[CauseKey, Cause] = field(default_factory=dict)
    zones_occupied: frozenset[str] = frozenset()
    separation_stop: frozenset[str] = frozenset()
    separation_slow: frozenset[str] = frozenset()
    robot_zone_breach: frozenset[tuple[str, str]] = frozenset()


_STOP = SafetyState.STOP
_SLOW = SafetyState.SLOW


class _Collector:
    """Gathers the causes observed in one cycle (the worst wins per key)."""

    def __init__(self, time_s: float) -> None:
        self.time_s = time_s
        self.causes: dict[CauseKey, Cause] = {}

    def stop(self, reason: Reason, subject: str, detail: str, *, latched: bool = False) -> None:
        self._add(Cause(reason, subject, _STOP, 0.0, detail, self.time_s, latched=latched))

    def slow(self, reason: Reason, subject: str, scale: float, detail: str) -> None:
        self._add(Cause(reason, subject, _SLOW, scale, detail, self.time_s))

    def _add(self, cause: Cause) -> None:
        known = self.causes.get(cause.key)
        # STOP (0) sorts before SLOW (1); between two SLOWs the lower speed scale is worse
        if known is None or (cause.state, cause.speed_scale) < (known.state, known.speed_scale):
            self.causes[cause.key] = cause


class DecisionEngine:
    """Turns each cycle's input and the previous memory into a Decision and new memory."""

    def __init__(self, site: CompiledSite) -> None:
        self.site = site
        self._camera_limits = {cam.id: cam.max_frame_age_s for cam in site.config.cameras}
        self._camera_latency = site.camera_latency_s
        self._robot_limits = {robot.id: robot.max_state_age_s for robot in site.robots}
        self._latching_zones = {zone.id for zone in site.config.zones if zone.manual_reset}
        self._speed_limit = site.safety.human_speed_limit_mps
        envelope_ids = site.envelope_zones.ids
        self._envelope_column_of_robot = np.array(
            [envelope_ids.index(r.permitted_zone) if r.permitted_zone else -1 for r in site.robots],
            dtype=np.int64,
        )

    def initial_memory(self, time_s: float) -> DecisionMemory:
        """Memory at start-up: a STARTUP cause active now (so the monitor starts in STOP)."""
        startup = Cause(
            Reason.STARTUP,
            "",
            _STOP,
            0.0,
            "monitor started",
            time_s,
            latched=self.site.safety.startup_requires_reset,
        )
        return DecisionMemory(time_s=time_s, causes=MappingProxyType({startup.key: startup}))

    def step(self, cycle: CycleInput, memory: DecisionMemory) -> tuple[Decision, DecisionMemory]:
        """Decide one cycle. Never raises: an internal error is a STOP (INTERNAL_ERROR)."""
        try:
            return self._step(cycle, memory)
        except Exception as error:  # fail-safe boundary: whatever went wrong, STOP
            time_s = getattr(cycle, "time_s", None)
            time_s = max(float(time_s), memory.time_s) if _finite(time_s) else memory.time_s
            found = _Collector(time_s)
            found.stop(Reason.INTERNAL_ERROR, "", f"{type(error).__name__}: {error}")
            return self._combine(found, replace(memory, time_s=time_s), False, None, {})

    # ------------------------------------------------------------------ one cycle

    def _step(self, cycle: CycleInput, memory: DecisionMemory) -> tuple[Decision, DecisionMemory]:
        time_s = float(cycle.time_s)
        if not math.isfinite(time_s) or time_s < memory.time_s:
            found = _Collector(memory.time_s)
            found.stop(
                Reason.INTERNAL_ERROR,
                "clock",
                f"cycle time {time_s} is not finite or runs backwards (last {memory.time_s})",
            )
            return self._combine(found, memory, cycle.reset_requested, None, {})
        found = _Collector(time_s)
        camera_age = self._check_cameras(cycle, found)
        robots = self._usable_robots(cycle, found)
        humans = self._usable_humans(cycle.humans, found)
        if cycle.operator_stop:
            found.stop(Reason.OPERATOR_STOP, "", "operator stop requested")
        for name, detail in cycle.faults:
            reason = Reason[name] if name in Reason.__members__ else Reason.INTERNAL_ERROR
            found.stop(reason, name.lower(), detail)

        links = gather_links(self.site, robots)
        occupied = self._people_zones(humans, memory, found)
        breaches = self._robot_zones(links, memory, found)
        sep = separation(self.site, humans, links, camera_age)
        stop_robots, slow_robots, closest = self._separation_rules(
            sep, humans, links, memory, found
        )
        memory = DecisionMemory(
            time_s=time_s,
            causes=memory.causes,
            zones_occupied=frozenset(z for z, on in occupied.items() if on),
            separation_stop=stop_robots,
            separation_slow=slow_robots,
            robot_zone_breach=breaches,
        )
        return self._combine(found, memory, cycle.reset_requested, closest, occupied)

    def _check_cameras(self, cycle: CycleInput, found: _Collector) -> float:
        """Report stale, faulty or uncalibrated cameras; return the largest time since the
        light of a usable camera's newest frame (frame age + glass-to-frame latency, s)."""
        seen = {status.camera_id: status for status in cycle.cameras}
        worst_age = 0.0
        for camera_id in seen.keys() - self._camera_limits.keys():
            found.stop(Reason.INTERNAL_ERROR, camera_id, f"status of unknown camera {camera_id!r}")
        for camera_id, limit in self._camera_limits.items():
            status = seen.get(camera_id)
            if status is None:
                found.stop(Reason.CAMERA_STALE, camera_id, "no frame received yet")
                continue
            age = float(status.frame_age_s)
            if not math.isfinite(age) or age > limit or age < 0:
                found.stop(
                    Reason.CAMERA_STALE,
                    camera_id,
                    f"newest frame is {age * 1000:.0f} ms old (limit {limit * 1000:.0f} ms)",
                )
            else:
                worst_age = max(worst_age, age + self._camera_latency[camera_id])
            if status.fault:
                found.stop(Reason.CAMERA_FAULT, camera_id, status.fault)
            if status.detector_fault:
                found.stop(Reason.DETECTOR_FAULT, camera_id, status.detector_fault)
            if not status.calibrated:
                found.stop(Reason.CALIBRATION_MISSING, camera_id, "no floor calibration")
        return worst_age

    def _usable_robots(self, cycle: CycleInput, found: _Collector) -> list[RobotSnapshot]:
        """Robots with fresh, well-formed state; the others become STOP causes."""
        usable: list[RobotSnapshot] = []
        seen: set[str] = set()
        for snapshot in cycle.robots:
            limit = self._robot_limits.get(snapshot.robot_id)
            if limit is None or snapshot.robot_id in seen:
                found.stop(
                    Reason.ROBOT_STATE_INVALID,
                    snapshot.robot_id,
                    f"state for unknown or repeated robot {snapshot.robot_id!r}",
                )
                continue
            seen.add(snapshot.robot_id)
            age = float(snapshot.age_s)
            if not math.isfinite(age) or age > limit or age < 0:
                found.stop(
                    Reason.ROBOT_STATE_STALE,
                    snapshot.robot_id,
                    f"state is {age * 1000:.0f} ms old (limit {limit * 1000:.0f} ms)",
                )
                continue
            problem = snapshot.problem()
            if problem:
                found.stop(Reason.ROBOT_STATE_INVALID, snapshot.robot_id, problem)
                continue
            usable.append(snapshot)
        for robot_id in self._robot_limits.keys() - seen:
            found.stop(Reason.ROBOT_STATE_STALE, robot_id, "no state received yet")
        return usable

    def _usable_humans(self, humans: HumanBatch, found: _Collector) -> HumanBatch:
        """Drop people with non-finite or negative values (each is a STOP cause)."""
        count = humans.count
        shapes = (
            humans.xy.shape == (count, 2)
            and humans.velocity.shape == (count, 2)
            and humans.radius_m.shape == (count,)
            and humans.uncertainty_m.shape == (count,)
        )
        if not shapes:
            found.stop(Reason.HUMAN_STATE_INVALID, "batch", "person arrays have wrong shapes")
            return HumanBatch.empty()
        if count == 0:
            return humans
        good = (
            np.all(np.isfinite(humans.xy), axis=1)
            & np.all(np.isfinite(humans.velocity), axis=1)
            & np.isfinite(humans.radius_m)
            & np.isfinite(humans.uncertainty_m)
            & (humans.radius_m >= 0)
            & (humans.uncertainty_m >= 0)
            & (np.abs(humans.velocity).max(axis=1, initial=0.0) <= self._speed_limit)
        )
        if np.all(good):
            return humans
        for track_id in humans.track_ids[~good]:
            found.stop(
                Reason.HUMAN_STATE_INVALID,
                f"track {int(track_id)}",
                "non-finite, negative or implausible position, velocity, radius or uncertainty",
            )
        return HumanBatch(
            humans.track_ids[good],
            np.ascontiguousarray(humans.xy[good]),
            np.ascontiguousarray(humans.velocity[good]),
            humans.radius_m[good],
            humans.uncertainty_m[good],
        )

    def _people_zones(
        self, humans: HumanBatch, memory: DecisionMemory, found: _Collector
    ) -> dict[str, bool]:
        """Occupancy of warning and protective zones (with hysteresis)."""
        safety = self.site.safety
        group = self.site.people_zones
        extent = humans.radius_m + np.maximum(humans.uncertainty_m, safety.human_uncertainty_m)
        reach = float(np.max(extent, initial=0.0)) + safety.hysteresis_m + 0.01
        clearance = people_zone_clearance(group, humans, extent, reach)
        occupied: dict[str, bool] = {}
        for column, zone in enumerate(group.zones):
            slack = safety.hysteresis_m if zone.id in memory.zones_occupied else 0.0
            inside = np.flatnonzero(clearance[:, column] <= slack) if humans.count else []
            occupied[zone.id] = len(inside) > 0
            if not occupied[zone.id]:
                continue
            tracks = ", ".join(str(int(t)) for t in humans.track_ids[inside])
            if zone.type is ZoneType.PROTECTIVE:
                found.stop(
                    Reason.PROTECTIVE_ZONE,
                    zone.id,
                    f"track(s) {tracks} inside",
                    latched=zone.id in self._latching_zones,
                )
            else:
                scale = zone.slow_speed_scale or safety.warning_zone_speed_scale
                found.slow(Reason.WARNING_ZONE, zone.id, scale, f"track(s) {tracks} inside")
        return occupied

    def _robot_zones(
        self, links: RobotLinks, memory: DecisionMemory, found: _Collector
    ) -> frozenset[tuple[str, str]]:
        """Robot links over restricted zones or outside their envelope (with hysteresis).

        Per (robot, zone) only the worst link matters, so the per-link distances are reduced
        per robot with NumPy; Python only loops over the robots and zones in breach.
        """
        site = self.site
        hysteresis = site.safety.hysteresis_m
        robots = len(site.robots)
        extent = links.link_radius_m + site.uncertainty_m[links.link_robot]
        reach = float(np.max(extent, initial=0.0)) + hysteresis + 0.01
        breaches: set[tuple[str, str]] = set()

        restricted_ids = site.restricted_zones.ids
        # clearance of each robot's worst link to each restricted zone (metres; < 0: over it)
        clearance = np.full((robots, len(restricted_ids)), np.inf)
        np.minimum.at(
            clearance,
            links.link_robot,
            link_zone_signed_distance(site.restricted_zones, links, reach) - extent[:, None],
        )
        for j, z in zip(*np.nonzero(clearance < hysteresis), strict=True):
            pair = (site.robots[j].id, restricted_ids[z])
            if clearance[j, z] < 0.0 or pair in memory.robot_zone_breach:
                breaches.add(pair)

        envelope_column = {zone_id: c for c, zone_id in enumerate(site.envelope_zones.ids)}
        if envelope_column and links.link_a.shape[0]:
            envelope = link_zone_signed_distance(site.envelope_zones, links, np.inf)
            # how far each robot's worst link reaches out of its envelope (> 0: outside)
            columns = self._envelope_column_of_robot[links.link_robot]
            has_envelope = columns >= 0
            rows = np.flatnonzero(has_envelope)
            overreach = np.full(robots, -np.inf)
            np.maximum.at(
                overreach,
                links.link_robot[rows],
                envelope[rows, columns[rows]] + extent[rows],
            )
            for j in np.flatnonzero(overreach > -hysteresis):
                pair = (site.robots[j].id, site.robots[j].permitted_zone or "")
                if overreach[j] > 0.0 or pair in memory.robot_zone_breach:
                    breaches.add(pair)
        for robot_id, zone_id in sorted(breaches):
            where = "outside its envelope" if zone_id in envelope_column else "over restricted zone"
            found.stop(
                Reason.ROBOT_OUT_OF_BOUNDS,
                f"{robot_id}@{zone_id}",
                f"{robot_id} {where} {zone_id}",
                latched=zone_id in self._latching_zones,
            )
        return frozenset(breaches)

    def _separation_rules(
        self,
        sep: Separation,
        humans: HumanBatch,
        links: RobotLinks,
        memory: DecisionMemory,
        found: _Collector,
    ) -> tuple[frozenset[str], frozenset[str], ClosestApproach | None]:
        """Protective separation (STOP) and velocity scaling (SLOW) per robot."""
        safety = self.site.safety
        stop_robots: set[str] = set()
        slow_robots: set[str] = set()
        closest: ClosestApproach | None = None
        if humans.count == 0 or not np.any(links.present):
            return frozenset(), frozenset(), None
        margin = sep.distance_m - sep.protective_m
        if np.isnan(margin).any():  # the kernels flag bad geometry with NaN: never "far away"
            found.stop(Reason.INTERNAL_ERROR, "separation", "separation is NaN for some pair")
            return frozenset(), frozenset(), None
        for j in np.flatnonzero(links.present):
            robot = self.site.robots[j]
            i = int(np.argmin(margin[:, j]))
            if (
                closest is None
                or margin[i, j] < closest.distance_m - closest.protective_separation_m
            ):
                closest = ClosestApproach(
                    int(humans.track_ids[i]),
                    robot.id,
                    float(sep.distance_m[i, j]),
                    float(sep.protective_m[i, j]),
                    float(sep.human_speed_mps[i, j]),
                    float(sep.robot_speed_mps[i, j]),
                )
            stop_slack = safety.hysteresis_m if robot.id in memory.separation_stop else 0.0
            slow_slack = safety.hysteresis_m if robot.id in memory.separation_slow else 0.0
            detail = (
                f"track {int(humans.track_ids[i])}: d={sep.distance_m[i, j]:.2f} m, "
                f"S_p={sep.protective_m[i, j]:.2f} m"
            )
            if margin[i, j] < stop_slack:
                stop_robots.add(robot.id)
                found.stop(Reason.SEPARATION, robot.id, detail)
                continue
            band = margin[:, j] < safety.warning_margin_m + slow_slack
            if not np.any(band):
                continue
            slow_robots.add(robot.id)
            scale = float(np.min(sep.allowed_speed_mps[band, j])) / robot.max_speed_mps
            scale = min(scale, 1.0)
            if scale < safety.min_speed_scale:
                stop_robots.add(robot.id)
                found.stop(Reason.SEPARATION, robot.id, f"{detail}, speed scale {scale:.3f}")
            elif scale < 1.0:
                found.slow(
                    Reason.SEPARATION_WARNING, robot.id, scale, f"{detail}, scale {scale:.2f}"
                )
        return frozenset(stop_robots), frozenset(slow_robots), closest

    # ------------------------------------------------------------------ memory and output

    def _combine(
        self,
        found: _Collector,
        memory: DecisionMemory,
        reset_requested: bool,
        closest: ClosestApproach | None,
        occupied: Mapping[str, bool],
    ) -> tuple[Decision, DecisionMemory]:
        """Merge this cycle's causes with held and latched ones; derive the output."""
        time_s = found.time_s
        delay = self.site.safety.restart_delay_s
        effective: dict[CauseKey, Cause] = {}
        for key, old in memory.causes.items():
            if key in found.causes:
                continue
            latched = old.latched and not reset_requested
            if latched or time_s - old.last_active_s < delay:
                effective[key] = replace(old, active=False, latched=latched)
        for key, new in found.causes.items():
            old = memory.causes.get(key)
            effective[key] = replace(new, latched=new.latched or bool(old and old.latched))

        state = SafetyState.RUN
        scale = 1.0
        reasons = Reason(0)
        for cause in effective.values():
            reasons |= cause.reason
            if not cause.active:
                reasons |= Reason.AWAITING_RESET if cause.latched else Reason.RESTART_DELAY
            if cause.state is _STOP:
                state, scale = _STOP, 0.0
            elif state is not _STOP:
                state, scale = _SLOW, min(scale, cause.speed_scale)
        causes = tuple(sorted(effective.values(), key=lambda c: (c.state, c.reason, c.subject)))
        decision = Decision(
            time_s=time_s,
            state=state,
            speed_scale=scale,
            reasons=reasons,
            causes=causes,
            zones_occupied=MappingProxyType(dict(occupied)),
            closest=closest,
        )
        return decision, replace(memory, time_s=time_s, causes=MappingProxyType(effective))


def _finite(value: object) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
