"""Glass-to-frame latency: the code, the measurement and `safetymon calibrate latency`
(issue 17, item 2). The end-to-end check over a real RTSP server is in tests/rtsp."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from safetymon.perception.calibration.model import load_calibration
from safetymon.perception.latency_measure import (
    LatencyMeasurementError,
    latency_samples,
    summarize,
)
from safetymon.perception.latency_pattern import CODES, PatternDecoder, marker_ids, render_pattern

REPO = Path(__file__).resolve().parents[2]


def safetymon(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "safetymon", *args], capture_output=True, text=True,
        cwd=REPO, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize("code", [0, 1, 249, 250, 31337, CODES - 1])
@pytest.mark.parametrize("size", [(960, 540), (320, 180)])
def test_codes_read_back_from_a_camera_like_view(code: int, size: tuple[int, int]) -> None:
    """Shrunk to a small part of a frame, blurred and noisy, each code reads back exactly."""
    image = render_pattern(code, (960, 540))
    view = cv2.GaussianBlur(cv2.resize(image, size, interpolation=cv2.INTER_AREA), (3, 3), 0)
    frame = np.full((size[1] * 2, size[0] * 2, 3), 90, np.uint8)
    frame[40 : 40 + size[1], 60 : 60 + size[0]] = view
    noise = np.random.default_rng(code).normal(0, 6, frame.shape)
    frame = np.clip(frame + noise, 0, 255).astype(np.uint8)
    assert PatternDecoder().decode(frame) == code


def test_a_frame_without_a_whole_code_reads_as_nothing() -> None:
    decoder = PatternDecoder()
    assert decoder.decode(np.full((360, 640, 3), 255, np.uint8)) is None
    image = render_pattern(4242, (960, 540))
    assert decoder.decode(image[:, :600]) is None  # one marker cut off
    assert marker_ids(4242)[2] != marker_ids(4243)[2]  # the check digit changes with the code


def test_a_frame_caught_between_two_codes_reads_as_one_of_them_or_nothing() -> None:
    decoder = PatternDecoder()
    for weight in (0.3, 0.5, 0.7):
        mix = render_pattern(100) * weight + render_pattern(101) * (1 - weight)
        assert decoder.decode(mix.astype(np.uint8)) in (100, 101, None)


def test_samples_and_their_summary() -> None:
    shown = {code: code * 0.04 for code in range(100)}
    frames = [(code, code * 0.04 + 0.1 + 0.01 * (code % 3)) for code in range(100)]
    frames += [(None, 5.0), (7, 0.0)]  # an unreadable frame; a code before it was shown
    samples = latency_samples(shown, frames)
    assert (samples.frames, samples.decoded, samples.unknown) == (102, 101, 1)
    measured = summarize(samples, margin_s=0.02, pattern_period_s=0.04, source="x")
    assert measured.p50_s == pytest.approx(0.11)
    assert measured.p99_s == pytest.approx(0.12)
    assert measured.latency_s == pytest.approx(0.14)
    with pytest.raises(LatencyMeasurementError, match="readable code"):
        summarize(latency_samples(shown, frames[:10]), margin_s=0, pattern_period_s=0.04,
                  source="x")  # fmt: skip
    misread = frames[:60] + [(code + 50, 0.0 + code * 0.04) for code in range(10)]
    with pytest.raises(LatencyMeasurementError, match="never shown"):
        summarize(latency_samples(shown, misread), margin_s=0, pattern_period_s=0.04,
                  source="x")  # fmt: skip


@pytest.mark.parametrize("delay_s", [0.0, 0.25])
def test_the_tool_measures_a_known_delay(delay_s: float) -> None:
    """The loopback camera hands the shown codes back ``delay_s`` late: the tool's samples
    are never below the delay and exceed it by at most one code period plus scheduling."""
    period_s = 0.02
    result = safetymon(
        "calibrate", "latency", "--site", "zones/demo-cell.yaml", "--camera", "cam1",
        "--loopback-delay-s", str(delay_s), "--seconds", "3", "--period-ms", "20", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout)
    assert measured["written_to"] is None
    assert measured["decoded"] >= 0.8 * measured["frames"] >= 50
    assert delay_s <= measured["p50_s"] <= delay_s + period_s + 0.03
    assert measured["p99_s"] <= delay_s + period_s + 0.15  # noisy 2-core machines
    assert measured["latency_s"] == pytest.approx(measured["p99_s"] + 0.02)


def test_a_camera_without_a_calibration_file_needs_out(tmp_path: Path) -> None:
    result = safetymon("calibrate", "latency", "--site", "zones/demo-cell.yaml", "--camera",
                       "cam1", "--seconds", "1")  # fmt: skip
    assert result.returncode == 2
    assert "cameras[cam1] has no calibration file: give --out FILE" in result.stderr
    result = safetymon("calibrate", "latency", "--site", "zones/demo-cell.yaml", "--camera",
                       "nope", "--dry-run")  # fmt: skip
    assert result.returncode == 2 and "no camera 'nope' (cameras: cam1)" in result.stderr


def test_a_measurement_is_written_into_the_calibration_keeping_the_rest(tmp_path: Path) -> None:
    """`_write` keeps an existing calibration's fields and adds the latency."""
    from safetymon.cli.calibrate_latency_cmd import _write
    from safetymon.perception.calibration.model import (
        CameraCalibration,
        LatencyMeasurement,
        now_utc,
        save_calibration,
    )

    path = tmp_path / "cam1.yaml"
    save_calibration(
        CameraCalibration(created=now_utc(), method="points", image_size=(640, 480),
                          floor_homography=[[1, 0, 0], [0, 1, 0], [0, 0, 1]],
                          floor_error_m=0.01),
        path,
    )  # fmt: skip
    measured = LatencyMeasurement(
        latency_s=0.2, p50_s=0.1, p95_s=0.15, p99_s=0.18, margin_s=0.02, samples=99,
        pattern_period_s=0.04, measured=now_utc(), source="rtsp://x",
    )  # fmt: skip
    _write(path, "cam1", measured)
    written = load_calibration(path)
    assert written.latency == measured and written.floor_error_m == 0.01
    _write(tmp_path / "new.yaml", "cam1", measured)
    assert load_calibration(tmp_path / "new.yaml").latency == measured
