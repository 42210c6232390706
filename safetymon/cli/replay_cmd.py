"""`safetymon replay`: re-run recorded footage through the exact monitor logic.

One JSON object per frame goes to ``--out`` (format in
:func:`safetymon.monitor.replay.step_record`); a progress bar goes to stderr.

A camera replays either frames (``--source CAMERA=PATH``: video file or image glob) or
recorded detections (``--detections CAMERA=FILE``: a MOTChallenge ``det.txt``, see
``safetymon.perception.recorded_detections``; ``--detections CAMERA`` alone reads the file
the site file names as that camera's ``source``, as written, like ``safetymon run`` opens
sources). The flag decides: a site file's ``source`` is never taken for a detections file on
its own.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from safetymon.config.loader import ConfigError, load_site_config
from safetymon.config.site import SiteConfig
from safetymon.config.zones import IDENTIFIER_PATTERN
from safetymon.evidence.store import StoreError
from safetymon.monitor.camera_pipeline import CameraPipeline
from safetymon.monitor.evidence_hook import EvidenceRecorder
from safetymon.monitor.perception_setup import build_pipelines, camera_far_limit
from safetymon.monitor.replay import Reader, replay, step_record
from safetymon.perception.camera_latency import camera_latencies, latency_seconds
from safetymon.perception.detectors.base import DetectorError
from safetymon.perception.detectors.foreground import build_reference
from safetymon.perception.mapping import FloorMapper
from safetymon.perception.recorded_detections import (
    RecordedDetectionsError,
    RecordedDetectionsReader,
    RecordedDetector,
    read_det_txt,
)
from safetymon.perception.sources import ReplayReader, SourceError
from safetymon.perception.tracking import MultiCameraTracker
from safetymon.safety.decision import DecisionEngine
from safetymon.safety.site import compile_site


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `replay` command."""
    parser = subparsers.add_parser(
        "replay",
        help="re-run recorded footage through the monitor logic, one JSON line per frame",
        description=(
            "Process every frame of recorded footage, in order and in source time (frame / "
            "fps), through the configured detector, floor mapping, tracker and decision, and "
            "write one JSON object per frame. Deterministic: the same footage and site file "
            "give the same output."
        ),
    )
    parser.add_argument("--config", required=True, help="site configuration (YAML)")
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="[CAMERA=]PATH",
        help="video file or image glob; CAMERA= picks the camera (needed with several)",
    )
    parser.add_argument(
        "--detections",
        action="append",
        default=[],
        metavar="CAMERA[=FILE]",
        help=(
            "replay this camera from recorded detections (MOTChallenge det.txt: frame,id,left,"
            "top,width,height,conf,...; 1-based frames, boxes in the camera's pixels) instead "
            "of frames; without =FILE the site file's source of the camera names the file"
        ),
    )
    parser.add_argument(
        "--fps",
        type=float,
        help="frame rate of the footage (default: the camera's fps, else the video's own; "
        "detections need one of --fps and the camera's fps)",
    )
    parser.add_argument("--out", required=True, help="output JSON Lines file")
    parser.add_argument("--max-frames", type=int, help="stop after this many frames")
    parser.add_argument(
        "--reference-median",
        type=int,
        metavar="N",
        help=(
            "build each camera's foreground reference as the per-pixel median of N frames "
            "spread over the footage (when no empty-cell image was recorded)"
        ),
    )
    parser.add_argument(
        "--evidence",
        metavar="DB",
        help="also record near-miss and stop episodes (with snapshots) in this evidence store",
    )
    parser.add_argument("--models-dir", help="folder of models/manifest.yaml and model files")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _sources(values: list[str], camera_ids: list[str]) -> dict[str, str]:
    """Map ``[CAMERA=]PATH`` options to cameras (a bare path needs a single camera)."""
    sources: dict[str, str] = {}
    for value in values:
        camera, sep, path = value.partition("=")
        named = bool(sep) and re.fullmatch(IDENTIFIER_PATTERN, camera) is not None
        if not named:
            if len(values) != 1 or len(camera_ids) != 1:
                raise ValueError(
                    f"--source {value!r}: write CAMERA=PATH with CAMERA one of {camera_ids}"
                )
            camera, path = camera_ids[0], value
        elif camera not in camera_ids:
            raise ValueError(
                f"--source {value!r}: no camera {camera!r}; write CAMERA=PATH with CAMERA "
                f"one of {camera_ids}"
            )
        if camera in sources:
            raise ValueError(f"--source: camera {camera!r} given twice")
        sources[camera] = path
    return sources


def _detections(values: list[str], config: SiteConfig, sources: dict[str, str]) -> dict[str, Path]:
    """Map ``CAMERA[=FILE]`` options to detections files (``CAMERA``: the site's source)."""
    cameras = {camera.id: camera for camera in config.cameras}
    files: dict[str, Path] = {}
    for value in values:
        camera, sep, path = value.partition("=")
        if camera not in cameras:
            raise ValueError(
                f"--detections {value!r}: no camera {camera!r}; write CAMERA=FILE with CAMERA "
                f"one of {sorted(cameras)}"
            )
        if camera in files:
            raise ValueError(f"--detections: camera {camera!r} given twice")
        if camera in sources:
            raise ValueError(
                f"camera {camera!r} has both --source and --detections: give one of them"
            )
        if not sep:
            named = cameras[camera].source
            if not isinstance(named, str):
                raise ValueError(
                    f"--detections {camera}: the site file's source of camera {camera!r} is "
                    f"device {named!r}, not a detections file: write {camera}=FILE"
                )
            files[camera] = Path(named)  # as `safetymon run` opens a source: as written
        elif not path:
            raise ValueError(f"--detections {value!r}: FILE is empty")
        else:
            files[camera] = Path(path)
    return files


def _detections_pipelines(
    config: SiteConfig, base_dir: Path, site_file: Path, cameras: set[str]
) -> dict[str, CameraPipeline]:
    """Floor mapping only (no detector) for the cameras that replay recorded detections."""
    pipelines = {}
    for camera in config.cameras:
        if camera.id in cameras:
            mapper = FloorMapper.from_camera_config(camera, base_dir, site_file=str(site_file))
            pipelines[camera.id] = CameraPipeline(
                camera.id, RecordedDetector(), mapper, far_limit=camera_far_limit(camera, mapper)
            )
    return pipelines


def _detections_reader(
    camera_id: str, path: Path, fps: float | None, mapper: FloorMapper
) -> RecordedDetectionsReader:
    if fps is None:
        raise ValueError(
            f"camera {camera_id!r}: the frame rate of its detections is unknown: give --fps "
            "or the camera's fps in the site file"
        )
    return RecordedDetectionsReader(read_det_txt(path, mapper.image_size), fps)


def _median_reference(path: str, count: int) -> np.ndarray:
    reader = ReplayReader(path)
    try:
        frames = [frame.image for frame in reader]
    finally:
        reader.close()
    if len(frames) < 3:
        raise DetectorError(f"{path}: {len(frames)} frame(s), need at least 3 for a median")
    step = max(1, len(frames) // count)
    return build_reference(frames[::step][:count])


def run(args: argparse.Namespace) -> int:
    """Replay; exit 0 when every frame was processed, 2 on bad input.

    OpenCV runs on one thread meanwhile (restored afterwards): with its worker threads, HOG
    gave one frame a different detection confidence in one of two identical replays on a
    loaded CI machine, and a replay must reproduce its output (and evidence) bit for bit.
    """
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        return _run(args)
    finally:
        cv2.setNumThreads(threads)


def _run(args: argparse.Namespace) -> int:
    if args.fps is not None and not 0 < args.fps <= 1000:
        return _fail(f"--fps must be in (0, 1000], got {args.fps}")
    if args.max_frames is not None and args.max_frames < 1:
        return _fail(f"--max-frames must be >= 1, got {args.max_frames}")
    if args.reference_median is not None and args.reference_median < 3:
        return _fail(f"--reference-median must be >= 3, got {args.reference_median}")
    site_file = Path(args.config)
    if not args.source and not args.detections:
        return _fail("give --source and/or --detections for at least one camera")
    try:
        config = load_site_config(site_file)
        sources = (
            _sources(args.source, [camera.id for camera in config.cameras]) if args.source else {}
        )
        detections = _detections(args.detections, config, sources)
    except ConfigError as error:
        for issue in error.issues:
            print(f"error: {issue}", file=sys.stderr)
        return 2
    except ValueError as error:
        return _fail(str(error))
    readers: dict[str, Reader] = {}
    try:
        references = {}
        if args.reference_median:
            for camera_id, path in sources.items():
                references[camera_id] = _median_reference(path, args.reference_median)
        # cameras replaying detections need no detector (nor its reference image or model)
        framed = config.model_copy(
            update={"cameras": [c for c in config.cameras if c.id not in detections]}
        )
        pipelines: dict[str, CameraPipeline] = {}
        if framed.cameras:
            pipelines = build_pipelines(
                framed,
                site_file.parent,
                site_file=site_file,
                models_dir=Path(args.models_dir) if args.models_dir else None,
                references=references,
            )
        pipelines |= _detections_pipelines(config, site_file.parent, site_file, set(detections))
        camera_fps = {camera.id: camera.fps for camera in config.cameras}
        for camera_id, path in sources.items():
            readers[camera_id] = ReplayReader(path, args.fps or camera_fps[camera_id])
        for camera_id, file in detections.items():
            readers[camera_id] = _detections_reader(
                camera_id, file, args.fps or camera_fps[camera_id], pipelines[camera_id].mapper
            )
    except ConfigError as error:
        for reader in readers.values():
            reader.close()
        for issue in error.issues:
            print(f"error: {issue}", file=sys.stderr)
        return 2
    except (SourceError, DetectorError, RecordedDetectionsError, OSError, ValueError) as error:
        for reader in readers.values():
            reader.close()
        return _fail(str(error))
    pipelines = {camera.id: pipelines[camera.id] for camera in config.cameras}
    if config.robots:
        print(
            f"note: robot states are not part of the footage; robot(s) "
            f"{', '.join(r.id for r in config.robots)} replay as absent (ROBOT_STATE_STALE)",
            file=sys.stderr,
        )
    try:  # the decision counts each camera's glass-to-frame latency as it would live
        latencies = camera_latencies(config, site_file.parent)
    except ConfigError as error:
        for reader in readers.values():
            reader.close()
        return _fail(str(error))
    engine = DecisionEngine(compile_site(config, latency_seconds(latencies)))
    tracker = MultiCameraTracker(config.tracking)
    recorder = None
    if args.evidence:
        try:
            recorder = EvidenceRecorder(config, Path(args.evidence))
        except StoreError as error:
            for reader in readers.values():
                reader.close()
            return _fail(f"evidence store {args.evidence}: {error}")
    started_utc = datetime.now(timezone.utc)
    out = Path(args.out)
    counts = {"RUN": 0, "SLOW": 0, "STOP": 0}
    frames = 0
    unusable: dict[str, tuple[int, str]] = {}  # camera -> (faulty frames, the first fault)
    try:
        total = args.max_frames
        steps = replay(engine, pipelines, readers, tracker, max_frames=args.max_frames)
        with (
            out.open("w", encoding="utf-8") as handle,
            tqdm(total=total, unit="frame", disable=args.no_progress, file=sys.stderr) as bar,
        ):
            for step in steps:
                handle.write(json.dumps(step_record(step), separators=(",", ":")) + "\n")
                counts[step.decision.state.name] += 1
                for result in step.frames:
                    if result.fault:
                        count, first = unusable.get(result.camera_id, (0, result.fault))
                        unusable[result.camera_id] = (count + 1, first)
                if recorder is not None:
                    recorder.observe(
                        step.decision,
                        monotonic_s=step.time_s,
                        wall_time_utc=started_utc + timedelta(seconds=step.time_s),
                        frames=lambda images=step.images: images,
                    )
                frames += 1
                bar.update(1)
    except ValueError as error:
        return _fail(str(error))
    except OSError as error:
        print(f"error: writing {out}: {error}", file=sys.stderr)
        return 1
    finally:
        for reader in readers.values():
            reader.close()
        if recorder is not None:
            recorder.close(clean=frames > 0, reason="replay finished")
    if recorder is not None:
        print(
            f"evidence: {recorder.episodes} episode(s) in {args.evidence}"
            + (f" (FAULT: {recorder.fault})" if recorder.fault else "")
        )
        if recorder.fault:
            return 1
    summary = ", ".join(f"{state} {count}" for state, count in counts.items())
    print(f"replayed {frames} frame(s) to {out}: {summary}")
    for camera_id, (count, first) in unusable.items():  # say why, not only "STOP"
        print(
            f"warning: {camera_id}: {count} frame(s) could not be used (STOP); first: {first}",
            file=sys.stderr,
        )
    return 0
