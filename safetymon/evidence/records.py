"""Payload models of evidence records (Pydantic; they cross the process boundary via SQLite).

Times: ``UtcTime`` strings ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC wall time, microseconds), a
fixed-width form that sorts as text. Distances metres, speeds m/s, durations seconds.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import Field

from safetymon.config.base import StrictModel

UTC_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$"
UtcTime = Annotated[str, Field(pattern=UTC_PATTERN)]
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

EPISODE = "episode"
RUN_START = "run_start"
RUN_STOP = "run_stop"
CONFIG_CHANGE = "config_change"
KIND_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
"""Record kinds: lower-case identifiers (``episode``, ``run_start``, ...)."""


def format_utc(moment: datetime) -> str:
    """A timezone-aware datetime as a ``UtcTime`` string (naive datetimes are refused)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"wall time must be timezone-aware, got naive {moment!r}")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> datetime:
    """Parse a ``UtcTime`` (or any ISO 8601 time; naive means UTC) to an aware datetime."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def utc_now() -> str:
    """The current UTC wall time as a ``UtcTime`` string."""
    return format_utc(datetime.now(timezone.utc))


class SnapshotRef(StrictModel):
    """One JPEG written at an episode's closest approach.

    ``file`` is relative to the database's folder (POSIX separators).
    """

    camera_id: str
    file: str = Field(min_length=1)
    sha256: Sha256Hex
    size_bytes: int = Field(ge=0)


class Episode(StrictModel):
    """One near-miss or stop, from its first to its last active cycle.

    ``kind`` is ``stop`` when the decision was STOP at any moment, else ``near_miss``.
    ``category``: ``proximity`` (separation or a person in a zone), ``input_fault`` (stale or
    faulty camera, robot state, detector, calibration, loop, output, evidence, internal error)
    or ``other`` (operator stop, robot out of bounds). The closest approach is the cycle with
    the least margin ``d - S_p`` (metres; floor frame, person to robot capsule surface).
    """

    episode_id: str = Field(min_length=1)
    continues_episode_id: str | None = Field(
        None, description="The episode this one continues (split at max_episode_s)."
    )
    kind: Literal["near_miss", "stop"]
    category: Literal["proximity", "input_fault", "other"]
    start_utc: UtcTime
    end_utc: UtcTime
    duration_s: float = Field(ge=0.0)
    worst_state: Literal["STOP", "SLOW", "RUN"]
    min_speed_scale: float = Field(ge=0.0, le=1.0)
    reasons: list[str]
    zones: list[str]
    track_ids: list[int]
    robot_ids: list[str]
    closest_utc: UtcTime | None = None
    closest_track_id: int | None = None
    closest_robot_id: str | None = None
    min_distance_m: float | None = None
    protective_separation_m: float | None = None
    human_speed_mps: float | None = None
    robot_speed_mps: float | None = None
    reaction_latency_s: float | None = Field(
        None, description="signal sent − cause seen at the first SLOW/STOP (monotonic s)."
    )
    snapshots: list[SnapshotRef] = Field(default_factory=list)
    snapshot_error: str | None = Field(
        None, description="Why the snapshots could not be written (the record is kept)."
    )
    config_hash: str
    model_hash: str | None = None
    software_version: str


class RunStart(StrictModel):
    """The monitor started: which configuration, model and software it ran with."""

    run_id: str = Field(min_length=1)
    site: str
    config_hash: str
    model_hash: str | None = None
    software_version: str
    config: dict[str, Any] = Field(description="The full site configuration (JSON form).")


class ConfigChange(StrictModel):
    """The site's zones were changed from the live view's editor (``saved``) or taken into
    use by the running monitor (``applied``).

    ``old_config_hash`` / ``new_config_hash`` are `config_hash` values of the site file's
    configuration before and after (``saved``), or of the running configuration (``applied``).
    """

    event: Literal["saved", "applied"]
    site: str
    file: str = ""
    old_config_hash: Sha256Hex
    new_config_hash: Sha256Hex
    zones: list[str] = Field(default_factory=list, description="Ids of the zones edited.")
    diff: str = Field("", max_length=200_000, description="Unified diff of the site file.")
    run_id: str | None = None
    how: str = Field("", max_length=200, description="e.g. 'live view', 'explicit apply'.")


class RunStop(StrictModel):
    """The monitor stopped (``clean`` False: it stopped because of a fault)."""

    run_id: str = Field(min_length=1)
    clean: bool
    reason: str = ""
