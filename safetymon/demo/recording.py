"""What the demo keeps of a run: the annotated video, the history the floor plan draws and
the decision's state changes.

`StateTimeline` keeps each change of the decision's state (the run's RUN / SLOW / STOP
sequence, for ``summary.json``). `DemoRecorder` runs its own thread: whenever the camera
worker has processed a new frame it draws the detections and the newest decision on it
(`safetymon.monitor.annotate`) and hands it to the video writer, and it samples the tracks,
the scripted people's true positions and the state for the floor plan. It only reads the
monitor; it never holds a lock the decision loop waits on for longer than a copy.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from safetymon.monitor.annotate import annotate_frame
from safetymon.monitor.app import Monitor
from safetymon.monitor.decision_loop import CycleRecord
from safetymon.safety.decision import Decision
from safetymon.signals.frame import SafetyState
from safetymon.sim.live import RenderedCameraSource
from safetymon.sim.render import write_video

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlanSample:
    """One instant of the run for the floor plan (floor frame, metres).

    Attributes:
        scene_s: scene time, seconds.
        state: the decision at that instant.
        tracks: (N, 3) track id, x, y of the tracks the monitor holds.
        truth: (M, 3) scripted person id, x, y (ground truth).
    """

    scene_s: float
    state: SafetyState
    tracks: np.ndarray
    truth: np.ndarray


@dataclass(frozen=True)
class StateChange:
    """The decision changed state.

    Attributes:
        time_s: monotonic time of the cycle, seconds.
        state: the new state.
        speed_scale: its speed scale, 0..1.
        reasons: its reason names.
    """

    time_s: float
    state: SafetyState
    speed_scale: float
    reasons: tuple[str, ...]


class StateTimeline:
    """A decision-loop listener keeping every change of the decision's state.

    Args:
        source: the rendered camera (its scene clock).
    """

    def __init__(self, source: RenderedCameraSource) -> None:
        self.source = source
        self.changes: list[StateChange] = []
        self._last: SafetyState | None = None

    def __call__(self, record: CycleRecord) -> None:
        """Note the cycle's state if it differs from the previous cycle's."""
        decision = record.decision
        if decision.state is self._last:
            return
        self._last = decision.state
        self.changes.append(StateChange(
            decision.time_s, decision.state, float(decision.speed_scale),
            tuple(decision.reason_names),
        ))  # fmt: skip

    def as_dicts(self) -> list[dict[str, object]]:
        """JSON form of the changes, in order, in scene seconds (0: the camera's first frame;
        negative: while the monitor was starting)."""
        start = self.source.started_s
        return [
            {"scene_s": round(c.time_s - start, 3) if start is not None else None,
             "state": c.state.name, "speed_scale": round(c.speed_scale, 3),
             "reasons": list(c.reasons)}
            for c in list(self.changes)
        ]  # fmt: skip


@dataclass
class DemoHistory:
    """Everything sampled during the run."""

    samples: list[PlanSample] = field(default_factory=list)
    frames_written: int = 0
    states_seen: set[str] = field(default_factory=set)


class DemoRecorder:
    """Writes the annotated video and samples the plan history while the demo runs.

    Args:
        monitor: the running monitor.
        source: the rendered camera (ground truth, scene time).
        camera_id: the camera to record.
        video_path: .mp4 or .avi file to write.
        fps: the camera's frame rate (the video's rate).
    """

    def __init__(
        self,
        monitor: Monitor,
        source: RenderedCameraSource,
        camera_id: str,
        video_path: Path,
        fps: float,
    ) -> None:
        self.monitor = monitor
        self.source = source
        self.camera_id = camera_id
        self.video_path = video_path
        self.fps = fps
        self.history = DemoHistory()
        self._frames: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=64)
        self._stop = threading.Event()
        self._writer_error: BaseException | None = None
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start sampling and writing."""
        for target, name in ((self._sample_loop, "demo-sampler"), (self._write, "demo-video")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> DemoHistory:
        """Stop sampling, finish the video file; returns the history.

        Raises:
            OSError: the video could not be written.
        """
        self._stop.set()
        if not self._threads:  # never started (the demo failed before recording)
            return self.history
        self._threads[0].join(5.0)
        self._frames.put(None)
        self._threads[1].join(30.0)
        if self._writer_error is not None:
            raise OSError(f"video {self.video_path}: {self._writer_error}")
        return self.history

    def _decision(self) -> Decision | None:
        last = self.monitor.loop.last
        return None if last is None else last.decision

    def _sample_loop(self) -> None:
        seen = -1
        while not self._stop.wait(0.5 / self.fps):
            view = self.monitor.hub.views().get(self.camera_id)
            if view is None or view.frame is None or view.frames == seen:
                continue
            seen = view.frames
            decision = self._decision()
            capture_s = view.result.capture_s if view.result is not None else 0.0
            scene_s = self.source.scene_time(capture_s)
            if decision is not None:
                self.history.states_seen.add(decision.state.name)
            image = annotate_frame(view.frame, view.result, decision, caption=f"t={scene_s:5.1f} s")
            try:
                self._frames.put(image, timeout=1.0)
            except queue.Full:
                log.warning("the demo video writer is behind; a frame was skipped")
            self._sample(scene_s, decision)

    def _sample(self, scene_s: float, decision: Decision | None) -> None:
        tracks = self.monitor.hub.tracks()
        state = self.source.latest_state()
        self.history.samples.append(
            PlanSample(
                scene_s,
                decision.state if decision is not None else SafetyState.STOP,
                np.array([(t.track_id, *t.xy) for t in tracks], dtype=np.float64).reshape(-1, 3),
                np.array(
                    [(p.track_id, *p.xy) for p in (state.people if state else ())],
                    dtype=np.float64,
                ).reshape(-1, 3),
            )
        )

    def _queued(self) -> Iterator[np.ndarray]:
        while (frame := self._frames.get()) is not None:
            yield frame

    def _write(self) -> None:
        try:
            self.history.frames_written = write_video(self.video_path, self._queued(), self.fps)
        except Exception as exc:  # reported by stop(); drain so the sampler never blocks
            self._writer_error = exc
            while self._frames.get() is not None:
                pass
