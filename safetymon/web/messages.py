"""JSON messages of the live view's HTTP API (Pydantic; they cross the process boundary).

Units: distances metres, speeds m/s, ages and durations seconds, rates Hz; positions in the
floor frame (metres, the site's own x/y axes). An age that is not known (no frame or robot
state received yet) is ``null``, never infinity (JSON has none).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from safetymon.config.base import StrictModel
from safetymon.config.zone_edit import ZoneEditRequest

StateName = Literal["RUN", "SLOW", "STOP"]


def finite_or_none(value: float | None) -> float | None:
    """``value`` as a float, or None when it is None, NaN or infinite."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


class CauseInfo(StrictModel):
    """One cause keeping the robots from running at full speed (see ``safety.decision``)."""

    reason: str
    subject: str
    state: StateName
    speed_scale: float = Field(ge=0.0, le=1.0)
    detail: str
    active: bool = Field(description="Observed this cycle (False: restart delay or latch).")
    latched: bool = Field(description="Needs an operator reset once clear.")


class ClosestInfo(StrictModel):
    """The (person, robot) pair with the least margin d − S_p this cycle."""

    track_id: int
    robot_id: str
    distance_m: float | None
    protective_separation_m: float | None
    human_speed_mps: float | None
    robot_speed_mps: float | None


class TrackInfo(StrictModel):
    """One tracked person predicted to the cycle time (floor frame)."""

    track_id: int
    x_m: float
    y_m: float
    vx_mps: float
    vy_mps: float
    radius_m: float


class CameraHealth(StrictModel):
    """One camera's input health at the newest cycle."""

    camera_id: str
    frame_age_s: float | None = Field(description="Age of the newest processed frame.")
    max_frame_age_s: float
    stale: bool
    fault: str | None
    detector_fault: str | None
    frames: int = Field(ge=0, description="Frames processed so far.")
    faulty_frames: int = Field(ge=0)


class RobotHealth(StrictModel):
    """One robot-state input's health at the newest cycle."""

    robot_id: str
    age_s: float | None = Field(description="Age of the newest robot state.")
    max_age_s: float
    stale: bool
    fault: str | None


class StateMessage(StrictModel):
    """``GET /api/state``: the newest decision, what caused it and the inputs' health.

    ``state`` is null before the first decision; ``decision_age_s`` tells how old the
    decision is (a live view must not show a stale RUN as current).
    """

    site: str
    cycle: int = Field(ge=0, description="Decision cycles run so far.")
    state: StateName | None
    speed_scale: float = Field(ge=0.0, le=1.0)
    reasons: list[str]
    causes: list[CauseInfo]
    closest: ClosestInfo | None
    zones_occupied: list[str]
    tracks: list[TrackInfo]
    cameras: list[CameraHealth]
    robots: list[RobotHealth]
    loop_rate_hz: float
    loop_alive: bool
    decision_age_s: float | None


class SnapshotLink(StrictModel):
    """Where to fetch one episode snapshot (a JPEG at the closest approach)."""

    camera_id: str
    url: str


class EpisodeInfo(StrictModel):
    """One evidence episode (see ``safetymon.evidence.records.Episode``), newest first."""

    episode_id: str
    kind: Literal["near_miss", "stop"]
    category: str
    start_utc: str
    end_utc: str
    duration_s: float
    worst_state: StateName
    min_speed_scale: float
    reasons: list[str]
    zones: list[str]
    robot_ids: list[str]
    closest_track_id: int | None
    closest_robot_id: str | None
    min_distance_m: float | None
    protective_separation_m: float | None
    snapshots: list[SnapshotLink]
    snapshot_error: str | None


class EpisodesMessage(StrictModel):
    """``GET /api/episodes``: the newest episodes of the evidence store."""

    evidence_db: str | None = Field(description="The store read, or null when none is kept.")
    episodes: list[EpisodeInfo]
    error: str | None = Field(None, description="Why the store could not be read.")


class CameraInfo(StrictModel):
    """A camera and its stream URLs."""

    camera_id: str
    jpeg_url: str
    mjpeg_url: str


class InfoMessage(StrictModel):
    """``GET /api/info``: what the page needs to lay itself out."""

    site: str
    cameras: list[CameraInfo]
    robots: list[str]
    writable: bool = Field(description="Write actions are possible (a token is configured).")
    max_fps: float = Field(description="Most frames per second a camera stream sends.")
    zone_editor: bool = Field(False, description="The zone editor's API is served.")


class HealthMessage(StrictModel):
    """``GET /healthz``: the view answers; whether the decision loop is alive and current."""

    ok: bool
    loop_alive: bool
    decision_age_s: float | None


class ResetMessage(StrictModel):
    """``POST /api/reset``: an operator reset was handed to the monitor."""

    reset_requested: bool


# ---------------------------------------------------------------------- zone editor

Point = tuple[float, float]


class ZoneShape(StrictModel):
    """One zone of the site file: its polygon in the floor frame, metres."""

    zone_id: str
    type: str
    description: str | None
    polygon: list[Point]


class PlanGeometry(StrictModel):
    """How ``/plan.png`` maps the floor: ``col = origin_px[0] + scale·x``,
    ``row = origin_px[1] − scale·y`` (floor metres → plan pixels)."""

    width_px: int = Field(gt=0)
    height_px: int = Field(gt=0)
    scale_px_per_m: float = Field(gt=0)
    origin_px: Point


class CameraZones(StrictModel):
    """One camera for the editor: whether vertices can be drawn on its image, and the
    zones' polygons in its pixels (null for a zone not wholly in front of the camera)."""

    camera_id: str
    drawable: bool
    why_not: str | None = Field(None, description="Why vertices cannot be drawn on it.")
    image_url: str
    width_px: int | None
    height_px: int | None
    zones: dict[str, list[Point] | None]


class ZonesMessage(StrictModel):
    """``GET /api/zones``: the zones of the site file as the editor edits them."""

    site_file: str | None = Field(description="The site file, or null (editor disabled).")
    sha256: str | None = Field(description="SHA-256 of the site file's text (base of edits).")
    editable: bool = Field(description="Saving is possible (a site file and a token).")
    why_not: str | None = Field(None, description="Why the editor cannot save.")
    zone_types: list[str]
    zones: list[ZoneShape]
    pending: list[str] = Field(description="Zones saved but not yet used by the decision.")
    plan: PlanGeometry
    cameras: list[CameraZones]
    error: str | None = Field(None, description="Why the site file could not be read.")


class ZoneEditBody(ZoneEditRequest):
    """``POST /api/zones/preview|save`` body: a `ZoneEditRequest`; with ``camera_id`` the
    polygon is in that camera's raw pixels (u right, v down) and is mapped to the floor by
    the server."""

    camera_id: str | None = None


class IssueInfo(StrictModel):
    """One reason an edit is refused (the field as ``safetymon config check`` names it)."""

    field: str
    message: str


class ZonePreviewMessage(StrictModel):
    """``POST /api/zones/preview``: whether the edit is valid and what saving would change.

    ``diff`` is given only to a request carrying the write token (the diff shows lines of
    the site file); without it ``diff_withheld`` is true.
    """

    ok: bool
    issues: list[IssueInfo]
    protection: list[str] = Field(
        default_factory=list,
        description="What the edit does to the protection (zone areas lost, each robot's "
        "protective cover of its worst-case S_p): `geometry.protection`.",
    )
    polygon_m: list[Point] | None = Field(description="The polygon on the floor, metres.")
    diff: str | None
    diff_withheld: bool
    added: bool
    base_sha256: str | None
    old_config_hash: str | None
    new_config_hash: str | None


class ZoneSaveMessage(StrictModel):
    """``POST /api/zones/save``: the file was written and the change recorded."""

    saved: bool
    zone_id: str
    sha256: str = Field(description="SHA-256 of the site file after saving.")
    old_config_hash: str
    new_config_hash: str
    polygon_m: list[Point]
    pending: list[str]
    diff: str
    protection: list[str] = Field(
        default_factory=list, description="What the edit did to the protection."
    )


class ZoneRefusal(StrictModel):
    """A refused save (409: the file changed; 422: the edit is invalid)."""

    error: str
    issues: list[IssueInfo]


class ZoneApplyMessage(StrictModel):
    """``POST /api/zones/apply``: whether a pending change was taken into use now."""

    applied: bool
    pending: list[str]
