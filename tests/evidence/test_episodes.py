"""EpisodeBuilder: episodes from real Decision objects and from the real decision engine."""

from __future__ import annotations

from datetime import datetime

import pytest

from safetymon.config.evidence import EvidenceConfig
from safetymon.config.loader import load_site_config
from safetymon.evidence.episodes import EpisodeBuilder
from safetymon.signals.frame import SafetyState
from safetymon.signals.reasons import Reason
from safetymon.sim.scenario import run_scenario
from tests.conftest import REPO
from tests.evidence.helpers import T0, decision, feed

RUN, SLOW, STOP = SafetyState.RUN, SafetyState.SLOW, SafetyState.STOP


def builder(**config: object) -> EpisodeBuilder:
    return EpisodeBuilder(
        EvidenceConfig(**config), config_hash="c" * 64, model_hash="m" * 64,
        software_version="9.9",
    )  # fmt: skip


def test_approach_records_minimum_speeds_latency_and_snapshot_moments() -> None:
    b = builder(merge_gap_s=1.0)
    notes = feed(
        b,
        [
            decision(0.0),
            decision(0.1, SLOW, Reason.SEPARATION_WARNING, distance_m=1.3, zones={"cell": True}),
            decision(0.2, STOP, Reason.SEPARATION, distance_m=0.9, zones={"cell": True}),
            decision(0.3, STOP, Reason.SEPARATION, distance_m=0.8, sp_m=0.95, track_id=3),
            decision(0.4, STOP, Reason.SEPARATION | Reason.RESTART_DELAY, distance_m=1.2),
            decision(0.5),
            decision(2.0),  # more than merge_gap_s after the last active cycle: closes
        ],
        latency_s=0.04,
    )
    assert [n.wants_snapshot for n in notes] == [False, True, True, True, False, False, False]
    assert notes[1].episode_id and notes[1].episode_id == notes[4].episode_id
    (episode,) = notes[-1].closed
    assert sum(len(n.closed) for n in notes) == 1
    assert episode.episode_id == notes[1].episode_id
    assert episode.kind == "stop" and episode.category == "proximity"
    assert episode.worst_state == "STOP" and episode.min_speed_scale == 0.0
    assert episode.min_distance_m == 0.8 and episode.protective_separation_m == 0.95
    assert episode.closest_track_id == 3 and episode.closest_robot_id == "arm1"
    assert episode.human_speed_mps == 1.2 and episode.robot_speed_mps == 0.8
    assert episode.reaction_latency_s == pytest.approx(0.04)
    assert episode.duration_s == pytest.approx(0.3)
    assert episode.start_utc == "2026-05-01T08:00:00.100000Z"
    assert episode.end_utc == "2026-05-01T08:00:00.400000Z"
    assert episode.closest_utc == "2026-05-01T08:00:00.300000Z"
    assert episode.reasons == ["RESTART_DELAY", "SEPARATION", "SEPARATION_WARNING"]
    assert episode.zones == ["cell"] and episode.track_ids == [3, 7]
    assert (episode.config_hash, episode.model_hash, episode.software_version) == (
        "c" * 64, "m" * 64, "9.9",
    )  # fmt: skip


def test_merge_gap_joins_close_events_and_splits_distant_ones() -> None:
    events = [0.0, 0.5, 2.0, 10.0]  # gaps 0.5, 1.5, 8.0 seconds
    for gap, expected in ((1.0, 3), (2.0, 2), (10.0, 1)):
        b = builder(merge_gap_s=gap)
        cycles = []
        for t in events:
            cycles += [decision(t, SLOW, Reason.WARNING_ZONE, zones={"w": True}), decision(t + 0.1)]
        closed = [e for n in feed(b, cycles) for e in n.closed] + b.flush()
        assert len(closed) == expected, gap
        assert all(e.kind == "near_miss" and e.zones == ["w"] for e in closed)


def test_distance_within_warning_margin_is_a_near_miss_even_while_run() -> None:
    b = builder(warning_margin_m=0.5)
    feed(b, [decision(0.0, distance_m=1.6), decision(0.1, distance_m=1.45)])  # S_p = 1.0
    (episode,) = b.flush()
    assert episode.kind == "near_miss" and episode.worst_state == "RUN"
    assert episode.min_distance_m == 1.45 and episode.reaction_latency_s is None
    b = builder(warning_margin_m=0.3)
    feed(b, [decision(0.0, distance_m=1.45)])
    assert b.flush() == []


def test_startup_and_held_reasons_alone_open_no_episode() -> None:
    b = builder()
    notes = feed(
        b,
        [
            decision(0.0, STOP, Reason.STARTUP),
            decision(0.1, STOP, Reason.STARTUP | Reason.AWAITING_RESET),
            decision(0.2, STOP, Reason.RESTART_DELAY),
            decision(0.3, STOP, Reason.SHUTDOWN),
        ],
    )
    assert all(n.episode_id is None and not n.closed for n in notes)
    assert b.flush() == []


def test_input_fault_stop_category_and_ignore_reasons_validation() -> None:
    b = builder()
    feed(b, [decision(0.0, STOP, Reason.CAMERA_STALE | Reason.STARTUP), decision(0.1)])
    (episode,) = b.flush()
    assert (episode.kind, episode.category) == ("stop", "input_fault")
    assert episode.reasons == ["CAMERA_STALE"]
    assert episode.min_distance_m is None and episode.reaction_latency_s == pytest.approx(0.05)
    b = builder()
    feed(b, [decision(0.0, STOP, Reason.OPERATOR_STOP)])
    assert b.flush()[0].category == "other"
    with pytest.raises(ValueError, match="ignore_reasons\\[1\\]: unknown reason 'NOPE'"):
        EvidenceConfig(ignore_reasons=["STARTUP", "NOPE"])


def test_naive_wall_time_is_refused() -> None:
    b = builder()
    with pytest.raises(ValueError, match="timezone-aware"):
        b.observe(
            decision(0.0, STOP, Reason.SEPARATION, distance_m=0.5),
            monotonic_s=0.0, wall_time_utc=datetime(2026, 5, 1, 8, 0, 0),
        )  # fmt: skip


def test_episodes_from_the_real_decision_engine_walk_through() -> None:
    config = load_site_config(REPO / "zones" / "demo-cell.yaml")
    b = builder(merge_gap_s=0.5)
    closed = []
    snapshot_moments = 0
    for d in run_scenario(config, duration_s=20.0):
        note = b.observe(
            d, monotonic_s=d.time_s, wall_time_utc=T0, cause_seen_s=d.time_s - 0.03,
            signal_sent_s=d.time_s + 0.002,
        )  # fmt: skip
        closed.extend(note.closed)
        snapshot_moments += note.wants_snapshot
    closed.extend(b.flush())
    stops = [e for e in closed if e.kind == "stop" and e.category == "proximity"]
    assert stops, [e.model_dump() for e in closed]
    worst = min(stops, key=lambda e: e.min_distance_m - e.protective_separation_m)
    assert "SEPARATION" in worst.reasons and worst.track_ids == [1]
    assert worst.min_distance_m < worst.protective_separation_m + 0.05
    assert worst.reaction_latency_s == pytest.approx(0.032)
    assert snapshot_moments >= len(closed)


def test_long_episode_is_recorded_in_linked_parts() -> None:
    b = builder(max_episode_s=10.0, merge_gap_s=1.0)
    cycles = [decision(t * 0.5, STOP, Reason.CAMERA_FAULT) for t in range(50)]  # 24.5 s
    closed = [e for n in feed(b, cycles) for e in n.closed] + b.flush()
    assert len(closed) == 3
    assert closed[0].continues_episode_id is None
    assert [e.continues_episode_id for e in closed[1:]] == [e.episode_id for e in closed[:-1]]
    assert sum(e.duration_s for e in closed) == pytest.approx(24.5 - 2 * 0.5)
