"""Live perception: one worker thread per camera feeding one tracker, read by the decision.

Each camera's worker sleeps until its source has a new frame, runs the camera's
`CameraPipeline` on it (detection and floor mapping, tens of milliseconds) and hands the
result to the hub, which updates the multi-camera tracker under a lock. The decision loop
never waits for detection: each cycle it takes the lock only to predict the tracks to the
cycle time and to read each camera's health.

Camera health at a cycle (`CameraStatus`):
- ``frame_age_s``: cycle time minus the capture time of the newest frame whose detections
  are in the tracks (infinite before the first), so a stalled camera, a hung detector and a
  dead worker all show as a growing age (CAMERA_STALE once over ``max_frame_age_s``);
- ``fault``: the source's own fault (disconnected, frozen, ended) or a newest frame of
  another size than the floor mapping's (CAMERA_FAULT);
- ``detector_fault``: why else the newest frame could not be used (DETECTOR_FAULT),
  including a worker that died.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from safetymon.monitor.camera_pipeline import CameraPipeline, FrameResult
from safetymon.perception.mapping import FloorMapper
from safetymon.perception.sources import FrameSource
from safetymon.perception.tracking import MultiCameraTracker
from safetymon.perception.tracking.tracker import TrackView
from safetymon.safety.inputs import CameraStatus, HumanBatch

log = logging.getLogger(__name__)

_WAIT_S = 0.05
"""Longest sleep of a worker waiting for a frame, so it notices a stop request, seconds."""


@dataclass(frozen=True)
class FrameTiming:
    """Where one frame's time went, monotonic seconds (for the latency budget).

    Attributes:
        capture_s: the source read the frame.
        picked_s: the worker took it (capture → picked: queueing behind the previous frame).
        detected_s: detection and mapping finished.
        tracked_s: the tracker holds its observations.
        detect_s, map_s: detection + mapping time and its mapping part, seconds.
    """

    capture_s: float
    picked_s: float
    detected_s: float
    tracked_s: float
    detect_s: float
    map_s: float


@dataclass(frozen=True)
class CameraView:
    """What the hub knows of one camera now (for status, evidence snapshots, the live view).

    Attributes:
        camera_id: the camera.
        frame: newest processed frame (BGR), or None before the first.
        result: its detections and floor positions, or None.
        timing: its latency breakdown, or None.
        frames: frames processed so far.
        faults: frames that reported a fault so far.
    """

    camera_id: str
    frame: np.ndarray | None
    result: FrameResult | None
    timing: FrameTiming | None
    frames: int
    faults: int


class _Camera:
    """Mutable per-camera record; only touched under the hub's lock."""

    def __init__(self, camera_id: str, source: FrameSource, pipeline: CameraPipeline) -> None:
        self.camera_id = camera_id
        self.source = source
        self.pipeline = pipeline
        self.frame: np.ndarray | None = None
        self.result: FrameResult | None = None
        self.timing: FrameTiming | None = None
        self.frames = 0
        self.faults = 0
        self.worker_fault: str | None = None
        self.reported_fault: str | None = None  # the frame fault last written to the log
        self.thread: threading.Thread | None = None


FrameListener = Callable[[FrameResult, FrameTiming], None]


class PerceptionHub:
    """Camera workers, the tracker and the camera health the decision reads.

    Args:
        sources: frame source per camera id (not yet started).
        pipelines: perception pipeline per camera id (same ids).
        tracker: the site's multi-camera tracker (the hub owns it from now on).
        on_frame: called in the worker thread after each frame (metrics); must be quick.
        clock: monotonic clock, seconds.

    Raises:
        ValueError: the camera ids of sources and pipelines differ.
    """

    def __init__(
        self,
        sources: Mapping[str, FrameSource],
        pipelines: Mapping[str, CameraPipeline],
        tracker: MultiCameraTracker,
        *,
        on_frame: FrameListener | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if set(sources) != set(pipelines):
            raise ValueError(
                f"cameras with a source {sorted(sources)} differ from cameras with a pipeline "
                f"{sorted(pipelines)}"
            )
        self._lock = threading.Lock()
        self._tracker = tracker
        self._cameras = {cid: _Camera(cid, sources[cid], pipelines[cid]) for cid in pipelines}
        self._on_frame = on_frame
        self.on_tracks_updated: Callable[[], None] | None = None
        """Called after each frame's observations are in the tracks (the decision loop's
        ``nudge``, so the frame is decided on at once)."""
        self._clock = clock
        self._stop = threading.Event()

    @property
    def camera_ids(self) -> tuple[str, ...]:
        """The cameras, in configuration order."""
        return tuple(self._cameras)

    def mapper(self, camera_id: str) -> FloorMapper:
        """The floor mapper (camera pixels → floor metres) of camera ``camera_id``.

        Raises:
            KeyError: no such camera.
        """
        return self._cameras[camera_id].pipeline.mapper

    def start(self) -> None:
        """Start every source and one worker thread per camera."""
        for camera in self._cameras.values():
            camera.source.start()
            self._start_worker(camera)

    def _start_worker(self, camera: _Camera) -> None:
        camera.thread = threading.Thread(
            target=self._work, args=(camera,), name=f"detect-{camera.camera_id}", daemon=True
        )
        camera.thread.start()

    def worker_alive(self, camera_id: str) -> bool:
        """Whether camera ``camera_id``'s detection worker runs (False after ``stop``)."""
        thread = self._cameras[camera_id].thread
        return thread is not None and thread.is_alive()

    def restart_worker(self, camera_id: str) -> None:
        """Start a new detection worker for a camera whose worker died; clears its fault.

        The camera's frames stay stale (STOP) until the new worker has processed one.
        """
        camera = self._cameras[camera_id]
        if self._stop.is_set() or self.worker_alive(camera_id):
            return
        with self._lock:
            camera.worker_fault = None
        self._start_worker(camera)

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop the workers (each finishes its current frame) and the sources."""
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for camera in self._cameras.values():
            if camera.thread is not None:
                camera.thread.join(max(0.0, deadline - time.monotonic()))
        for camera in self._cameras.values():
            try:
                camera.source.stop(max(0.1, deadline - time.monotonic()))
            except Exception as exc:  # stopping is best effort; the process is ending
                log.warning("stopping camera %s failed: %s", camera.camera_id, exc)

    # ------------------------------------------------------------------ the decision's view
    def humans_at(self, time_s: float) -> HumanBatch:
        """Tracked people predicted to monotonic ``time_s`` (seconds)."""
        with self._lock:
            return self._tracker.humans_at(time_s)

    def camera_statuses(self, now_s: float) -> tuple[CameraStatus, ...]:
        """Health of every camera at monotonic ``now_s`` (seconds)."""
        statuses = []
        for camera in self._cameras.values():
            source_status = camera.source.status(now_s)
            with self._lock:
                result, worker_fault = camera.result, camera.worker_fault
            age = math.inf if result is None else max(0.0, now_s - result.capture_s)
            fault = source_status.fault
            if fault is not None and fault.startswith("stalled"):
                fault = None  # a stall shows as the frame age (CAMERA_STALE), not as a fault
            frame_fault, detector_fault = (None, None) if result is None else result.split_fault()
            fault = "; ".join(f for f in (fault, frame_fault) if f) or None
            detector_fault = worker_fault or detector_fault
            statuses.append(CameraStatus(camera.camera_id, age, fault, detector_fault))
        return tuple(statuses)

    def newest_capture_s(self) -> float | None:
        """Capture time of the newest processed frame of any camera, monotonic seconds."""
        with self._lock:
            times = [c.result.capture_s for c in self._cameras.values() if c.result is not None]
        return max(times) if times else None

    def views(self) -> dict[str, CameraView]:
        """What each camera shows now (frames are shared, not copied: do not modify them)."""
        with self._lock:
            return {
                c.camera_id: CameraView(
                    c.camera_id, c.frame, c.result, c.timing, c.frames, c.faults
                )
                for c in self._cameras.values()
            }

    def frames(self) -> dict[str, np.ndarray]:
        """Newest processed frame of each camera that has one (evidence snapshots)."""
        with self._lock:
            return {c.camera_id: c.frame for c in self._cameras.values() if c.frame is not None}

    def tracks(self) -> tuple[TrackView, ...]:
        """Every track the tracker holds (live view)."""
        with self._lock:
            return self._tracker.tracks()

    # ------------------------------------------------------------------ workers
    def _work(self, camera: _Camera) -> None:
        try:
            self._work_loop(camera)
        except BaseException as exc:  # a dead worker must be seen: DETECTOR_FAULT, then stale
            log.exception("camera %s worker failed", camera.camera_id)
            with self._lock:
                camera.worker_fault = f"camera worker failed: {type(exc).__name__}: {exc}"

    def _work_loop(self, camera: _Camera) -> None:
        last_seq = -1
        while not self._stop.is_set():
            latest = camera.source.wait_newer(last_seq, _WAIT_S)
            if latest is None:
                continue
            frame, capture_s, last_seq = latest
            picked = self._clock()
            result = camera.pipeline.process(frame, capture_s)
            detected = self._clock()
            with self._lock:
                if result.fault is None or result.observations:
                    # a frame that failed outright is not "nobody there": tracks coast
                    self._tracker.update(result.observations, result.capture_s)
                tracked = self._clock()
                timing = FrameTiming(
                    capture_s, picked, detected, tracked, result.detect_s, result.map_s
                )
                camera.frame, camera.result, camera.timing = frame, result, timing
                camera.frames += 1
                camera.faults += result.fault is not None
            if result.fault != camera.reported_fault:  # only when it changes, not per frame
                camera.reported_fault = result.fault
                if result.fault is not None:
                    log.warning("camera %s frame fault (STOP): %s", camera.camera_id, result.fault)
                else:
                    log.warning("camera %s frames usable again", camera.camera_id)
            if self.on_tracks_updated is not None:
                self.on_tracks_updated()
            if self._on_frame is not None:
                try:
                    self._on_frame(result, timing)
                except Exception:  # metrics must never stop perception
                    log.exception("frame listener failed")
