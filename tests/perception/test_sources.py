"""Camera sources on real files: video written from PETS09 frames, image globs, dead URLs."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from safetymon.config.cameras import CameraConfig
from safetymon.perception.sources import (
    FFMPEG_OPTIONS_VARIABLE,
    CameraSource,
    ReplayReader,
    SourceError,
    open_reader,
)
from tests.conftest import SHARED_DATA

PETS_GLOB = str(SHARED_DATA / "mot15" / "PETS09-S2L1" / "img1" / "*.jpg")
IDENTITY = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]


def _camera(source: int | str, **fields: object) -> CameraConfig:
    return CameraConfig(id="cam1", source=source, floor_homography=IDENTITY, **fields)


def _wait_for(condition: Callable[[], bool], limit_s: float = 20.0) -> bool:
    """Poll until `condition()` holds (a generous limit, not a speed check)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def _write_video(path: Path, frames: list[np.ndarray], fps: float = 7.0) -> Path:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened()
    for image in frames:
        writer.write(image)
    writer.release()
    return path


@pytest.fixture(scope="module")
def pets_frames() -> list[np.ndarray]:
    """The first 20 PETS09-S2L1 frames, halved to 384x288."""
    files = sorted(Path(PETS_GLOB).parent.glob("*.jpg"))[:20]
    return [cv2.resize(cv2.imread(str(file)), (384, 288)) for file in files]


def test_image_glob_hands_out_the_newest_frame_with_capture_time_and_sequence() -> None:
    with CameraSource(_camera(PETS_GLOB, playback="fast", max_frame_age_s=60.0)) as source:
        assert _wait_for(lambda: (source.latest() or (None, 0, -1))[2] >= 5)
        image, captured, sequence = source.latest()  # type: ignore[misc]
        assert image.shape == (576, 768, 3) and image.dtype == np.uint8
        assert captured <= time.monotonic()
        later = source.latest()
        assert later is not None and later[2] >= sequence and later[1] >= captured
        status = source.status()
        assert status.fault is None or status.fault.startswith("ended")
        assert status.frames >= sequence + 1 and status.age_s is not None


def test_a_file_played_fast_ends_with_every_frame_read(tmp_path: Path, pets_frames) -> None:
    video = _write_video(tmp_path / "pets.avi", pets_frames)
    with CameraSource(_camera(str(video), playback="fast")) as source:
        assert _wait_for(lambda: (source.status().fault or "").startswith("ended"))
        assert source.status().frames == len(pets_frames)
        assert source.latest()[2] == len(pets_frames) - 1  # type: ignore[index]


def test_a_frozen_video_is_reported(tmp_path: Path, pets_frames) -> None:
    video = _write_video(tmp_path / "frozen.avi", [pets_frames[0]] * 20 + pets_frames[:3])
    config = _camera(str(video), playback="realtime", fps=20.0, frozen_after_frames=8)
    with CameraSource(config) as source:
        assert _wait_for(lambda: (source.status().fault or "").startswith("frozen"))
        fault = source.status().fault
        assert fault is not None and "identical frames" in fault
        # when the picture changes again the frozen fault clears (then the file ends)
        assert _wait_for(lambda: not (source.status().fault or "").startswith("frozen"))


def test_a_stale_newest_frame_is_stalled() -> None:
    config = _camera(PETS_GLOB, playback="realtime", fps=1.0, max_frame_age_s=0.2)
    with CameraSource(config) as source:
        assert _wait_for(lambda: source.latest() is not None)
        _image, captured, _sequence = source.latest()  # type: ignore[misc]
        status = source.status(now=captured + 5.0)
        assert status.fault == "stalled: no new frame for 5.000 s"
        assert status.age_s == pytest.approx(5.0)


def test_no_frame_yet_is_a_fault() -> None:
    source = CameraSource(_camera(PETS_GLOB))
    assert source.latest() is None
    assert source.status().fault == "stalled: no frame yet"


def test_an_unreachable_stream_is_disconnected_and_retried() -> None:
    config = _camera("rtsp://127.0.0.1:9/none", reconnect_initial_s=0.05, reconnect_max_s=0.2)
    source = CameraSource(config).start()
    try:
        assert _wait_for(lambda: (source.status().fault or "").startswith("disconnected"))
        assert "cannot open stream rtsp://127.0.0.1:9/none" in (source.status().fault or "")
        assert source._thread is not None and source._thread.is_alive()
        assert source.latest() is None
    finally:
        source.stop()
    assert not source._thread.is_alive()


def test_a_stream_that_appears_later_is_reconnected(tmp_path: Path, pets_frames) -> None:
    video = tmp_path / "late.avi"
    config = _camera(f"file://{video}", reconnect_initial_s=0.05, reconnect_max_s=0.1)
    with CameraSource(config) as source:
        assert _wait_for(lambda: (source.status().fault or "").startswith("disconnected"))
        _write_video(tmp_path / "partial.avi", pets_frames[:5]).rename(video)
        # the stream plays, stops at its end, is reopened and plays again
        assert _wait_for(lambda: source.status().reconnects >= 1)
        assert source.latest() is not None


def test_a_missing_device_reports_a_clear_fault() -> None:
    config = _camera(7, reconnect_initial_s=0.05, reconnect_max_s=0.1)
    with CameraSource(config) as source:
        assert _wait_for(lambda: "cannot open camera device 7" in (source.status().fault or ""))
        assert source.status().fault.startswith("disconnected")  # type: ignore[union-attr]


def test_a_missing_file_or_empty_glob_is_disconnected(tmp_path: Path) -> None:
    for source_text, message in (
        (str(tmp_path / "none.avi"), "does not exist"),
        (str(tmp_path / "*.jpg"), "matches no files"),
    ):
        with CameraSource(_camera(source_text)) as source:
            assert _wait_for(lambda: (source.status().fault or "").startswith("disconnected"))
            assert message in (source.status().fault or "")


def test_replay_gives_every_frame_in_order_with_source_time(tmp_path: Path, pets_frames) -> None:
    video = _write_video(tmp_path / "replay.avi", pets_frames, fps=7.0)
    reader = ReplayReader(str(video))
    frames = list(reader)
    reader.close()
    assert [frame.index for frame in frames] == list(range(len(pets_frames)))
    assert reader.fps == pytest.approx(7.0)
    assert frames[7].source_time_s == pytest.approx(1.0)
    glob_reader = ReplayReader(PETS_GLOB, fps=14.0)
    first, second = glob_reader.next(), glob_reader.next()
    assert first is not None and second is not None
    assert np.array_equal(first.image, cv2.imread(PETS_GLOB.replace("*", "000001")))
    assert second.source_time_s == pytest.approx(1 / 14)
    with pytest.raises(SourceError, match="replay needs"):
        ReplayReader("rtsp://127.0.0.1:9/none")


def test_the_real_tud_campus_video_replays_and_streams() -> None:
    video = str(SHARED_DATA / "mot15" / "TUD-Campus" / "TUD-Campus.mp4")
    reader = ReplayReader(video)
    frames = list(reader)
    reader.close()
    assert len(frames) == 71 and reader.fps == pytest.approx(25.0)
    assert frames[-1].source_time_s == pytest.approx(70 / 25)
    assert frames[0].image.shape == (480, 640, 3)
    with CameraSource(_camera(video, playback="realtime", max_frame_age_s=5.0)) as source:
        assert _wait_for(lambda: (source.status().fault or "").startswith("ended"))
        assert source.status().frames == 71


def test_rtsp_options_never_leak_into_other_opens() -> None:
    """The low-latency RTSP options are set for an RTSP open only: left in the process's
    environment they once made a later MP4 replay lose a frame."""
    assert FFMPEG_OPTIONS_VARIABLE not in os.environ
    with pytest.raises(SourceError):
        open_reader("rtsp://127.0.0.1:9/none")  # closed port: refused at once
    assert FFMPEG_OPTIONS_VARIABLE not in os.environ
