"""Evaluation of a verification plan's criteria: pure functions over runs and episodes.

For each scenario, each site it selects and each robot of that site (``*`` for a site without
robots), every criterion gives a ``CriterionResult``: the measured value, the verdict and the
records that decide it. The verdict is ``pass``, ``fail`` or ``not decided``; a criterion
whose data is missing (no operating time, no latency recorded) is never a pass.

Scope of a (scenario, site, robot) group:

- operating time: the site's runs whose configuration lists the robot (every run for ``*``),
  each clipped to the scenario's window ``[since, until)``;
- episodes: those of the site that *start* inside the window and concern the robot: it is
  named in ``robot_ids``, or no robot is named (a cell-wide event such as an input fault);
  the separation criterion uses the episode's ``closest_robot_id`` where it has one;
- availability counts every STOP episode of the site (a STOP stops the whole cell).

Counts of stops leave out continuations (``continues_episode_id``: one long event split at
``max_episode_s``); stop time includes them. Units: ms, hours, per hour, percent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from safetymon.evidence.facts import EpisodeFact, RunFact, StoreFacts
from safetymon.evidence.plan import Criteria, Scenario, VerificationPlan

Verdict = Literal["pass", "fail", "not decided"]
WHOLE_SITE = "*"
"""Robot column of a site without robots."""


@dataclass(frozen=True, slots=True)
class Decider:
    """A record that decides a criterion (``note`` says why, e.g. ``latency 182.0 ms``)."""

    store_id: str
    seq: int
    time_utc: str
    episode_id: str
    note: str


@dataclass(frozen=True)
class CriterionResult:
    """One criterion for one (scenario, site, robot): measured value against threshold."""

    scenario: str
    criterion: str
    site: str
    robot: str
    measured: float | None
    unit: str
    comparison: str
    """``<=`` or ``>=``: how ``measured`` must compare with ``threshold`` to pass."""
    threshold: float
    verdict: Verdict
    detail: str
    samples: int
    """How many episodes (or runs, for operating hours) the value is computed from."""
    deciding: tuple[Decider, ...]


@dataclass(frozen=True)
class Group:
    """The records of one (scenario, site, robot)."""

    scenario: str
    site: str
    robot: str
    hours: float
    runs: tuple[RunFact, ...]
    episodes: tuple[EpisodeFact, ...]
    """Episodes that concern the robot (see module doc)."""
    site_stops: tuple[EpisodeFact, ...]
    """Every STOP episode of the site in the window (for availability)."""


def _decider(episode: EpisodeFact, note: str) -> Decider:
    return Decider(episode.store_id, episode.seq, episode.time_utc, episode.episode_id, note)


def _ms(seconds: float | None) -> str:
    return "no latency recorded" if seconds is None else f"latency {seconds * 1000.0:.1f} ms"


def _result(
    group: Group,
    name: str,
    measured: float | None,
    unit: str,
    comparison: str,
    threshold: float,
    verdict: Verdict,
    detail: str,
    samples: int,
    deciding: Sequence[Decider] = (),
) -> CriterionResult:
    return CriterionResult(
        group.scenario,
        name,
        group.site,
        group.robot,
        measured,
        unit,
        comparison,
        threshold,
        verdict,
        detail,
        samples,
        tuple(deciding),
    )


def _no_time(group: Group) -> str:
    return f"no operating time recorded for site {group.site!r}, robot {group.robot!r}"


def operating_hours(group: Group, minimum: float) -> CriterionResult:
    """Operating hours in the window ≥ ``minimum`` (none recorded: 0 h, a fail if min > 0)."""
    verdict: Verdict = "pass" if group.hours >= minimum else "fail"
    runs = ", ".join(f"{r.run_id[:8]} #{r.start_seq}..#{r.end_seq}" for r in group.runs[:20])
    return _result(
        group,
        "operating_hours_min",
        group.hours,
        "h",
        ">=",
        minimum,
        verdict,
        f"{len(group.runs)} run(s): {runs or 'none'}",
        len(group.runs),
    )


def _rate(
    group: Group, name: str, threshold: float, chosen: Callable[[EpisodeFact], bool], what: str
) -> CriterionResult:
    stops = [e for e in group.episodes if e.is_stop and not e.continues and chosen(e)]
    notes: dict[tuple[str, str], str] = {}  # one text per value: a fleet repeats them
    deciding = [
        _decider(e, notes.setdefault((e.category, e.duration_s.hex()),
                                     f"{e.category} STOP, {e.duration_s:.1f} s"))
        for e in stops
    ]  # fmt: skip
    if group.hours <= 0:
        return _result(
            group,
            name,
            None,
            "/h",
            "<=",
            threshold,
            "not decided",
            _no_time(group),
            len(stops),
            deciding,
        )
    rate = len(stops) / group.hours
    verdict: Verdict = "pass" if rate <= threshold else "fail"
    detail = f"{len(stops)} {what} in {group.hours:.3f} operating hours"
    return _result(group, name, rate, "/h", "<=", threshold, verdict, detail, len(stops), deciding)


def protective_stops_per_hour(group: Group, maximum: float) -> CriterionResult:
    """Proximity STOP episodes (continuations left out) per operating hour ≤ ``maximum``."""
    return _rate(
        group,
        "protective_stops_per_hour_max",
        maximum,
        lambda e: e.category == "proximity",
        "protective stop(s)",
    )


def input_fault_stops_per_hour(group: Group, maximum: float) -> CriterionResult:
    """Input-fault STOP episodes (continuations left out) per operating hour ≤ ``maximum``."""
    return _rate(
        group,
        "input_fault_stops_per_hour_max",
        maximum,
        lambda e: e.category == "input_fault",
        "input-fault stop(s)",
    )


def availability(group: Group, minimum_percent: float) -> CriterionResult:
    """100 × (1 − STOP episode time / operating time) ≥ ``minimum_percent`` (floored at 0)."""
    name = "availability_min_percent"
    stops = sorted(group.site_stops, key=lambda e: -e.duration_s)
    notes: dict[str, str] = {}  # one text per duration (bits: -0.0 apart): a fleet repeats them
    deciding = [
        _decider(e, notes.setdefault(e.duration_s.hex(), f"STOP for {e.duration_s:.1f} s"))
        for e in stops
    ]
    if group.hours <= 0:
        return _result(
            group,
            name,
            None,
            "%",
            ">=",
            minimum_percent,
            "not decided",
            _no_time(group),
            len(stops),
            deciding,
        )
    stop_h = sum(e.duration_s for e in stops) / 3600.0
    value = max(0.0, 100.0 * (1.0 - stop_h / group.hours))
    verdict: Verdict = "pass" if value >= minimum_percent else "fail"
    detail = f"{stop_h * 3600.0:.1f} s inside {len(stops)} STOP episode(s) of the site"
    detail += f" in {group.hours:.3f} operating hours"
    return _result(
        group, name, value, "%", ">=", minimum_percent, verdict, detail, len(stops), deciding
    )


def reaction_latency_p99(group: Group, maximum_ms: float) -> CriterionResult:
    """Nearest-rank p99 of ``reaction_latency_s`` (ms) ≤ ``maximum_ms``.

    p99 is the ``ceil(0.99·n)``-th smallest of the n recorded latencies, a recorded value; it
    and every latency above ``maximum_ms`` are the deciding records. No latency: not decided.
    """
    name = "reaction_latency_p99_max_ms"
    timed = sorted(
        (e for e in group.episodes if e.reaction_latency_s is not None),
        key=lambda e: float(e.reaction_latency_s or 0.0),
    )
    if not timed:
        return _result(
            group,
            name,
            None,
            "ms",
            "<=",
            maximum_ms,
            "not decided",
            "no episode with a recorded reaction latency",
            0,
        )
    rank = math.ceil(0.99 * len(timed))
    at_rank = timed[rank - 1]
    p99 = float(at_rank.reaction_latency_s or 0.0) * 1000.0
    above = [e for e in reversed(timed) if float(e.reaction_latency_s or 0.0) * 1000 > maximum_ms]
    deciding = [
        _decider(at_rank, f"p99 (rank {rank} of {len(timed)}), {_ms(at_rank.reaction_latency_s)}")
    ]
    deciding += [_decider(e, _ms(e.reaction_latency_s)) for e in above if e is not at_rank]
    verdict: Verdict = "pass" if p99 <= maximum_ms else "fail"
    detail = f"{len(timed)} latencies; {len(above)} above {maximum_ms:g} ms"
    if group.hours <= 0 and verdict == "pass":
        verdict, detail = "not decided", _no_time(group)
    return _result(group, name, p99, "ms", "<=", maximum_ms, verdict, detail, len(timed), deciding)


def protective_zone_stop(group: Group, budget_ms: float) -> CriterionResult:
    """Every episode with a person in a protective zone reached STOP within ``budget_ms``.

    Measured: the number of such episodes that did not (no STOP, or latency above the budget).
    A continuation may lack a latency (its first part has it); a first part without one can
    not be decided. No operating time: not decided.
    """
    name = "protective_zone_stop_within_ms"
    inside = [e for e in group.episodes if e.protective_zone]
    failed: list[Decider] = []
    unknown: list[Decider] = []
    for e in inside:
        zones = ", ".join(sorted(e.zones)) or "protective zone"
        if not e.is_stop:
            failed.append(_decider(e, f"{zones}: no STOP (worst {e.kind})"))
        elif e.reaction_latency_s is None:
            if not e.continues:
                unknown.append(_decider(e, f"{zones}: STOP, no latency recorded"))
        elif e.reaction_latency_s * 1000.0 > budget_ms:
            failed.append(_decider(e, f"{zones}: STOP, {_ms(e.reaction_latency_s)}"))
    detail = f"{len(inside)} protective-zone episode(s), {len(failed)} without a timely STOP"
    verdict: Verdict = "fail" if failed else "pass"
    if not failed and unknown:
        verdict, detail = "not decided", detail + f", {len(unknown)} without a latency"
    if group.hours <= 0 and not failed:
        verdict, detail = "not decided", _no_time(group)
    ok = [_decider(e, f"STOP, {_ms(e.reaction_latency_s)}") for e in inside if e.is_stop]
    deciding = failed + unknown + ([] if failed or unknown else ok)
    return _result(
        group,
        name,
        float(len(failed)),
        "episodes",
        "<=",
        0.0,
        verdict,
        detail,
        len(inside),
        deciding,
    )


def separation_requires_stop(group: Group) -> CriterionResult:
    """No episode whose closest distance d fell below its S_p without reaching STOP.

    Measured: the number of such episodes; the detail gives the least margin d − S_p.
    """
    name = "separation_below_sp_requires_stop"
    below = [
        e
        for e in group.episodes
        if (group.robot == WHOLE_SITE or e.closest_robot_id in (None, group.robot))
        and e.min_distance_m is not None
        and e.protective_separation_m is not None
        and e.min_distance_m < e.protective_separation_m
    ]
    failed = [e for e in below if not e.is_stop]

    def note(e: EpisodeFact, stop: str) -> Decider:
        margin = (e.min_distance_m or 0.0) - (e.protective_separation_m or 0.0)
        return _decider(
            e,
            f"d {e.min_distance_m:.3f} m < S_p {e.protective_separation_m:.3f} m "
            f"(margin {margin:+.3f} m), {stop}",
        )

    margins = [
        (e.min_distance_m or 0.0) - (e.protective_separation_m or 0.0)
        for e in group.episodes
        if e.min_distance_m is not None and e.protective_separation_m is not None
    ]
    least = f"least margin d − S_p {min(margins):+.3f} m" if margins else "no closest approach"
    detail = f"{len(below)} episode(s) below S_p, {len(failed)} without STOP; {least}"
    verdict: Verdict = "fail" if failed else "pass"
    if group.hours <= 0 and not failed:
        verdict, detail = "not decided", _no_time(group)
    deciding = [note(e, "no STOP") for e in failed] or [note(e, "STOP") for e in below]
    return _result(
        group,
        name,
        float(len(failed)),
        "episodes",
        "<=",
        0.0,
        verdict,
        detail,
        len(below),
        deciding,
    )


def evaluate_group(group: Group, criteria: Criteria) -> list[CriterionResult]:
    """Every criterion the scenario states, in the plan's field order."""
    out: list[CriterionResult] = []
    if criteria.protective_zone_stop_within_ms is not None:
        out.append(protective_zone_stop(group, criteria.protective_zone_stop_within_ms))
    if criteria.separation_below_sp_requires_stop:
        out.append(separation_requires_stop(group))
    if criteria.reaction_latency_p99_max_ms is not None:
        out.append(reaction_latency_p99(group, criteria.reaction_latency_p99_max_ms))
    if criteria.protective_stops_per_hour_max is not None:
        out.append(protective_stops_per_hour(group, criteria.protective_stops_per_hour_max))
    if criteria.input_fault_stops_per_hour_max is not None:
        out.append(input_fault_stops_per_hour(group, criteria.input_fault_stops_per_hour_max))
    if criteria.availability_min_percent is not None:
        out.append(availability(group, criteria.availability_min_percent))
    if criteria.operating_hours_min is not None:
        out.append(operating_hours(group, criteria.operating_hours_min))
    return out


def _bounds(
    scenario: Scenario, since: datetime | None, until: datetime | None
) -> tuple[float, float]:
    starts = [t.timestamp() for t in (scenario.since, since) if t is not None]
    ends = [t.timestamp() for t in (scenario.until, until) if t is not None]
    return max(starts, default=-math.inf), min(ends, default=math.inf)


def groups(
    scenario: Scenario,
    stores: Sequence[StoreFacts],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Group]:
    """The (site, robot) groups of a scenario, optionally narrowed to ``[since, until)``."""
    low, high = _bounds(scenario, since, until)
    wanted_sites = set(scenario.sites)
    runs = [
        r
        for s in stores
        for r in s.runs
        if (not wanted_sites or r.site in wanted_sites) and r.end_s >= low and r.start_s < high
    ]
    episodes = [
        e
        for s in stores
        for e in s.episodes
        if (not wanted_sites or e.site in wanted_sites) and low <= e.start_s < high
    ]
    sites = sorted(wanted_sites or {r.site for r in runs} | {e.site for e in episodes})
    out: list[Group] = []
    for site in sites:
        site_runs = [r for r in runs if r.site == site]
        site_episodes = [e for e in episodes if e.site == site]
        robots = set(scenario.robots) or (
            {r for run in site_runs for r in run.robots}
            | {r for e in site_episodes for r in e.robot_ids}
        )
        stops = tuple(e for e in site_episodes if e.is_stop)
        for robot in sorted(robots) or [WHOLE_SITE]:
            mine = tuple(
                r for r in site_runs if robot == WHOLE_SITE or not r.robots or robot in r.robots
            )
            hours = sum(max(0.0, min(r.end_s, high) - max(r.start_s, low)) for r in mine) / 3600
            concerned = tuple(
                e
                for e in site_episodes
                if robot == WHOLE_SITE or not e.robot_ids or robot in e.robot_ids
            )
            out.append(Group(scenario.id, site, robot, hours, mine, concerned, stops))
    return out


def evaluate(
    plan: VerificationPlan,
    stores: Sequence[StoreFacts],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[CriterionResult]:
    """Every criterion of every scenario for every (site, robot) it selects."""
    results: list[CriterionResult] = []
    for scenario in plan.scenarios:
        for group in groups(scenario, stores, since=since, until=until):
            results.extend(evaluate_group(group, scenario.criteria))
    return results


def overall(results: Sequence[CriterionResult], chains_ok: bool) -> Verdict:
    """``pass`` only when every criterion passed and every chain verified; ``fail`` when any
    criterion failed or a chain did not verify; else ``not decided``."""
    if not chains_ok or any(r.verdict == "fail" for r in results):
        return "fail"
    if not results or any(r.verdict != "pass" for r in results):
        return "not decided"
    return "pass"
