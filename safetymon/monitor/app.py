"""The live monitor: cameras → perception → tracks; robot states; decision loop; outputs; evidence.

`Monitor.build` does everything that can refuse to start (configuration, calibration,
reference images, models, robot kinematics, evidence store, output sockets) before any
thread runs; `start` then starts, in order, the outputs (publishing STOP), the robot-state
receivers, the cameras and their detection workers, and the fixed-rate decision loop.
`stop` ends the loop, publishes STOP with the SHUTDOWN reason, closes the evidence run and
the outputs, then the inputs.

Threads: one capture thread and one detection worker per camera (`PerceptionHub`), one
receiver per robot-state input, the decision loop (`DecisionLoop`), the publisher's
heartbeat, the evidence writer and, when enabled, the metrics HTTP server and the evidence
shipper (`evidence.ship`: to the central PostgreSQL, never a STOP cause). The decision
loop reads the others' newest results under short locks and is never blocked by detection.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

import cv2
import numpy as np

from safetymon.config.loader import ConfigError, ConfigIssue, config_hash
from safetymon.config.site import SiteConfig
from safetymon.geometry import kernels
from safetymon.monitor.camera_pipeline import FrameResult
from safetymon.monitor.decision_loop import CycleRecord, DecisionLoop
from safetymon.monitor.evidence_hook import EvidenceRecorder
from safetymon.monitor.evidence_shipper import EvidenceShipper
from safetymon.monitor.input_keys import load_state_input_keys
from safetymon.monitor.metrics import MonitorMetrics
from safetymon.monitor.outputs import SignalOutputs
from safetymon.monitor.perception_hub import FrameTiming, PerceptionHub
from safetymon.monitor.perception_setup import build_pipelines, detection_threads
from safetymon.monitor.robot_mask import Project, RobotMasker
from safetymon.monitor.status import StatusLine, format_status
from safetymon.monitor.supervisor import Supervised, Supervisor
from safetymon.monitor.zone_changes import ZoneChanges
from safetymon.perception.camera_latency import camera_latencies, latency_seconds
from safetymon.perception.mapping import FloorMapper
from safetymon.perception.sources import CameraSource, FrameSource
from safetymon.perception.tracking import MultiCameraTracker
from safetymon.robot.receiver import start_receivers
from safetymon.robot.store import RobotStateStore
from safetymon.safety.decision import Decision, DecisionEngine
from safetymon.safety.inputs import CycleInput
from safetymon.safety.site import compile_site
from safetymon.signals.endpoints import check_bindable
from safetymon.signals.frame import SafetyState
from safetymon.signals.reasons import Reason

log = logging.getLogger(__name__)

CycleListener = Callable[[CycleRecord], None]


@dataclass
class MonitorParts:
    """Replacements for configured parts (the demo, tests and benchmarks use them).

    Attributes:
        sources: frame source per camera id instead of opening the configured device.
        references: empty-cell reference image per camera id (foreground detector).
        mappers: floor mapper per camera id instead of the configured calibration.
        projectors: floor → pixel projection per camera id for the robot mask (default: the
            calibrated camera's pose, when the calibration has one).
        zmq_endpoint: publish on this endpoint (overrides ``outputs.zmq``; opens one if none).
        evidence_db: evidence database (default ``evidence.db_path``); relative paths are
            against the working directory.
        record_evidence: False runs without an evidence store (tests of other parts only).
        status_stream: where the one-line status goes (None: no status line).
        metrics: serve Prometheus metrics (default: ``monitor.metrics.enabled``).
        models_dir: folder of the model manifest (default: ``models`` beside the site).
        listeners: extra decision-loop listeners (live view, benchmarks), called last.
        camera_latency_s: glass-to-frame latency per camera id (seconds) instead of the
            resolved one (``perception.camera_latency``), e.g. 0 for a rendered camera.
    """

    sources: Mapping[str, FrameSource] | None = None
    references: Mapping[str, np.ndarray] | None = None
    mappers: Mapping[str, FloorMapper] | None = None
    projectors: Mapping[str, Project] | None = None
    zmq_endpoint: str | None = None
    evidence_db: Path | None = None
    record_evidence: bool = True
    status_stream: TextIO | None = None
    metrics: bool | None = None
    models_dir: Path | None = None
    listeners: tuple[CycleListener, ...] = field(default_factory=tuple)
    camera_latency_s: Mapping[str, float] | None = None


def _camera_latencies(
    config: SiteConfig, base_dir: Path, given: Mapping[str, float] | None
) -> dict[str, float]:
    """Each camera's glass-to-frame latency (seconds): ``given`` where it names the camera,
    else resolved from the calibration file, site file or default (warning logged)."""
    given = dict(given or {})
    latencies = camera_latencies(config, base_dir)
    for latency in latencies.values():
        if latency.warning is not None and latency.camera_id not in given:
            log.warning("%s", latency.warning)
    return {**latency_seconds(latencies), **given}


class Monitor:
    """One running monitor of a site. Build with :meth:`build`, then :meth:`start`."""

    def __init__(
        self,
        config: SiteConfig,
        hub: PerceptionHub,
        robots: RobotStateStore,
        outputs: SignalOutputs,
        recorder: EvidenceRecorder | None,
        metrics: MonitorMetrics | None,
        status: StatusLine | None,
        listeners: tuple[CycleListener, ...],
        metrics_port: int | None = None,
        camera_latency_s: Mapping[str, float] | None = None,
    ) -> None:
        self.config = config
        self.hub = hub
        self.robots = robots
        self.outputs = outputs
        self.recorder = recorder
        self.metrics = metrics
        self.metrics_port = metrics_port
        self.status = status
        self._reset = threading.Event()
        self._receivers: list = []
        self._faults: list[tuple[str, str]] = []
        self._stopped = False
        self._opencv_threads_before: int | None = None
        engine = DecisionEngine(compile_site(config, camera_latency_s))
        self.site_file: Path | None = None
        self.input_keys: dict[str, bytes] = {}  # robot-state input keys, by configured file
        self.supervisor: Supervisor | None = None  # restarts dead input threads (start())
        self.shipper: EvidenceShipper | None = None  # evidence.ship: to the central PostgreSQL
        self.zone_changes = ZoneChanges(
            config,
            record=recorder.writer.record if recorder is not None else None,
            run_id=recorder.run_id if recorder is not None else None,
            camera_latency_s=camera_latency_s,
        )
        self.zone_changes.on_applied.append(self._config_applied)
        own: list[CycleListener] = [self._signal_evidence, self.zone_changes.on_cycle]
        if metrics is not None:
            own.append(self._record_metrics)
        if status is not None:
            own.append(self._show_status)
        self.loop = DecisionLoop(
            engine,
            self._gather,
            self._signal,
            rate_hz=config.safety.decision_rate_hz,
            overrun_factor=config.monitor.overrun_factor,
            listeners=(*own, *listeners),
        )
        self.zone_changes.loop = self.loop
        hub.on_tracks_updated = self.loop.nudge  # decide on a new frame at once

    # ------------------------------------------------------------------ building
    @classmethod
    def build(
        cls,
        config: SiteConfig,
        base_dir: Path,
        *,
        site_file: Path | None = None,
        parts: MonitorParts | None = None,
    ) -> Monitor:
        """Set up every part; nothing runs yet.

        Raises:
            ConfigError: perception or robot kinematics cannot be set up from the config
                (names the field): exit 2.
            OSError: an output cannot be opened or the evidence store cannot be used
                (names it): exit 1.
        """
        parts = parts or MonitorParts()
        base_dir = Path(base_dir)
        try:
            robots = RobotStateStore(config.robots, base_dir)
        except ValueError as exc:
            raise ConfigError(
                [ConfigIssue(str(site_file or "<site>"), "robots", str(exc), None, False)]
            ) from exc
        input_keys = load_state_input_keys(config, base_dir, site_file)
        latency_s = _camera_latencies(config, base_dir, parts.camera_latency_s)
        mappers = dict(parts.mappers or {})
        for camera in config.cameras:
            if camera.id not in mappers:
                mappers[camera.id] = FloorMapper.from_camera_config(camera, base_dir)
        projectors = dict(parts.projectors or {})
        for camera_id, mapper in mappers.items():
            if camera_id not in projectors and mapper.pose is not None:
                projectors[camera_id] = mapper.project_points
        if config.robots:
            for camera in config.cameras:
                if camera.id not in projectors:
                    log.warning(
                        "camera %s has no calibrated pose: the robot cannot be masked out of "
                        "its detections and may be seen as a person near the robot (STOP)",
                        camera.id,
                    )
        masks = {
            camera_id: RobotMasker(project, lambda: robots.snapshots(time.monotonic()))
            for camera_id, project in projectors.items()
        }
        pipelines = build_pipelines(
            config,
            base_dir,
            site_file=site_file,
            models_dir=parts.models_dir,
            references=dict(parts.references or {}),
            mappers=mappers,
            ignore_masks=masks,
        )
        sources: dict[str, FrameSource] = dict(parts.sources or {})
        for camera in config.cameras:
            if camera.id not in sources:
                sources[camera.id] = CameraSource(camera)
        metrics = None
        metrics_wanted = config.monitor.metrics.enabled if parts.metrics is None else parts.metrics
        if metrics_wanted:
            metrics = MonitorMetrics()
        hub = PerceptionHub(
            sources,
            pipelines,
            MultiCameraTracker(config.tracking),
            on_frame=_frame_metrics(metrics) if metrics is not None else None,
        )
        recorder = None
        if parts.record_evidence:
            db_path = Path(parts.evidence_db or config.evidence.db_path)
            snapshot_dir = (
                db_path.parent / "snapshots"
                if parts.evidence_db is not None
                else Path(config.evidence.snapshot_dir)
            )
            try:
                recorder = EvidenceRecorder(config, db_path, snapshot_dir=snapshot_dir)
            except Exception as exc:  # StoreError, OSError: refuse to run without evidence
                raise OSError(f"evidence store {db_path}: {exc}") from exc
        try:
            outputs = SignalOutputs.open(config.outputs, zmq_endpoint=parts.zmq_endpoint)
        except OSError:
            if recorder is not None:
                recorder.close(clean=False, reason="outputs could not be opened")
            raise
        status = StatusLine(parts.status_stream) if parts.status_stream is not None else None
        monitor = cls(
            config, hub, robots, outputs, recorder, metrics, status, parts.listeners,
            camera_latency_s=latency_s,
        )  # fmt: skip
        monitor.site_file = site_file
        monitor.input_keys = input_keys
        if recorder is not None and config.evidence.ship is not None:
            monitor.shipper = EvidenceShipper(
                recorder.db_path, config.evidence.ship,
                registry=metrics.registry if metrics is not None else None,
            )  # fmt: skip
        if metrics is not None:
            try:
                monitor.metrics_port = metrics.serve(
                    config.monitor.metrics.host, config.monitor.metrics.port
                )
            except OSError as exc:
                monitor.close_outputs_and_evidence(reason="metrics port could not be bound")
                raise OSError(
                    f"monitor.metrics: cannot serve on {config.monitor.metrics.host}:"
                    f"{config.monitor.metrics.port}: {exc}"
                ) from exc
        return monitor

    # ------------------------------------------------------------------ running
    def start(self, robot_state_wait_s: float = 2.0) -> None:
        """Start inputs, workers and the decision loop (outputs already publish STOP).

        The decision loop starts first (publishing STOP while inputs come up); the cameras
        start once every robot has sent a state or after ``robot_state_wait_s`` seconds, so
        the robot is masked out of foreground detection from the first frame where it can
        be (without a state it is not masked and may be taken for a person: STOP).

        Raises:
            OSError: a robot-state input cannot be opened (everything is stopped again).
        """
        kernels.warm_up()
        try:
            self._receivers = start_receivers(
                self.robots, [(r.id, r.state_input) for r in self.config.robots], self.input_keys,
                check_bindable,
            )  # fmt: skip
        except (OSError, ValueError) as error:
            self.close_outputs_and_evidence(reason="robot state input could not be opened")
            if isinstance(error, ValueError):  # a key not loaded: still a refusal, exit 1
                raise OSError(f"robot state input: {error}") from error
            raise
        self.loop.start()
        deadline = time.monotonic() + robot_state_wait_s
        while time.monotonic() < deadline and not all(
            math.isfinite(s.age_s) for s in self.robots.snapshots(time.monotonic())
        ):
            time.sleep(0.01)
        cameras = len(self.hub.camera_ids)
        threads = detection_threads(cameras, self.config.monitor.opencv_threads, os.cpu_count())
        self._opencv_threads_before = cv2.getNumThreads()
        cv2.setNumThreads(threads)
        log.info("OpenCV uses %d thread(s) per frame for %d camera(s)", threads, cameras)
        self.hub.start()
        self.supervisor = Supervisor(self._supervised())
        self.supervisor.start()
        if self.shipper is not None:  # off the decision path; never a STOP cause
            self.shipper.start()

    def _supervised(self) -> list[Supervised]:
        """The input threads the supervisor restarts when they die (``monitor.supervisor``)."""
        items = []
        for index, receiver in enumerate(self._receivers):

            def restart(index: int = index) -> None:
                self._receivers[index] = self._receivers[index].reopened()

            where = (
                getattr(receiver.config, "endpoint", None)
                or getattr(receiver.config, "port", None)
                or getattr(receiver, "endpoint", "?")  # ros2: DDS domain and topic
            )
            items.append(Supervised(
                f"robot-state receiver {where} (robots {', '.join(receiver.robot_ids)})",
                lambda index=index: self._receivers[index].alive, restart,
            ))  # fmt: skip
        for camera_id in self.hub.camera_ids:
            items.append(Supervised(
                f"camera {camera_id} detection worker",
                lambda camera_id=camera_id: self.hub.worker_alive(camera_id),
                lambda camera_id=camera_id: self.hub.restart_worker(camera_id),
            ))  # fmt: skip
        return items

    def _config_applied(self, config: SiteConfig) -> None:
        self.config = config
        if self.recorder is not None:
            self.recorder.builder.config_hash = config_hash(config)

    def request_reset(self) -> None:
        """An authenticated operator reset (SIGUSR1, or the live view with its token)."""
        self._reset.set()

    def report_fault(self, reason: Reason, detail: str) -> None:
        """A fault found outside the loop (e.g. a failing helper thread): STOP next cycle."""
        self._faults.append((reason.name or "INTERNAL_ERROR", detail))

    @property
    def zmq_endpoint(self) -> str | None:
        """Where the ZeroMQ output publishes (resolved port), if configured."""
        return self.outputs.zmq_endpoint

    def stop(self, reason: str = "stopped", *, clean: bool = True) -> None:
        """Publish STOP (SHUTDOWN), close evidence and outputs, stop inputs. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self.supervisor is not None:
            self.supervisor.stop()  # before the threads it watches are stopped on purpose
        self.loop.stop()
        try:
            self.outputs.send(SafetyState.STOP, 0.0, int(Reason.SHUTDOWN))
        except Exception as exc:
            log.warning("publishing the final STOP failed: %s", exc)
        self.close_outputs_and_evidence(reason=reason, clean=clean)
        if self.shipper is not None:  # one last run ships the run_stop record (bounded)
            self.shipper.stop()
        for receiver in self._receivers:
            try:
                receiver.close()
            except Exception as exc:
                log.warning("closing a robot-state receiver failed: %s", exc)
        self.hub.stop()
        if self._opencv_threads_before is not None:  # the process's setting, as found
            cv2.setNumThreads(self._opencv_threads_before)
        if self.status is not None:
            self.status.finish()

    def close_outputs_and_evidence(self, *, reason: str, clean: bool = False) -> None:
        """Close the evidence run (flushing it) and the outputs (they send STOP first)."""
        if self.recorder is not None:
            try:
                self.recorder.close(clean=clean, reason=reason)
            except Exception as exc:
                log.error("closing the evidence store failed: %s", exc)
            self.recorder = None
        self.outputs.close()
        if self.metrics is not None:
            self.metrics.close()

    # ------------------------------------------------------------------ one cycle
    def _gather(self, now: float) -> CycleInput:
        faults = []
        while self._faults:
            faults.append(self._faults.pop(0))
        recorder = self.recorder
        if recorder is not None and recorder.fault and recorder.should_stop:
            faults.append(("EVIDENCE_FAULT", f"evidence store failing: {recorder.fault}"))
        for detail in self.outputs.faults():
            faults.append(("OUTPUT_FAULT", detail))
        for receiver in self._receivers:
            if not receiver.alive:
                faults.append(("INTERNAL_ERROR", "a robot-state receiver thread ended"))
        reset = self._reset.is_set()
        if reset:
            self._reset.clear()
        return CycleInput(
            time_s=now,
            humans=self.hub.humans_at(now),
            robots=self.robots.snapshots(now),
            cameras=self.hub.camera_statuses(now),
            reset_requested=reset,
            faults=tuple(faults),
        )

    def _signal(self, decision: Decision) -> None:
        self.outputs.send(decision.state, decision.speed_scale, int(decision.reasons))

    def _signal_evidence(self, record: CycleRecord) -> None:
        recorder = self.recorder
        if recorder is None:
            return
        recorder.observe(
            record.decision,
            monotonic_s=record.decision.time_s,
            wall_time_utc=datetime.now(timezone.utc),
            cause_seen_s=self.hub.newest_capture_s(),
            signal_sent_s=record.signal_sent_s,
            frames=self.hub.frames,
        )

    def _record_metrics(self, record: CycleRecord) -> None:
        metrics = self.metrics
        assert metrics is not None
        decision = record.decision
        closest = decision.closest
        metrics.observe_decision(
            decision.state,
            decision.speed_scale,
            record.compute_s,
            record.cycle.humans.count,
            closest.distance_m if closest is not None else math.nan,
        )
        for camera in record.cycle.cameras:
            metrics.frame_age_s.labels(camera=camera.camera_id).set(camera.frame_age_s)
        for robot in record.cycle.robots:
            metrics.robot_state_age_s.labels(robot=robot.robot_id).set(robot.age_s)
        counters = self.robots.counters()
        metrics.robot_messages_rejected.set(counters.rejected_total)
        for robot_id, restarts in counters.restarts.items():
            metrics.robot_sender_restarts.labels(robot=robot_id).set(restarts)
        for cause in decision.causes:
            if cause.active and cause.state is SafetyState.STOP:
                metrics.faults.labels(reason=cause.reason.name or "?").inc()
        if any(name == "LOOP_OVERRUN" for name, _ in record.cycle.faults):
            metrics.overruns.inc()

    def _show_status(self, record: CycleRecord) -> None:
        status = self.status
        assert status is not None
        decision = record.decision
        if not status.due(decision.state, record.signal_sent_s):
            return  # formatting 100 lines a second to show one is work on the loop's path
        status.show(status_line(record), decision.state, record.signal_sent_s)


def status_line(record: CycleRecord) -> str:
    """The one-line status of a cycle (``monitor.status.format_status``)."""
    decision = record.decision
    ages = {c.camera_id: c.frame_age_s for c in record.cycle.cameras}
    ages.update({r.robot_id: r.age_s for r in record.cycle.robots})
    closest = decision.closest
    return format_status(
        decision.state,
        decision.speed_scale,
        int(decision.reasons),
        record.cycle.humans.count,
        closest.distance_m if closest is not None else math.nan,
        record.loop_rate_hz,
        ages,
    )


def _frame_metrics(metrics: MonitorMetrics) -> Callable[[FrameResult, FrameTiming], None]:
    def observe(result: FrameResult, timing: FrameTiming) -> None:
        camera = result.camera_id
        metrics.frames.labels(camera=camera).inc()
        metrics.detect_seconds.labels(camera=camera).observe(result.detect_s)
        if result.fault is not None:
            metrics.camera_faults.labels(camera=camera).inc()

    return observe
