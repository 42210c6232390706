"""The robot's silhouette in a camera image and the dropping of detections on it."""

from __future__ import annotations

import math

import numpy as np

from safetymon.monitor.camera_pipeline import CameraPipeline
from safetymon.monitor.robot_mask import RobotMasker, silhouette
from safetymon.perception.detectors.base import Detection
from safetymon.perception.mapping import FloorMapper
from safetymon.safety.inputs import RobotSnapshot
from safetymon.sim.cell import demo_camera
from safetymon.sim.render import capsule_mask

A = np.array([[1.0, 0.75, 0.72], [1.0, 0.75, 1.02]])
B = np.array([[1.0, 0.75, 1.02], [1.35, 0.9, 1.2]])
R = np.array([0.08, 0.08])


def snapshot(age_s: float = 0.01, fault: str | None = None) -> RobotSnapshot:
    zeros = np.zeros_like(A)
    return RobotSnapshot("arm1", age_s, A, B, R, zeros, zeros, fault)


def test_silhouette_covers_the_rendered_capsules_and_little_else() -> None:
    camera = demo_camera()
    width, height = camera.image_size
    truth = capsule_mask(camera, A, B, R)  # the renderer's exact capsule outline
    mask = silhouette(camera.project, (height, width), A, B, R, margin_px=0)
    assert mask.shape == (height, width)
    assert np.all(mask[truth])  # nothing of the robot is left visible
    assert mask.sum() < 1.6 * truth.sum()  # the hull is a tight bound, not a blanket
    grown = silhouette(camera.project, (height, width), A, B, R, margin_px=6)
    assert grown.sum() > mask.sum()


def test_points_behind_the_camera_draw_nothing() -> None:
    camera = demo_camera()
    behind = np.array([[1.0, -5.0, 3.4]])  # the camera is at (1.0, -2.6, 3.4) looking north
    mask = silhouette(camera.project, (480, 640), behind, behind + 0.01, np.array([0.05]))
    assert not mask.any()


def test_masker_gives_none_without_a_usable_state() -> None:
    camera = demo_camera()
    assert RobotMasker(camera.project, lambda: ())((480, 640)) is None
    never = snapshot(age_s=math.inf)
    assert RobotMasker(camera.project, lambda: (never,))((480, 640)) is None
    broken = snapshot(fault="malformed")
    assert RobotMasker(camera.project, lambda: (broken,))((480, 640)) is None
    mask = RobotMasker(camera.project, lambda: (snapshot(),))((480, 640))
    assert mask is not None and mask.any()


class FixedDetector:
    """Returns the same boxes for every frame (the pipeline's filtering is under test)."""

    def __init__(self, boxes: list[tuple[float, float, float, float]]) -> None:
        self.boxes = boxes
        self.masks: list[np.ndarray | None] = []

    def detect(self, frame: np.ndarray, ignore_mask: np.ndarray | None = None) -> list[Detection]:
        self.masks.append(ignore_mask)
        return [Detection(box, 0.9, "person") for box in self.boxes]


def test_pipeline_drops_detections_lying_on_the_robot() -> None:
    camera = demo_camera()
    mapper = FloorMapper(camera.floor_homography())
    masker = RobotMasker(camera.project, lambda: (snapshot(),))
    robot = silhouette(camera.project, (480, 640), A, B, R, margin_px=0)
    rows, cols = np.nonzero(robot)
    on_robot = (float(cols.min()), float(rows.min()), float(np.ptp(cols)), float(np.ptp(rows)))
    person = (40.0, 200.0, 60.0, 150.0)  # a person well away from the arm
    detector = FixedDetector([on_robot, person])
    pipeline = CameraPipeline("cam1", detector, mapper, masker, robot_overlap_drop=0.6)
    result = pipeline.process(np.zeros((480, 640, 3), np.uint8), 1.0)
    assert result.fault is None
    assert result.robot_dropped == 1
    assert [d.box_ltwh for d in result.detections] == [person]
    assert detector.masks[0] is not None  # the foreground detector is given the mask too
    keep_all = CameraPipeline("cam1", detector, mapper, masker, robot_overlap_drop=1.0)
    assert len(keep_all.process(np.zeros((480, 640, 3), np.uint8), 1.0).detections) == 2
