"""The live perception hub: camera workers feeding the tracker, and camera health."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from safetymon.config.loader import load_site_config
from safetymon.config.tracking import TrackingConfig
from safetymon.monitor.camera_pipeline import CameraPipeline, FrameResult
from safetymon.monitor.perception_hub import PerceptionHub
from safetymon.perception.detectors.factory import build_detector
from safetymon.perception.mapping import FloorMapper
from safetymon.perception.sources import SourceStatus
from safetymon.perception.tracking import MultiCameraTracker
from safetymon.sim.cell import DemoScene, demo_camera
from safetymon.sim.render import CellRenderer

REPO = Path(__file__).resolve().parents[2]
Cell = tuple[DemoScene, CellRenderer]


class ListSource:
    """Hands out prepared frames one by one on demand (a camera the test drives)."""

    def __init__(self, fault: str | None = None) -> None:
        self._cond = threading.Condition()
        self._latest: tuple[np.ndarray, float, int] | None = None
        self.fault = fault
        self.started = self.stopped = False

    def push(self, frame: np.ndarray) -> float:
        captured = time.monotonic()
        with self._cond:
            seq = 0 if self._latest is None else self._latest[2] + 1
            self._latest = (frame, captured, seq)
            self._cond.notify_all()
        return captured

    def start(self) -> ListSource:
        self.started = True
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self.stopped = True

    def latest(self) -> tuple[np.ndarray, float, int] | None:
        with self._cond:
            return self._latest

    def wait_newer(self, after_seq: int, timeout_s: float) -> tuple[np.ndarray, float, int] | None:
        with self._cond:
            self._cond.wait_for(
                lambda: self._latest is not None and self._latest[2] > after_seq, timeout_s
            )
            latest = self._latest
        return latest if latest is not None and latest[2] > after_seq else None

    def status(self, now: float | None = None) -> SourceStatus:
        return SourceStatus(None, self.fault, 0, 0)


@pytest.fixture(scope="module")
def cell() -> tuple[DemoScene, CellRenderer]:
    config = load_site_config(REPO / "zones" / "demo-cell.yaml")
    scene = DemoScene.from_site(config)
    return scene, CellRenderer(scene, demo_camera(), seed=3)


def pipeline(renderer: CellRenderer) -> CameraPipeline:
    config = load_site_config(REPO / "zones" / "demo-cell.yaml")
    detector = build_detector(
        config.detector.model_copy(update={"kind": "foreground"}),
        REPO / "models",
        reference_bgr=renderer.reference(with_robot=True),
    )
    return CameraPipeline("cam1", detector, FloorMapper(demo_camera().floor_homography()))


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_a_person_in_the_frame_becomes_a_track_and_ages_are_reported(cell: Cell) -> None:
    scene, renderer = cell
    source = ListSource()
    hub = PerceptionHub({"cam1": source}, {"cam1": pipeline(renderer)},
                        MultiCameraTracker(TrackingConfig()))  # fmt: skip
    now = time.monotonic()
    assert math.isinf(hub.camera_statuses(now)[0].frame_age_s)  # nothing processed yet
    hub.start()
    try:
        state = scene.state_at(14.0)  # person 2 stands in the protective zone
        truth = state.people[0].xy
        captured = source.push(renderer.render(state))
        wait_until(lambda: hub.views()["cam1"].frames == 1)
        humans = hub.humans_at(time.monotonic())
        assert humans.count == 1
        assert np.linalg.norm(humans.xy[0] - truth) < 0.5
        status = hub.camera_statuses(captured + 0.25)[0]
        assert status.frame_age_s == pytest.approx(0.25)
        assert status.fault is None and status.detector_fault is None
        timing = hub.views()["cam1"].timing
        assert timing is not None
        assert captured <= timing.picked_s <= timing.detected_s <= timing.tracked_s
        assert hub.newest_capture_s() == captured
    finally:
        hub.stop()
    assert source.started and source.stopped


def test_a_source_fault_is_reported_but_a_stall_is_left_to_the_frame_age(cell: Cell) -> None:
    _, renderer = cell
    for fault, reported in (("frozen: 25 identical frames", True), ("stalled: no frame", False)):
        source = ListSource(fault=fault)
        hub = PerceptionHub({"cam1": source}, {"cam1": pipeline(renderer)},
                            MultiCameraTracker(TrackingConfig()))  # fmt: skip
        status = hub.camera_statuses(time.monotonic())[0]
        assert (status.fault == fault) is reported


class BrokenPipeline(CameraPipeline):
    """A pipeline with an internal bug: its worker must not die silently."""

    def process(self, frame: np.ndarray, capture_s: float) -> FrameResult:
        raise RuntimeError("bug in the pipeline")


def test_a_dead_worker_is_a_detector_fault_and_its_frames_age(cell: Cell) -> None:
    _, renderer = cell
    good = pipeline(renderer)
    broken = BrokenPipeline("cam1", good.detector, good.mapper)
    source = ListSource()
    hub = PerceptionHub({"cam1": source}, {"cam1": broken}, MultiCameraTracker(TrackingConfig()))
    hub.start()
    try:
        source.push(np.zeros((480, 640, 3), np.uint8))
        wait_until(lambda: hub.camera_statuses(time.monotonic())[0].detector_fault is not None)
        status = hub.camera_statuses(time.monotonic())[0]
        assert "camera worker failed: RuntimeError: bug in the pipeline" in status.detector_fault
        assert math.isinf(status.frame_age_s)
    finally:
        hub.stop()


def test_sources_and_pipelines_must_name_the_same_cameras(cell: Cell) -> None:
    _, renderer = cell
    with pytest.raises(ValueError, match="differ"):
        PerceptionHub({"cam2": ListSource()}, {"cam1": pipeline(renderer)},
                      MultiCameraTracker(TrackingConfig()))  # fmt: skip
