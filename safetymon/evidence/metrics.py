"""Safety metrics from an evidence database (one streamed pass; arrays for the plots).

Definitions (all over the selected time window):

- operating time: per run, from its ``run_start`` to its ``run_stop`` or, when the monitor
  died without one, to the run's last record.
- near-miss: an episode of category ``proximity`` (any kind); protective stop: a proximity
  episode whose decision reached STOP; input-fault stop: a STOP episode of category
  ``input_fault``.
- availability: 1 − (time inside STOP episodes / operating time).
- reaction latency: each episode's ``reaction_latency_s`` (signal sent − cause seen).
"""

from __future__ import annotations

import json
import sqlite3
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from safetymon.evidence.reader import iter_records
from safetymon.evidence.records import EPISODE, RUN_START, RUN_STOP, parse_utc


@dataclass
class EpisodeArrays:
    """Per-episode columns (times: UTC epoch seconds; distances metres; latency seconds)."""

    start_s: np.ndarray
    duration_s: np.ndarray
    is_stop: np.ndarray
    category: np.ndarray
    min_distance_m: np.ndarray
    protective_m: np.ndarray
    latency_s: np.ndarray


@dataclass
class Metrics:
    """Summary figures of the evidence."""

    runs: int = 0
    operating_hours: float = 0.0
    episodes: int = 0
    near_misses: int = 0
    protective_stops: int = 0
    input_fault_stops: int = 0
    other_stops: int = 0
    stop_hours: float = 0.0
    closest_approach_m: float | None = None
    closest_approach_sp_m: float | None = None
    latency_p50_s: float | None = None
    latency_p99_s: float | None = None
    zone_counts: Counter[str] = field(default_factory=Counter)
    configurations: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """Runs per (site, config hash, software version), from the run start records."""
    first_time_utc: str | None = None
    last_time_utc: str | None = None

    @property
    def near_misses_per_hour(self) -> float | None:
        """Near-misses per operating hour (None without operating time)."""
        return self.near_misses / self.operating_hours if self.operating_hours > 0 else None

    @property
    def availability(self) -> float | None:
        """Share of operating time outside STOP episodes (None without operating time)."""
        if self.operating_hours <= 0:
            return None
        return max(0.0, 1.0 - self.stop_hours / self.operating_hours)


def _epoch(text: str) -> float:
    return parse_utc(text).timestamp()


def collect(
    conn: sqlite3.Connection, *, since: str | None = None, until: str | None = None
) -> tuple[Metrics, EpisodeArrays]:
    """Compute the metrics and the per-episode arrays in one pass."""
    metrics = Metrics()
    cols: dict[str, Any] = {
        k: [] if k == "category" else array("d") for k in EpisodeArrays.__dataclass_fields__
    }
    run_start: float | None = None
    last_s: float | None = None
    operating_s = 0.0
    stop_s = 0.0
    for rec in iter_records(conn, since=since, until=until):
        now = _epoch(rec.time_utc)
        metrics.first_time_utc = metrics.first_time_utc or rec.time_utc
        metrics.last_time_utc = rec.time_utc
        if rec.kind == RUN_START:
            if run_start is not None and last_s is not None:
                operating_s += max(0.0, last_s - run_start)
            metrics.runs += 1
            run_start = now
            started = json.loads(rec.body)["payload"]
            key = (
                str(started.get("site", "?")),
                str(started.get("config_hash", "?")),
                str(started.get("software_version", "?")),
            )
            metrics.configurations[key] += 1
        elif rec.kind == RUN_STOP and run_start is not None:
            operating_s += max(0.0, now - run_start)
            run_start = None
        elif rec.kind == EPISODE:
            episode = json.loads(rec.body)["payload"]
            _add_episode(metrics, cols, episode)
            if episode["kind"] == "stop":
                stop_s += float(episode["duration_s"])
        last_s = now
    if run_start is not None and last_s is not None:
        operating_s += max(0.0, last_s - run_start)
    metrics.operating_hours = operating_s / 3600.0
    metrics.stop_hours = stop_s / 3600.0
    arrays = EpisodeArrays(
        **{
            k: np.asarray(v, dtype=object) if k == "category" else np.frombuffer(v, dtype=float)
            for k, v in cols.items()
        }
    )
    latency = arrays.latency_s[np.isfinite(arrays.latency_s)]
    if latency.size:
        metrics.latency_p50_s = float(np.percentile(latency, 50))
        metrics.latency_p99_s = float(np.percentile(latency, 99))
    distance = arrays.min_distance_m
    if np.isfinite(distance).any():
        index = int(np.nanargmin(distance))
        metrics.closest_approach_m = float(distance[index])
        metrics.closest_approach_sp_m = float(arrays.protective_m[index])
    return metrics, arrays


def _add_episode(metrics: Metrics, cols: dict[str, Any], episode: dict[str, Any]) -> None:
    def number(key: str) -> float:
        value = episode.get(key)
        return float("nan") if value is None else float(value)

    metrics.episodes += 1
    is_stop = episode["kind"] == "stop"
    category = episode["category"]
    if category == "proximity":
        metrics.near_misses += 1
        metrics.protective_stops += is_stop
    elif is_stop and category == "input_fault":
        metrics.input_fault_stops += 1
    elif is_stop:
        metrics.other_stops += 1
    metrics.zone_counts.update(episode.get("zones") or [])
    cols["start_s"].append(_epoch(episode["start_utc"]))
    cols["duration_s"].append(number("duration_s"))
    cols["is_stop"].append(float(is_stop))
    cols["category"].append(category)
    cols["min_distance_m"].append(number("min_distance_m"))
    cols["protective_m"].append(number("protective_separation_m"))
    cols["latency_s"].append(number("reaction_latency_s"))
