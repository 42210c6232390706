"""A store for the verification-plan tests, written by the real evidence code paths.

Decisions as the engine makes them go through the real ``EpisodeBuilder``; episodes, their
snapshots (``write_snapshots``) and the run records are appended to a real ``EvidenceStore``.
The run of site ``cell-a`` (robots arm1 and arm2, protective zone ``keep-out``) lasts two
hours from ``T0``; its episodes, with what each criterion should measure, are in ``EVENTS``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from safetymon.config.evidence import EvidenceConfig
from safetymon.evidence.episodes import EpisodeBuilder
from safetymon.evidence.records import (
    EPISODE,
    RUN_START,
    RUN_STOP,
    Episode,
    RunStart,
    RunStop,
    format_utc,
)
from safetymon.evidence.snapshots import write_snapshots
from safetymon.evidence.store import EvidenceStore
from safetymon.safety.decision import ClosestApproach, Decision
from safetymon.signals.frame import SafetyState
from safetymon.signals.reasons import Reason
from tests.evidence.helpers import T0, decision, feed, people_frame

SITE = "cell-a"
RUN_HOURS = 2.0
CONFIG = {
    "site": SITE,
    "robots": [{"id": "arm1"}, {"id": "arm2"}],
    "zones": [
        {"id": "keep-out", "type": "protective", "polygon": [[0, 0], [1, 0], [1, 1]]},
        {"id": "caution", "type": "warning", "polygon": [[0, 0], [3, 0], [3, 3]]},
    ],
}


def near(
    time_s: float,
    state: SafetyState,
    reasons: Reason,
    robot: str,
    d: float,
    zones: dict[str, bool] | None = None,
) -> Decision:
    made = decision(time_s, state, reasons, distance_m=d, sp_m=1.0, zones=zones)
    closest = ClosestApproach(7, robot, d, 1.0, 1.2, 0.8)
    return Decision(
        time_s=made.time_s,
        state=made.state,
        speed_scale=made.speed_scale,
        reasons=made.reasons,
        causes=made.causes,
        zones_occupied=made.zones_occupied,
        closest=closest,
    )


def _events() -> list[tuple[float, list[Decision]]]:
    """(latency s, decisions) per episode, in time order (times: seconds after T0)."""
    stop, slow = SafetyState.STOP, SafetyState.SLOW
    keep_out = {"keep-out": True}
    return [
        # 1. a person in keep-out near arm1: STOP after 80 ms, d 0.4 < S_p 1.0, 3 s
        (
            0.08,
            [
                near(
                    600.0 + t,
                    stop,
                    Reason.PROTECTIVE_ZONE | Reason.SEPARATION,
                    "arm1",
                    0.4,
                    keep_out,
                )
                for t in (0.0, 1.0, 2.0, 3.0)
            ],
        ),
        # 2. a near-miss at arm2: SLOW only, d 1.2 > S_p, 50 ms
        (0.05, [near(1200.0, slow, Reason.SEPARATION_WARNING, "arm2", 1.2)]),
        # 3. an input fault (no robot named: the whole cell), STOP for 10 s, 30 ms
        (0.03, [decision(1800.0 + t, stop, Reason.CAMERA_STALE) for t in range(11)]),
        # 4. separation STOP at arm2, d 0.6 < S_p, 120 ms, 2 s
        (0.12, [near(2400.0 + t, stop, Reason.SEPARATION, "arm2", 0.6) for t in (0.0, 2.0)]),
        # 5. d 0.9 < S_p at arm2 but the decision stayed SLOW (a violation), 40 ms
        (0.04, [near(3000.0, slow, Reason.SEPARATION_WARNING, "arm2", 0.9)]),
    ]


EXPECTED = {
    # (criterion, robot): measured value
    ("protective_zone_stop_within_ms", "arm1"): 0.0,
    ("separation_below_sp_requires_stop", "arm1"): 0.0,
    ("separation_below_sp_requires_stop", "arm2"): 1.0,
    ("reaction_latency_p99_max_ms", "arm1"): 80.0,
    ("reaction_latency_p99_max_ms", "arm2"): 120.0,
    ("protective_stops_per_hour_max", "arm1"): 0.5,
    ("protective_stops_per_hour_max", "arm2"): 0.5,
    ("input_fault_stops_per_hour_max", "arm1"): 0.5,
    ("availability_min_percent", "arm1"): 100.0 * (1.0 - 15.0 / 7200.0),
    ("operating_hours_min", "arm1"): RUN_HOURS,
}


def write_run(
    db_path: Path,
    events: list[tuple[float, list[Decision]]],
    *,
    config: EvidenceConfig | None = None,
    hours: float = RUN_HOURS,
    snapshot_numbers: tuple[int, ...] = (),
) -> list[Episode]:
    """One run of ``SITE`` from ``T0`` lasting ``hours``: each event's decisions (then a clear
    RUN cycle 5 s later) go through the real EpisodeBuilder; returns the episodes written."""
    store = EvidenceStore.open(db_path)
    run = RunStart(
        run_id="run-a", site=SITE, config_hash="c" * 64, software_version="test", config=CONFIG
    )
    store.append(RUN_START, run, time_utc=format_utc(T0))
    builder = EpisodeBuilder(config or EvidenceConfig(), config_hash="c" * 64, model_hash="m" * 64)
    closed: list[Episode] = []
    for latency, decisions in events:
        clear = decision(decisions[-1].time_s + 5.0)
        for note in feed(builder, [*decisions, clear], latency_s=latency):
            closed.extend(note.closed)
    closed.extend(builder.flush())
    written = []
    for number, episode in enumerate(closed):
        if number in snapshot_numbers:
            refs = write_snapshots(
                {"cam1": people_frame()},
                snapshot_dir=db_path.parent / "snapshots",
                db_dir=db_path.parent,
                stem=episode.episode_id,
            )
            episode = episode.model_copy(update={"snapshots": refs})
        store.append(EPISODE, episode, time_utc=episode.end_utc)
        written.append(episode)
    end = T0 + timedelta(hours=hours)
    store.append(RUN_STOP, RunStop(run_id="run-a", clean=True), time_utc=format_utc(end))
    store.close()
    return written


def build_store(db_path: Path) -> Path:
    """The run of ``EVENTS``: five episodes, snapshots on the first and fourth."""
    written = write_run(db_path, _events(), snapshot_numbers=(0, 3))
    assert len(written) == 5, written
    return db_path


def long_protective_stop(seconds: int) -> list[tuple[float, list[Decision]]]:
    """One person standing in keep-out at arm1 for ``seconds`` (a decision each second)."""
    keep_out = {"keep-out": True}
    reasons = Reason.PROTECTIVE_ZONE | Reason.SEPARATION
    steps = [
        near(600.0 + t, SafetyState.STOP, reasons, "arm1", 0.4, keep_out)
        for t in range(seconds + 1)
    ]
    return [(0.08, steps)]
