"""The report against a verification plan: read a source, evaluate, write HTML, CSV and JSON.

``build_plan_report`` reads every store of an ``EvidenceSource`` once (facts, chain status; a
source with ``verified_records``, the central copy, verifies and reads in the same walk),
evaluates the plan (``criteria.evaluate``) and gathers what the pages show: the deciding
episodes with their snapshot bytes and, per scenario, the plot data of the plain report
(``report.plots``). ``write_plan_report`` renders (``plan_render``) and writes each file
atomically.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from safetymon.evidence.criteria import (
    CriterionResult,
    Group,
    evaluate_group,
    groups,
    overall,
)
from safetymon.evidence.facts import EpisodeFact, StoreFacts, store_facts
from safetymon.evidence.metrics import EpisodeArrays, Metrics
from safetymon.evidence.plan import VerificationPlan
from safetymon.evidence.snapshots import write_atomic, write_atomic_chunks
from safetymon.evidence.sources import ChainStatus, EvidenceSource

MAX_EPISODES_SHOWN = 200
"""Deciding episodes given a section (with pictures) in the HTML; all are in the JSON."""


@dataclass
class PlanReport:
    """Everything the HTML, CSV and JSON outputs show."""

    plan: VerificationPlan
    plan_file: str
    source: str
    generated_utc: str
    chains: list[ChainStatus]
    results: list[CriterionResult]
    verdict: str
    episodes: dict[tuple[str, int], EpisodeFact] = field(default_factory=dict)
    """Deciding episodes by (store id, seq)."""
    snapshots: dict[tuple[str, str], bytes | None] = field(default_factory=dict)
    """Snapshot bytes by (store id, file) for the episodes shown."""
    scenario_data: dict[str, tuple[Metrics, EpisodeArrays]] = field(default_factory=dict)

    @property
    def chains_ok(self) -> bool:
        """Every store's chain (and signature) verified."""
        return all(chain.ok for chain in self.chains)


def scenario_metrics(episodes: list[EpisodeFact], hours: float) -> tuple[Metrics, EpisodeArrays]:
    """The plain report's metrics and plot arrays for a scenario's episodes."""
    metrics = Metrics(operating_hours=hours, episodes=len(episodes))
    for e in episodes:
        if e.category == "proximity":
            metrics.near_misses += 1
            metrics.protective_stops += e.is_stop
        elif e.is_stop and e.category == "input_fault":
            metrics.input_fault_stops += 1
        elif e.is_stop:
            metrics.other_stops += 1
        metrics.zone_counts.update(e.zones)

    def column(values: list[float | None]) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in values], dtype=float)

    arrays = EpisodeArrays(
        start_s=column([e.start_s for e in episodes]),
        duration_s=column([e.duration_s for e in episodes]),
        is_stop=column([float(e.is_stop) for e in episodes]),
        category=np.asarray([e.category for e in episodes], dtype=object),
        min_distance_m=column([e.min_distance_m for e in episodes]),
        protective_m=column([e.protective_separation_m for e in episodes]),
        latency_s=column([e.reaction_latency_s for e in episodes]),
    )
    latency = arrays.latency_s[np.isfinite(arrays.latency_s)]
    if latency.size:
        metrics.latency_p50_s = float(np.percentile(latency, 50))
        metrics.latency_p99_s = float(np.percentile(latency, 99))
    return metrics, arrays


def build_plan_report(
    source: EvidenceSource,
    plan: VerificationPlan,
    *,
    plan_file: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> PlanReport:
    """Read, verify and evaluate (pure evaluation; I/O only through ``source``)."""
    chains: list[ChainStatus] = []
    stores: list[StoreFacts] = []
    walk = getattr(source, "verified_records", None)
    for store_id in source.store_ids():
        if walk is not None:  # the central copy: verify and read in one walk
            done: list[ChainStatus] = []
            stores.append(store_facts(store_id, walk(store_id, done.append)))
            if len(done) != 1:  # a store left out of the verdict would read as verified
                raise ValueError(
                    f"store {store_id}: its walk reported {len(done)} chain status(es), not 1"
                )
            chains.extend(done)
        else:
            chains.append(source.chain_status(store_id))
            stores.append(store_facts(store_id, source.records(store_id)))
    results: list[CriterionResult] = []
    scenario_data: dict[str, tuple[Metrics, EpisodeArrays]] = {}
    in_order = sorted(stores, key=lambda s: s.store_id)
    for scenario in plan.scenarios:  # each scenario's groups are built once, for both uses
        parts = groups(scenario, stores, since=since, until=until)
        for group in parts:
            results.extend(evaluate_group(group, scenario.criteria))
        scenario_data[scenario.id] = _scenario_data(parts, in_order)
    report = PlanReport(
        plan=plan,
        plan_file=plan_file,
        source=source.label,
        generated_utc=f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC",
        chains=chains,
        results=results,
        verdict=overall(results, all(c.ok for c in chains)),
        scenario_data=scenario_data,
    )
    shown = _first_keys(
        ((d.store_id, d.seq) for result in results for d in result.deciding), MAX_EPISODES_SHOWN
    )
    index = {
        (e.store_id, e.seq): e
        for s in stores
        for e in s.episodes
        if (e.store_id, e.seq) in shown
    }
    for key in sorted(shown):
        episode = index.get(key)
        if episode is None:
            continue
        report.episodes[key] = episode
        for ref in episode.snapshots:
            file = str(ref.get("file", ""))
            report.snapshots[(episode.store_id, file)] = source.snapshot(episode.store_id, file)
    return report


def _scenario_data(
    parts: list[Group], in_order: list[StoreFacts]
) -> tuple[Metrics, EpisodeArrays]:
    """A scenario's metrics over the episodes of its groups, in (store, seq) order."""
    member = {id(e) for g in parts for e in g.episodes}  # facts are not copied: by object
    chosen = [e for s in in_order for e in s.episodes if id(e) in member]
    del member
    per_site: dict[str, float] = {}
    for g in parts:  # every robot of a site shares the site's runs: count them once
        per_site[g.site] = max(per_site.get(g.site, 0.0), g.hours)
    return scenario_metrics(chosen, sum(per_site.values()))


def _first_keys(keys: Iterable[tuple[str, int]], count: int) -> set[tuple[str, int]]:
    """The ``count`` smallest distinct keys (memory: ``count`` keys, not one per key seen)."""
    best: list[tuple[str, int]] = []
    if count <= 0:
        return set()
    for key in keys:
        if len(best) == count and key >= best[-1]:
            continue
        at = bisect.bisect_left(best, key)
        if at < len(best) and best[at] == key:
            continue
        best.insert(at, key)
        if len(best) > count:
            best.pop()
    return set(best)


def write_plan_report(
    report: PlanReport, html_out: Path, csv_out: Path | None, json_out: Path | None
) -> None:
    """Render and write the HTML (and CSV, JSON when given), each atomically."""
    from safetymon.evidence import plan_render

    write_atomic(Path(html_out), plan_render.render_html(report).encode("utf-8"))
    if csv_out is not None:  # streamed: a fleet's deciding records are never one string
        write_atomic_chunks(
            Path(csv_out), (t.encode("utf-8") for t in plan_render.iter_csv(report))
        )
    if json_out is not None:
        write_atomic_chunks(
            Path(json_out), (t.encode("utf-8") for t in plan_render.iter_json(report))
        )
