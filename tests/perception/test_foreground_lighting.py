"""A change across the whole image is a camera fault, not a crowd (real PETS09 frames)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from safetymon.config.cameras import ForegroundConfig
from safetymon.monitor.camera_pipeline import CameraPipeline
from safetymon.perception.calibration.model import load_calibration
from safetymon.perception.detectors.base import CameraImageError, DetectorError
from safetymon.perception.detectors.foreground import ForegroundDetector, build_reference
from safetymon.perception.mapping import FloorMapper
from tests.conftest import REPO, SHARED_DATA

PETS = SHARED_DATA / "mot15" / "PETS09-S2L1" / "img1"


def frame(number: int) -> np.ndarray:
    image = cv2.imread(str(PETS / f"{number:06d}.jpg"))
    assert image is not None
    return image


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """Median of 30 frames spread over the 300: the empty plaza."""
    return build_reference(frame(number) for number in range(1, 301, 10))


def lights_switched(image: np.ndarray, gain: float) -> np.ndarray:
    """The same scene under other lighting: every pixel scaled by ``gain``."""
    return np.clip(image.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def test_people_in_a_real_frame_are_not_a_lighting_change(reference: np.ndarray) -> None:
    found = ForegroundDetector(reference).detect(frame(100))
    assert found  # people, reported as foreground blobs


@pytest.mark.parametrize("gain", [0.55, 1.6])
def test_lights_switched_is_a_camera_image_error(reference: np.ndarray, gain: float) -> None:
    detector = ForegroundDetector(reference)
    with pytest.raises(CameraImageError, match="lighting change") as caught:
        detector.detect(lights_switched(frame(100), gain))
    assert isinstance(caught.value, DetectorError)  # every caller that stops on a fault does


def test_the_limit_is_configurable(reference: np.ndarray) -> None:
    darker = lights_switched(frame(100), 0.55)
    ForegroundDetector(reference, ForegroundConfig(max_changed_fraction=1.0)).detect(darker)
    with pytest.raises(CameraImageError, match=r"max_changed_fraction 0\.2%"):
        ForegroundDetector(reference, ForegroundConfig(max_changed_fraction=0.002)).detect(
            frame(100)
        )


def test_ignored_pixels_do_not_count(reference: np.ndarray) -> None:
    # The change lies only under the ignore mask (the robot's silhouette): not a fault.
    image = frame(100).copy()
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[:, : image.shape[1] * 3 // 4] = 255
    image[mask > 0] = lights_switched(image, 0.5)[mask > 0]
    ForegroundDetector(reference).detect(image, ignore_mask=mask)
    with pytest.raises(CameraImageError):
        ForegroundDetector(reference).detect(image)


def test_a_lasting_change_clears_when_the_reference_adapts(reference: np.ndarray) -> None:
    detector = ForegroundDetector(reference, ForegroundConfig(adapt_rate=0.05))
    brighter = lights_switched(frame(100), 1.5)
    faults = 0
    for _ in range(200):
        try:
            detector.detect(brighter)
        except CameraImageError:
            faults += 1
        else:
            break
    assert 0 < faults < 200  # faulted first, then the adapted reference accepted the scene


def test_camera_pipeline_reports_it_as_a_camera_fault(reference: np.ndarray) -> None:
    calibration = load_calibration(Path(REPO) / "calibration" / "pets09-view001.yaml")
    mapper = FloorMapper(
        np.asarray(calibration.floor_homography), image_size=(768, 576)
    )
    pipeline = CameraPipeline("view001", ForegroundDetector(reference), mapper)
    result = pipeline.process(lights_switched(frame(100), 0.55), 1.0)
    assert result.camera_fault
    assert result.split_fault() == (result.fault, None)
    assert "lighting change" in (result.fault or "")
    assert result.observations == ()
    fine = pipeline.process(frame(100), 1.1)
    assert fine.fault is None and fine.observations
