"""Re-run recorded footage through the exact monitor logic, deterministically.

Every frame is processed, in order, in source time (frame index / fps): the same camera
pipeline (detector + floor mapping), the same tracker and the same decision engine as the
live monitor, but no threads, no wall clock and no dropped frames, so two runs on the same
footage and site file give identical output. A camera may replay recorded detections
(``RecordedDetectionsReader``, a MOTChallenge ``det.txt``) instead of frames: its boxes go
through the same floor mapping (``CameraPipeline.place``), tracker and decision. Robot
states are not part of the footage: a site with robots replays them as absent
(ROBOT_STATE_STALE, STOP) unless the caller passes robot snapshots.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from safetymon.monitor.camera_pipeline import CameraPipeline, FrameResult
from safetymon.perception.recorded_detections import RecordedDetectionsReader, RecordedFrame
from safetymon.perception.sources import ReplayReader
from safetymon.perception.tracking import MultiCameraTracker
from safetymon.safety.decision import Decision, DecisionEngine
from safetymon.safety.inputs import CameraStatus, CycleInput, HumanBatch, RobotSnapshot

RobotsAt = Callable[[float], tuple[RobotSnapshot, ...]]
Reader = ReplayReader | RecordedDetectionsReader
"""A camera's replay input: frames (video, image glob) or recorded detections."""


@dataclass(frozen=True)
class ReplayStep:
    """One replayed frame (of every camera) and the decision at its source time.

    Attributes:
        index: frame index from 0.
        time_s: source time, seconds (index / fps).
        frames: each camera's perception result for this frame.
        humans: tracked people predicted to ``time_s``.
        decision: the decision at ``time_s``.
        images: each camera's frame (BGR), for snapshots and annotated output (cameras
            replaying recorded detections have none).
    """

    index: int
    time_s: float
    frames: tuple[FrameResult, ...]
    humans: HumanBatch
    decision: Decision
    images: Mapping[str, np.ndarray] = field(default_factory=dict)


def replay(
    engine: DecisionEngine,
    pipelines: Mapping[str, CameraPipeline],
    readers: Mapping[str, Reader],
    tracker: MultiCameraTracker,
    *,
    robots_at: RobotsAt | None = None,
    max_frames: int | None = None,
) -> Iterator[ReplayStep]:
    """Yield one step per frame index until every source has ended.

    All readers must share one frame rate (frame ``i`` of every camera is taken at the same
    source time). A camera whose footage ends before the others reports a fault from then on
    (STOP), as a live camera that stops delivering would.

    Raises:
        ValueError: no readers, a reader without a pipeline, or differing frame rates.
    """
    if not readers:
        raise ValueError("replay needs at least one source")
    missing = set(readers) - set(pipelines)
    if missing:
        raise ValueError(f"no camera configured for source(s) {sorted(missing)}")
    rates = {camera_id: reader.fps for camera_id, reader in readers.items()}
    if len({round(rate, 6) for rate in rates.values()}) != 1:
        raise ValueError(f"sources have different frame rates: {rates}")
    fps = next(iter(rates.values()))
    memory = engine.initial_memory(0.0)
    ended: set[str] = set()
    index = 0
    while max_frames is None or index < max_frames:
        time_s = index / fps
        frames: list[FrameResult] = []
        images: dict[str, np.ndarray] = {}
        statuses: list[CameraStatus] = []
        for camera_id, reader in readers.items():
            frame = None if camera_id in ended else reader.next()
            if frame is None:
                ended.add(camera_id)
                statuses.append(CameraStatus(camera_id, 0.0, fault="footage ended"))
                continue
            if isinstance(frame, RecordedFrame):
                result = pipelines[camera_id].place(frame.detections, time_s)
            else:
                images[camera_id] = frame.image
                result = pipelines[camera_id].process(frame.image, time_s)
            update = tracker.update(result.observations, time_s)
            camera_fault, detector_fault = result.split_fault()
            if update.stale:
                detector_fault = detector_fault or "tracker rejected the frame as stale"
            elif update.rejected:
                first = update.rejected[0][1]
                detector_fault = detector_fault or (
                    f"tracker rejected {len(update.rejected)} observation(s): {first}"
                )
            frames.append(result)
            statuses.append(
                CameraStatus(camera_id, 0.0, fault=camera_fault, detector_fault=detector_fault)
            )
        if len(ended) == len(readers):
            return
        for camera_id in set(pipelines) - set(readers):
            statuses.append(CameraStatus(camera_id, 0.0, fault="no footage for this camera"))
        humans = tracker.humans_at(time_s)
        robots = robots_at(time_s) if robots_at is not None else ()
        cycle = CycleInput(time_s=time_s, humans=humans, robots=robots, cameras=tuple(statuses))
        decision, memory = engine.step(cycle, memory)
        yield ReplayStep(index, time_s, tuple(frames), humans, decision, images)
        index += 1


def step_record(step: ReplayStep) -> dict:
    """The JSON object of one replayed frame (the documented ``replay`` output format).

    ``{"frame", "t", "detections": [{"camera", "box": [left, top, width, height],
    "confidence", "label", "floor": [x, y]}], "humans": [{"track_id", "floor": [x, y],
    "velocity": [vx, vy], "radius_m", "uncertainty_m"}], "zones": {zone id: bool},
    "decision": {"state", "speed_scale", "reasons": [names]}}``; pixels, metres, m/s,
    seconds. A detection that could not be placed has ``"floor": null`` (and
    ``"beyond_range": true`` when it can only be a person beyond the camera's far range, which
    is not a fault: ``safetymon.perception.far_range``); a faulty frame adds
    ``"faults": {camera: detail}``.
    """
    detections = []
    faults = {}
    for frame in step.frames:
        if frame.fault:
            faults[frame.camera_id] = frame.fault
        for number, detection in enumerate(frame.detections):
            xy = frame.floor_xy[number]
            placed = bool(xy[0] == xy[0] and xy[1] == xy[1])
            item = {
                "camera": frame.camera_id,
                "box": [round(float(v), 2) for v in detection.box_ltwh],
                "confidence": round(float(detection.confidence), 4),
                "label": detection.label,
                "floor": [round(float(xy[0]), 4), round(float(xy[1]), 4)] if placed else None,
            }
            if number in frame.beyond_range:
                item["beyond_range"] = True
            detections.append(item)
    humans = step.humans
    people = [
        {
            "track_id": int(humans.track_ids[i]),
            "floor": [round(float(humans.xy[i, 0]), 4), round(float(humans.xy[i, 1]), 4)],
            "velocity": [
                round(float(humans.velocity[i, 0]), 4),
                round(float(humans.velocity[i, 1]), 4),
            ],
            "radius_m": round(float(humans.radius_m[i]), 4),
            "uncertainty_m": round(float(humans.uncertainty_m[i]), 4),
        }
        for i in range(humans.count)
    ]
    decision = step.decision
    record = {
        "frame": step.index,
        "t": round(step.time_s, 6),
        "detections": detections,
        "humans": people,
        "zones": {zone: bool(on) for zone, on in decision.zones_occupied.items()},
        "decision": {
            "state": decision.state.name,
            "speed_scale": round(float(decision.speed_scale), 4),
            "reasons": list(decision.reason_names),
        },
    }
    if faults:
        record["faults"] = faults
    return record
