"""Evidence records → the facts the criteria are computed on (pure: no I/O).

One pass over a store's records in ``seq`` order gives its *runs* (``run_start`` to
``run_stop``, or to the run's last record when the monitor died without one; each with the
site, robot ids and protective zone ids of its configuration) and its *episodes*, each tied
to the run it happened in (and so to a site). Times: UTC epoch seconds; durations seconds;
distances metres.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from safetymon.evidence.reader import StoredRecord
from safetymon.evidence.records import EPISODE, RUN_START, RUN_STOP, parse_utc

UNKNOWN_SITE = "(no run_start)"
"""Site of episodes recorded before any ``run_start`` record of their store."""


@dataclass(frozen=True, slots=True)
class RunFact:
    """One monitor run of a store."""

    store_id: str
    run_id: str
    site: str
    robots: tuple[str, ...]
    protective_zones: frozenset[str]
    start_s: float
    end_s: float
    start_seq: int
    end_seq: int
    start_utc: str
    end_utc: str
    stopped: bool
    """True when a ``run_stop`` record ended it (False: the monitor died)."""


@dataclass(frozen=True, slots=True)
class EpisodeFact:
    """One episode record, with where it sits in the chain and in which run."""

    store_id: str
    seq: int
    hash: str
    time_utc: str
    site: str
    run_id: str | None
    episode_id: str
    continues: bool
    """A continuation of a long episode split at ``max_episode_s`` (not a new event)."""
    kind: str
    category: str
    start_utc: str
    start_s: float
    duration_s: float
    reasons: frozenset[str]
    zones: frozenset[str]
    robot_ids: tuple[str, ...]
    closest_robot_id: str | None
    min_distance_m: float | None
    protective_separation_m: float | None
    reaction_latency_s: float | None
    snapshots: tuple[dict[str, Any], ...]
    protective_zone: bool
    """A person was in a protective zone (reason PROTECTIVE_ZONE or a zone of that type)."""

    @property
    def is_stop(self) -> bool:
        """The decision reached STOP during the episode."""
        return self.kind == "stop"


@dataclass
class StoreFacts:
    """Runs and episodes of one store."""

    store_id: str
    runs: list[RunFact] = field(default_factory=list)
    episodes: list[EpisodeFact] = field(default_factory=list)


def epoch_s(text: str) -> float:
    """A UTC time string as epoch seconds."""
    return parse_utc(text).timestamp()


@dataclass
class _OpenRun:
    run_id: str
    site: str
    robots: tuple[str, ...]
    protective: frozenset[str]
    start_s: float
    start_seq: int
    start_utc: str
    last_s: float
    last_seq: int
    last_utc: str


def _run_of(payload: dict[str, Any], rec: StoredRecord, now: float) -> _OpenRun:
    config = payload.get("config") or {}
    robots = tuple(str(r.get("id")) for r in config.get("robots") or [] if isinstance(r, dict))
    protective = frozenset(
        str(z.get("id"))
        for z in config.get("zones") or []
        if isinstance(z, dict) and z.get("type") == "protective"
    )
    return _OpenRun(
        str(payload.get("run_id", "?")),
        str(payload.get("site", "?")),
        robots,
        protective,
        now,
        rec.seq,
        rec.time_utc,
        now,
        rec.seq,
        rec.time_utc,
    )


def _close(store_id: str, run: _OpenRun, stopped: bool) -> RunFact:
    return RunFact(
        store_id,
        run.run_id,
        run.site,
        run.robots,
        run.protective,
        run.start_s,
        max(run.start_s, run.last_s),
        run.start_seq,
        run.last_seq,
        run.start_utc,
        run.last_utc,
        stopped,
    )


class _Shared:
    """One object per distinct value (zone sets, robot tuples, kinds...): a fleet's millions
    of episodes repeat a handful of them, and each record's JSON gives a fresh copy."""

    def __init__(self) -> None:
        self._values: dict[Hashable, Any] = {}

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            return sys.intern(value)
        if isinstance(value, float):  # keyed by its bits: 0.0 and -0.0 stay apart, NaN works
            return self._values.setdefault(("float", value.hex()), value)
        return self._values.setdefault(value, value)


def _number(payload: dict[str, Any], key: str, shared: _Shared | None = None) -> float | None:
    value = payload.get(key)
    if value is None:
        return None
    return float(value) if shared is None else shared(float(value))


def _episode(
    store_id: str,
    rec: StoredRecord,
    payload: dict[str, Any],
    run: _OpenRun | None,
    shared: _Shared | None = None,
) -> EpisodeFact:
    one = shared or _Shared()
    zones = one(frozenset(str(z) for z in payload.get("zones") or []))
    reasons = one(frozenset(str(r) for r in payload.get("reasons") or []))
    protective = "PROTECTIVE_ZONE" in reasons or bool(run and zones & run.protective)
    start_utc = str(payload.get("start_utc") or rec.time_utc)
    closest = payload.get("closest_robot_id")
    return EpisodeFact(
        store_id=store_id,
        seq=rec.seq,
        hash=rec.hash,
        time_utc=rec.time_utc,
        site=run.site if run else UNKNOWN_SITE,
        run_id=run.run_id if run else None,
        episode_id=str(payload.get("episode_id", "")),
        continues=payload.get("continues_episode_id") is not None,
        kind=one(str(payload.get("kind", ""))),
        category=one(str(payload.get("category", ""))),
        start_utc=start_utc,
        start_s=epoch_s(start_utc),
        duration_s=one(float(payload.get("duration_s") or 0.0)),
        reasons=reasons,
        zones=zones,
        robot_ids=one(tuple(one(str(r)) for r in payload.get("robot_ids") or [])),
        closest_robot_id=None if closest is None else one(str(closest)),
        min_distance_m=_number(payload, "min_distance_m"),
        protective_separation_m=_number(payload, "protective_separation_m", one),
        reaction_latency_s=_number(payload, "reaction_latency_s", one),
        snapshots=tuple(s for s in payload.get("snapshots") or [] if isinstance(s, dict)),
        protective_zone=protective,
    )


def _payload(store_id: str, rec: StoredRecord) -> dict:
    """The record body's ``payload``; ValueError naming the store and record if the body is
    not a JSON object with one (an edited record: the chain check names it too)."""
    try:
        payload = json.loads(rec.body)["payload"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"store {store_id} record #{rec.seq} ({rec.kind}): body has no JSON payload: {error}"
        ) from error
    if not isinstance(payload, dict):
        raise ValueError(f"store {store_id} record #{rec.seq} ({rec.kind}): payload is not a map")
    return payload


def store_facts(store_id: str, records: Iterable[StoredRecord]) -> StoreFacts:
    """Runs and episodes of one store from its records (``seq`` order)."""
    facts = StoreFacts(store_id)
    shared = _Shared()
    run: _OpenRun | None = None
    for rec in records:
        now = epoch_s(rec.time_utc)
        if rec.kind == RUN_START:
            if run is not None:
                facts.runs.append(_close(store_id, run, stopped=False))
            run = _run_of(_payload(store_id, rec), rec, now)
            continue
        if run is not None:
            run.last_s, run.last_seq, run.last_utc = now, rec.seq, rec.time_utc
        if rec.kind == EPISODE:
            facts.episodes.append(_episode(store_id, rec, _payload(store_id, rec), run, shared))
        elif rec.kind == RUN_STOP and run is not None:
            facts.runs.append(_close(store_id, run, stopped=True))
            run = None
    if run is not None:
        facts.runs.append(_close(store_id, run, stopped=False))
    return facts
