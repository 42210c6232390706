"""What the live view reads: the ``LiveSource`` protocol and its adapter over a `Monitor`.

The adapter only reads what the monitor already keeps: the decision loop's newest
`CycleRecord` (one attribute read, no lock), the perception hub's newest frame per camera
(``hub.views()``, a short lock) and the evidence store (read-only, its own connection).
Drawing and encoding happen in the web server's threads, never in the decision loop.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from safetymon.config.site import SiteConfig
from safetymon.evidence.records import Episode
from safetymon.monitor.annotate import annotate_frame
from safetymon.monitor.app import Monitor
from safetymon.monitor.decision_loop import CycleRecord
from safetymon.safety.decision import Cause, Decision
from safetymon.viz.plan import PlanRenderer
from safetymon.web.episodes import EpisodeArchive, SnapshotError
from safetymon.web.messages import (
    CameraHealth,
    CauseInfo,
    ClosestInfo,
    PlanGeometry,
    RobotHealth,
    StateMessage,
    TrackInfo,
    finite_or_none,
)

PLAN_SIZE_PX = (960, 720)
"""Size of the live floor plan, (width, height) pixels."""

PLACEHOLDER_SIZE_PX = (640, 480)
"""Size of the image shown for a camera before its first frame, (width, height) pixels."""


class LiveSource(Protocol):
    """What the live view shows. Every method is called from web server threads."""

    @property
    def site(self) -> str:
        """The site's name."""
        ...

    @property
    def camera_ids(self) -> tuple[str, ...]:
        """The cameras, in configuration order."""
        ...

    @property
    def robot_ids(self) -> tuple[str, ...]:
        """The robots, in configuration order."""
        ...

    @property
    def evidence_db(self) -> Path | None:
        """The evidence store read for episodes, or None when none is kept."""
        ...

    def state(self) -> StateMessage:
        """The newest decision, its causes, tracks and the inputs' health."""
        ...

    def loop_health(self) -> tuple[bool, float | None]:
        """(decision loop alive, age of the newest decision in seconds or None)."""
        ...

    def camera_image(self, camera_id: str) -> tuple[np.ndarray, int]:
        """(annotated BGR image, frames processed so far; 0: a placeholder before the first).

        Raises:
            KeyError: no such camera.
        """
        ...

    def plan_image(self) -> np.ndarray:
        """The floor plan (BGR) with the tracks the newest decision saw."""
        ...

    def episodes(self, limit: int) -> list[Episode]:
        """Up to ``limit`` newest evidence episodes (raises ReadError if unreadable)."""
        ...

    def snapshot(self, episode_id: str, camera_id: str) -> bytes:
        """One episode snapshot's JPEG bytes (raises ``episodes.SnapshotError``)."""
        ...

    def request_reset(self) -> None:
        """Hand an authenticated operator reset to the monitor."""
        ...


class MonitorSource:
    """`LiveSource` over a running (or about to run) `Monitor`.

    Args:
        monitor: the monitor (built; may be started later).
        config: its site.
        base_dir: the site file's folder (calibration and URDF paths of the plan).
        plan_size_px: (width, height) of the floor plan image, pixels.

    Raises:
        ConfigError, ValueError: the floor plan cannot be drawn (see ``PlanRenderer``).
    """

    def __init__(
        self,
        monitor: Monitor,
        config: SiteConfig,
        base_dir: Path,
        *,
        plan_size_px: tuple[int, int] = PLAN_SIZE_PX,
    ) -> None:
        self._monitor = monitor
        self._config = config
        self._base_dir = Path(base_dir)
        self._plan_size_px = plan_size_px
        self._plan = PlanRenderer(config, base_dir, size_px=plan_size_px, track_legend=True)
        self._plan_config = config
        self._applied_config = config
        self._plan_lock = threading.Lock()
        monitor.zone_changes.on_applied.append(self._zones_applied)
        self._max_frame_age = {c.id: c.max_frame_age_s for c in config.cameras}
        self._max_state_age = {r.id: r.max_state_age_s for r in config.robots}
        recorder = monitor.recorder
        self._archive = (
            EpisodeArchive(recorder.db_path, recorder.writer.snapshot_dir)
            if recorder is not None
            else None
        )

    @property
    def site(self) -> str:
        """The site's name."""
        return self._config.site

    @property
    def camera_ids(self) -> tuple[str, ...]:
        """The cameras, in configuration order."""
        return tuple(c.id for c in self._config.cameras)

    @property
    def robot_ids(self) -> tuple[str, ...]:
        """The robots, in configuration order."""
        return tuple(r.id for r in self._config.robots)

    @property
    def evidence_db(self) -> Path | None:
        """The evidence store read for episodes, or None when none is kept."""
        return self._archive.db_path if self._archive is not None else None

    def loop_health(self) -> tuple[bool, float | None]:
        """(decision loop alive, age of the newest decision in seconds or None)."""
        record = self._monitor.loop.last
        age = None if record is None else max(0.0, time.monotonic() - record.decision.time_s)
        return self._monitor.loop.alive, age

    def state(self) -> StateMessage:
        """The newest decision, its causes, tracks and the inputs' health."""
        record = self._monitor.loop.last
        alive = self._monitor.loop.alive
        age = None if record is None else max(0.0, time.monotonic() - record.decision.time_s)
        views = self._monitor.hub.views()
        if record is None:
            return StateMessage(
                site=self.site, cycle=0, state=None, speed_scale=0.0, reasons=[], causes=[],
                closest=None, zones_occupied=[], tracks=[], cameras=[], robots=[],
                loop_rate_hz=0.0, loop_alive=alive, decision_age_s=None,
            )  # fmt: skip
        decision = record.decision
        cameras = [
            CameraHealth(
                camera_id=c.camera_id,
                frame_age_s=finite_or_none(c.frame_age_s),
                max_frame_age_s=self._max_frame_age.get(c.camera_id, 0.0),
                stale=not c.frame_age_s <= self._max_frame_age.get(c.camera_id, math.inf),
                fault=c.fault,
                detector_fault=c.detector_fault,
                frames=views[c.camera_id].frames if c.camera_id in views else 0,
                faulty_frames=views[c.camera_id].faults if c.camera_id in views else 0,
            )
            for c in record.cycle.cameras
        ]
        robots = [
            RobotHealth(
                robot_id=r.robot_id,
                age_s=finite_or_none(r.age_s),
                max_age_s=self._max_state_age.get(r.robot_id, 0.0),
                stale=not r.age_s <= self._max_state_age.get(r.robot_id, math.inf),
                fault=r.problem() if math.isfinite(r.age_s) else r.fault,
            )
            for r in record.cycle.robots
        ]
        return StateMessage(
            site=self.site,
            cycle=self._monitor.loop.cycles,
            state=decision.state.name,  # type: ignore[arg-type]
            speed_scale=min(1.0, max(0.0, float(decision.speed_scale))),
            reasons=list(decision.reason_names),
            causes=[_cause(c) for c in decision.causes],
            closest=_closest(decision),
            zones_occupied=sorted(z for z, on in decision.zones_occupied.items() if on),
            tracks=_tracks(record),
            cameras=cameras,
            robots=robots,
            loop_rate_hz=finite_or_none(record.loop_rate_hz) or 0.0,
            loop_alive=alive,
            decision_age_s=age,
        )

    def camera_image(self, camera_id: str) -> tuple[np.ndarray, int]:
        """(annotated BGR image, frames processed so far; 0: a placeholder before the first).

        Raises:
            KeyError: no such camera.
        """
        view = self._monitor.hub.views()[camera_id]
        record = self._monitor.loop.last
        decision = record.decision if record is not None else None
        if view.frame is None:
            return _placeholder(decision, camera_id), 0
        return annotate_frame(view.frame, view.result, decision, caption=camera_id), view.frames

    def _zones_applied(self, config: SiteConfig) -> None:
        # called in the thread that applied the change (maybe the decision loop's): only
        # note it; the plan is redrawn in a web thread when it is next asked for
        self._applied_config = config

    def _current_plan(self) -> PlanRenderer:
        """The plan renderer, redrawn first if the monitor applied edited zones since."""
        with self._plan_lock:
            config = self._applied_config
            if config is not self._plan_config:
                self._plan = PlanRenderer(
                    config, self._base_dir, size_px=self._plan_size_px, track_legend=True
                )
                self._plan_config = config
            return self._plan

    def plan_geometry(self) -> PlanGeometry:
        """The live plan's floor metres → plan pixels transform and its size."""
        plan = self._current_plan()
        transform = plan.base.transform
        height, width = plan.base.image.shape[:2]
        return PlanGeometry(
            width_px=width,
            height_px=height,
            scale_px_per_m=float(transform.scale_px_per_m),
            origin_px=(float(transform.origin_px[0]), float(transform.origin_px[1])),
        )

    def plan_image(self) -> np.ndarray:
        """The floor plan (BGR) with the tracks the newest decision saw (and the zones the
        decision uses: redrawn after an edit is applied, not when it is only saved)."""
        plan = self._current_plan()
        record = self._monitor.loop.last
        if record is None:
            return plan.render()
        humans = record.cycle.humans
        rows = np.c_[humans.xy, humans.radius_m] if humans.count else np.zeros((0, 3))
        keep = np.all(np.isfinite(rows), axis=1) & (rows[:, 2] >= 0)
        labels = [f"#{int(t)}" for t in humans.track_ids[keep]]
        return plan.render(rows[keep], labels)

    def episodes(self, limit: int) -> list[Episode]:
        """Up to ``limit`` newest evidence episodes (raises ReadError if unreadable)."""
        return [] if self._archive is None else self._archive.newest(limit)

    def snapshot(self, episode_id: str, camera_id: str) -> bytes:
        """One episode snapshot's JPEG bytes (raises ``episodes.SnapshotError``)."""
        if self._archive is None:
            raise SnapshotError(404, "this monitor keeps no evidence store")
        return self._archive.snapshot(episode_id, camera_id)

    def request_reset(self) -> None:
        """Hand an authenticated operator reset to the monitor."""
        self._monitor.request_reset()


def _cause(cause: Cause) -> CauseInfo:
    return CauseInfo(
        reason=cause.reason.name or str(int(cause.reason)),
        subject=cause.subject,
        state=cause.state.name,  # type: ignore[arg-type]
        speed_scale=min(1.0, max(0.0, float(cause.speed_scale))),
        detail=cause.detail,
        active=cause.active,
        latched=cause.latched,
    )


def _closest(decision: Decision) -> ClosestInfo | None:
    closest = decision.closest
    if closest is None:
        return None
    return ClosestInfo(
        track_id=closest.track_id,
        robot_id=closest.robot_id,
        distance_m=finite_or_none(closest.distance_m),
        protective_separation_m=finite_or_none(closest.protective_separation_m),
        human_speed_mps=finite_or_none(closest.human_speed_mps),
        robot_speed_mps=finite_or_none(closest.robot_speed_mps),
    )


def _tracks(record: CycleRecord) -> list[TrackInfo]:
    humans = record.cycle.humans
    tracks = []
    for index in range(humans.count):
        values = (*humans.xy[index], *humans.velocity[index], humans.radius_m[index])
        if not all(math.isfinite(float(v)) for v in values):
            continue  # a non-finite track is the decision's fault to report, not a point to draw
        x, y, vx, vy, radius = (float(v) for v in values)
        track_id = int(humans.track_ids[index])
        tracks.append(
            TrackInfo(track_id=track_id, x_m=x, y_m=y, vx_mps=vx, vy_mps=vy, radius_m=radius)
        )
    return tracks


def _placeholder(decision: Decision | None, camera_id: str) -> np.ndarray:
    width, height = PLACEHOLDER_SIZE_PX
    image = np.full((height, width, 3), 64, np.uint8)
    cv2.putText(
        image, f"{camera_id}: waiting for the first frame", (20, height // 2),
        cv2.FONT_HERSHEY_SIMPLEX, 0.7, (230, 230, 230), 2, cv2.LINE_AA,
    )  # fmt: skip
    return annotate_frame(image, None, decision, caption=camera_id)
