"""Episodes from the stream of decisions: pure, no I/O, one call per decision cycle.

An episode opens at the first cycle that is *active*: the decision is SLOW or STOP for a
reason not in ``EvidenceConfig.ignore_reasons`` (AWAITING_RESET and RESTART_DELAY only
prolong an episode, they never open one), or a person is closer to a robot than
``S_p + warning_margin_m``. It stays open while active cycles follow each other less than
``merge_gap_s`` apart (monotonic seconds) and closes at the first cycle (or ``flush``) more
than ``merge_gap_s`` after its last active cycle; its end is that last active cycle. An
episode longer than ``max_episode_s`` is closed and continued in a new episode that names it
in ``continues_episode_id`` (a crash then loses at most that much).

Typical monitor loop::

    builder = EpisodeBuilder(config.evidence, config_hash=..., model_hash=...)
    note = builder.observe(decision, monotonic_s=now, wall_time_utc=utc, cause_seen_s=t_cap,
                           signal_sent_s=t_sent)
    if note.wants_snapshot:      # new closest approach: hand the current frames over
        writer.offer_snapshot(note.episode_id, frames)
    for episode in note.closed:
        writer.submit_episode(episode)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from safetymon import __version__
from safetymon.config.evidence import EvidenceConfig
from safetymon.evidence.records import Episode, format_utc

if TYPE_CHECKING:
    from safetymon.safety.decision import Decision

PROXIMITY_REASONS = frozenset(
    {"SEPARATION", "SEPARATION_WARNING", "PROTECTIVE_ZONE", "WARNING_ZONE"}
)
INPUT_FAULT_REASONS = frozenset(
    {
        "CAMERA_STALE",
        "CAMERA_FAULT",
        "DETECTOR_FAULT",
        "ROBOT_STATE_STALE",
        "ROBOT_STATE_INVALID",
        "HUMAN_STATE_INVALID",
        "CALIBRATION_MISSING",
        "LOOP_OVERRUN",
        "EVIDENCE_FAULT",
        "OUTPUT_FAULT",
        "INTERNAL_ERROR",
    }
)
HOLD_REASONS = frozenset({"AWAITING_RESET", "RESTART_DELAY"})
"""Reasons that mark a held cause: they prolong an episode but never open one."""

_STATE_RANK = {"STOP": 0, "SLOW": 1, "RUN": 2}


@dataclass(frozen=True)
class Observation:
    """What one ``observe`` call tells the monitor.

    Attributes:
        closed: episodes that closed at this cycle (write them to the store).
        episode_id: id of the episode open after this cycle, or None.
        wants_snapshot: this cycle is the open episode's new closest approach (or its first
            cycle): hand this cycle's camera frames to the writer for that episode.
    """

    closed: tuple[Episode, ...] = ()
    episode_id: str | None = None
    wants_snapshot: bool = False


@dataclass
class _Open:
    """Mutable state of the episode being built."""

    episode_id: str
    start_utc: str
    start_s: float
    last_active_s: float
    end_utc: str
    worst_state: str = "RUN"
    min_speed_scale: float = 1.0
    reasons: set[str] = field(default_factory=set)
    zones: set[str] = field(default_factory=set)
    track_ids: set[int] = field(default_factory=set)
    robot_ids: set[str] = field(default_factory=set)
    near_distance: bool = False
    min_margin_m: float = float("inf")
    closest: dict[str, object] = field(default_factory=dict)
    reaction_latency_s: float | None = None
    latency_recorded: bool = False
    continues: str | None = None


class EpisodeBuilder:
    """Turns decisions into episodes (pure: the caller does every I/O)."""

    def __init__(
        self,
        config: EvidenceConfig,
        *,
        config_hash: str,
        model_hash: str | None = None,
        software_version: str = __version__,
    ) -> None:
        self.config = config
        self.config_hash = config_hash
        self.model_hash = model_hash
        self.software_version = software_version
        self._ignored = frozenset(config.ignore_reasons)
        self._open: _Open | None = None

    @property
    def open_episode_id(self) -> str | None:
        """Id of the episode now open, or None."""
        return self._open.episode_id if self._open else None

    def observe(
        self,
        decision: Decision,
        *,
        monotonic_s: float,
        wall_time_utc: datetime,
        cause_seen_s: float | None = None,
        signal_sent_s: float | None = None,
    ) -> Observation:
        """Account for one decision cycle.

        Args:
            decision: this cycle's decision.
            monotonic_s: monotonic time of the cycle, seconds.
            wall_time_utc: timezone-aware wall time of the cycle.
            cause_seen_s: monotonic capture time of the input that first showed the current
                cause (None if unknown).
            signal_sent_s: monotonic time this decision's signal was sent (None if unknown).
        """
        names = set(decision.reasons.names) - self._ignored
        state = decision.state.name
        closest = decision.closest
        near = closest is not None and (
            closest.distance_m < closest.protective_separation_m + self.config.warning_margin_m
        )
        active = (state != "RUN" and bool(names - HOLD_REASONS)) or near
        closed: list[Episode] = []
        episode = self._open
        if episode is not None and monotonic_s - episode.last_active_s > self.config.merge_gap_s:
            closed.append(self._close(episode))
            episode = self._open = None
        if not active:
            return Observation(tuple(closed), self.open_episode_id, False)
        utc = format_utc(wall_time_utc)
        continues = None
        if episode is not None and monotonic_s - episode.start_s > self.config.max_episode_s:
            closed.append(self._close(episode))
            continues, episode = episode.episode_id, None
        first = episode is None
        if episode is None:
            episode = _Open(uuid.uuid4().hex, utc, monotonic_s, monotonic_s, utc)
            episode.continues = continues
            self._open = episode
        episode.last_active_s = monotonic_s
        episode.end_utc = utc
        if _STATE_RANK.get(state, 0) < _STATE_RANK[episode.worst_state]:
            episode.worst_state = state if state in _STATE_RANK else "STOP"
        episode.min_speed_scale = min(episode.min_speed_scale, float(decision.speed_scale))
        episode.reasons |= names
        episode.zones |= {zone for zone, occupied in decision.zones_occupied.items() if occupied}
        episode.near_distance |= near
        if state != "RUN" and not episode.latency_recorded:
            episode.latency_recorded = True
            if cause_seen_s is not None and signal_sent_s is not None:
                episode.reaction_latency_s = max(0.0, signal_sent_s - cause_seen_s)
        wants = first
        if closest is not None:
            episode.track_ids.add(int(closest.track_id))
            episode.robot_ids.add(str(closest.robot_id))
            margin = closest.distance_m - closest.protective_separation_m
            if margin < episode.min_margin_m:
                episode.min_margin_m = margin
                episode.closest = {
                    "closest_utc": utc,
                    "closest_track_id": int(closest.track_id),
                    "closest_robot_id": str(closest.robot_id),
                    "min_distance_m": float(closest.distance_m),
                    "protective_separation_m": float(closest.protective_separation_m),
                    "human_speed_mps": float(closest.human_speed_mps),
                    "robot_speed_mps": float(closest.robot_speed_mps),
                }
                wants = True
        return Observation(tuple(closed), episode.episode_id, wants)

    def flush(self) -> list[Episode]:
        """Close the open episode (at shutdown); returns it, or nothing."""
        if self._open is None:
            return []
        episode, self._open = self._open, None
        return [self._close(episode)]

    def _close(self, episode: _Open) -> Episode:
        reasons = episode.reasons
        if reasons & PROXIMITY_REASONS or episode.near_distance:
            category = "proximity"
        elif reasons & INPUT_FAULT_REASONS:
            category = "input_fault"
        else:
            category = "other"
        return Episode(
            episode_id=episode.episode_id,
            continues_episode_id=episode.continues,
            kind="stop" if episode.worst_state == "STOP" else "near_miss",
            category=category,
            start_utc=episode.start_utc,
            end_utc=episode.end_utc,
            duration_s=max(0.0, episode.last_active_s - episode.start_s),
            worst_state=episode.worst_state,
            min_speed_scale=min(1.0, max(0.0, episode.min_speed_scale)),
            reasons=sorted(reasons),
            zones=sorted(episode.zones),
            track_ids=sorted(episode.track_ids),
            robot_ids=sorted(episode.robot_ids),
            reaction_latency_s=episode.reaction_latency_s,
            config_hash=self.config_hash,
            model_hash=self.model_hash,
            software_version=self.software_version,
            **episode.closest,
        )
