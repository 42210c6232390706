"""Builders shared by the evidence tests: real Decision objects and populated stores."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType

import cv2
import numpy as np

from safetymon.config.evidence import EvidenceConfig
from safetymon.evidence.episodes import EpisodeBuilder
from safetymon.evidence.records import EPISODE, RUN_START, RUN_STOP, RunStart, RunStop, format_utc
from safetymon.evidence.snapshots import write_snapshots
from safetymon.evidence.store import EvidenceStore
from safetymon.safety.decision import ClosestApproach, Decision
from safetymon.signals.frame import SafetyState
from safetymon.signals.reasons import Reason
from tests.conftest import SHARED_DATA

NO_REASON = Reason(0)
T0 = datetime(2026, 5, 1, 8, 0, 0, tzinfo=timezone.utc)
PEOPLE_IMAGE = SHARED_DATA / "people" / "messi5.jpg"


def decision(
    time_s: float,
    state: SafetyState = SafetyState.RUN,
    reasons: Reason = NO_REASON,
    *,
    distance_m: float | None = None,
    sp_m: float = 1.0,
    zones: dict[str, bool] | None = None,
    scale: float | None = None,
    track_id: int = 7,
) -> Decision:
    """A Decision as the engine makes it (closest approach only when distance_m is given)."""
    closest = None
    if distance_m is not None:
        closest = ClosestApproach(track_id, "arm1", distance_m, sp_m, 1.2, 0.8)
    if scale is None:
        scale = {SafetyState.RUN: 1.0, SafetyState.SLOW: 0.5, SafetyState.STOP: 0.0}[state]
    return Decision(
        time_s=time_s,
        state=state,
        speed_scale=scale,
        reasons=reasons,
        causes=(),
        zones_occupied=MappingProxyType(zones or {}),
        closest=closest,
    )


def feed(builder: EpisodeBuilder, decisions: list[Decision], latency_s: float = 0.05) -> list:
    """Observe each decision at its own time; returns (observation, closed episodes)."""
    notes = []
    for d in decisions:
        notes.append(
            builder.observe(
                d,
                monotonic_s=d.time_s,
                wall_time_utc=T0 + timedelta(seconds=d.time_s),
                cause_seen_s=d.time_s - latency_s,
                signal_sent_s=d.time_s,
            )
        )
    return notes


def people_frame() -> np.ndarray:
    """A real photo with people (BGR, camera pixels)."""
    image = cv2.imread(str(PEOPLE_IMAGE))
    assert image is not None, PEOPLE_IMAGE
    return image


def populate(
    db_path: Path,
    *,
    episodes: int = 12,
    snapshots: bool = True,
    config: EvidenceConfig | None = None,
) -> list[str]:
    """A store with a run start, ``episodes`` episodes (some with snapshots) and a run stop.

    Episodes are built by the real EpisodeBuilder from decisions; returns the record hashes.
    """
    config = config or EvidenceConfig()
    store = EvidenceStore.open(db_path)
    run = RunStart(
        run_id="run-1",
        site="test",
        config_hash="c" * 64,
        software_version="test",
        config={"site": "test"},
    )
    hashes = [store.append(RUN_START, run, time_utc=format_utc(T0)).hash]
    builder = EpisodeBuilder(config, config_hash="c" * 64, model_hash="m" * 64)
    frame = people_frame() if snapshots else None
    rng = np.random.default_rng(1)
    time_s = 0.0
    closed = []
    for index in range(episodes):
        time_s += 60.0
        if index % 3 == 2:  # an input fault stop
            seq = [decision(time_s, SafetyState.STOP, Reason.CAMERA_STALE)]
        else:  # an approach: SLOW, then maybe STOP, then clear
            d_min = float(rng.uniform(0.3, 1.4))
            seq = [
                decision(time_s, SafetyState.SLOW, Reason.SEPARATION_WARNING, distance_m=1.4,
                         zones={"cell": True}),
                decision(time_s + 0.5,
                         SafetyState.STOP if d_min < 1.0 else SafetyState.SLOW,
                         Reason.SEPARATION if d_min < 1.0 else Reason.SEPARATION_WARNING,
                         distance_m=d_min, zones={"cell": True}),
            ]  # fmt: skip
        seq.append(decision(time_s + 5.0))
        for note in feed(builder, seq, latency_s=0.02 + 0.01 * index):
            closed.extend(note.closed)
    closed.extend(builder.flush())
    for number, episode in enumerate(closed):
        if frame is not None and number % 2 == 0:
            refs = write_snapshots(
                {"cam1": frame},
                snapshot_dir=db_path.parent / "snapshots",
                db_dir=db_path.parent,
                stem=episode.episode_id,
            )
            episode = episode.model_copy(update={"snapshots": refs})
        hashes.append(store.append(EPISODE, episode, time_utc=episode.end_utc).hash)
    stop = RunStop(run_id="run-1", clean=True)
    end = T0 + timedelta(seconds=time_s + 60.0)
    hashes.append(store.append(RUN_STOP, stop, time_utc=format_utc(end)).hash)
    store.close()
    return hashes
