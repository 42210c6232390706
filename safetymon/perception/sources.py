"""Camera sources: one thread per camera that always holds the newest frame.

A source is a device index (`0`), a video file, an image glob (`dir/*.jpg`), or a stream URL
(`rtsp://`, `http://`, `file://` ...). Frames are BGR uint8 in camera pixels; capture times
are `time.monotonic()` seconds taken when the frame was read. The thread never raises: every
failure becomes a fault in `status()` (the monitor turns a fault into a STOP):

- ``disconnected: ...`` the source could not be opened or stopped delivering (live sources
  are reopened with exponential backoff between `reconnect_initial_s` and `reconnect_max_s`),
- ``frozen: N identical frames`` the camera repeats the same image,
- ``stalled: no new frame for X s`` the newest frame is older than `max_frame_age_s`,
- ``ended: ...`` a video file or image glob has no more frames.

`ReplayReader` is the deterministic alternative for replay: every frame, in order, pulled by
the consumer, with source time = index / fps.
"""

from __future__ import annotations

import glob
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from safetymon.config.cameras import CameraConfig

log = logging.getLogger(__name__)
GLOB_CHARACTERS = frozenset("*?[")
DEFAULT_GLOB_FPS = 10.0
OPEN_TIMEOUT_MS = 5000


class SourceError(RuntimeError):
    """A source cannot be opened or read (raised by readers, caught by the thread)."""


FFMPEG_OPTIONS_VARIABLE = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
LOW_LATENCY_RTSP_OPTIONS = "rtsp_transport;tcp|fflags;nobuffer|flags;low_delay|max_delay;0"
"""FFmpeg options for RTSP cameras unless ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` is set: RTP over the
RTSP TCP connection (no UDP loss, no reordering buffer), no input buffering, low-delay
decoding, no demuxer delay. Set the variable yourself to change them (e.g. ``rtsp_transport;udp``
on a camera without interleaved TCP)."""


_FFMPEG_ENVIRONMENT = threading.Lock()
"""Held while a capture is opened: OpenCV reads ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` at open
time, and the RTSP options must not reach a video file opened by another camera's thread
(``fflags;nobuffer`` loses a frame of an MP4)."""


def _open_ffmpeg(source: str, params: list[int] | None, options: str | None) -> cv2.VideoCapture:
    """Open ``source`` with OpenCV's FFmpeg backend, with ``options`` in force for this open
    only (unless the operator set ``OPENCV_FFMPEG_CAPTURE_OPTIONS``: theirs win)."""
    with _FFMPEG_ENVIRONMENT:
        ours = options is not None and FFMPEG_OPTIONS_VARIABLE not in os.environ
        if ours:
            os.environ[FFMPEG_OPTIONS_VARIABLE] = options
        try:
            if params is None:
                return cv2.VideoCapture(source)
            return cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)
        finally:
            if ours:
                del os.environ[FFMPEG_OPTIONS_VARIABLE]


def is_live(source: int | str) -> bool:
    """Whether a source is live (device index or stream URL) rather than a file or glob."""
    return isinstance(source, int) or "://" in source


class _Reader:
    """Sequential frames of one source; `read()` returns an image or None at the end."""

    fps: float | None = None

    def read(self) -> np.ndarray | None:
        raise NotImplementedError

    def close(self) -> None:
        """Release the underlying capture."""


class _GlobReader(_Reader):
    def __init__(self, pattern: str) -> None:
        self.files = sorted(glob.glob(pattern))
        if not self.files:
            raise SourceError(f"image glob {pattern!r} matches no files")
        self._next = 0

    def read(self) -> np.ndarray | None:
        if self._next >= len(self.files):
            return None
        path = self.files[self._next]
        self._next += 1
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"image {path} cannot be read")
        return image


class _CaptureReader(_Reader):
    def __init__(self, source: int | str) -> None:
        if isinstance(source, int):
            self._capture = cv2.VideoCapture(source)
            what = f"camera device {source}"
        elif "://" in source:
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS]
            params += [cv2.CAP_PROP_READ_TIMEOUT_MSEC, OPEN_TIMEOUT_MS]
            rtsp = source.lower().startswith(("rtsp://", "rtsps://"))
            self._capture = _open_ffmpeg(
                source, params, LOW_LATENCY_RTSP_OPTIONS if rtsp else None
            )
            what = f"stream {source}"
        else:
            if not Path(source).is_file():
                self._capture = None
                raise SourceError(f"video file {source} does not exist")
            self._capture = _open_ffmpeg(source, None, None)
            what = f"video file {source}"
        if not self._capture.isOpened():
            self._capture.release()
            raise SourceError(f"cannot open {what}")
        fps = float(self._capture.get(cv2.CAP_PROP_FPS))
        self.fps = fps if np.isfinite(fps) and 0.0 < fps <= 1000.0 else None

    def read(self) -> np.ndarray | None:
        ok, image = self._capture.read()
        return image if ok and image is not None else None

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()


def open_reader(source: int | str) -> _Reader:
    """Open a source for sequential reading; raise SourceError naming it if it cannot."""
    if isinstance(source, str) and "://" not in source and GLOB_CHARACTERS & set(source):
        return _GlobReader(source)
    return _CaptureReader(source)


@dataclass(frozen=True)
class SourceStatus:
    """Health of a source at time `now` (monotonic seconds).

    Attributes:
        age_s: now minus the newest frame's capture time, seconds; None before any frame.
        fault: None when healthy, else a reason ("disconnected: ...", "frozen: ...",
            "stalled: ...", "ended: ...").
        frames: frames read so far.
        reconnects: times the source was reopened after a loss.
    """

    age_s: float | None
    fault: str | None
    frames: int
    reconnects: int


class NewestFrame:
    """The newest frame of a source, its health, and a wait for the next one (thread-safe).

    The common part of every live frame source (`CameraSource`, the demo's rendered cell):
    the producing thread calls `_publish` per frame and `_set_fault`; consumers call
    `latest`, `wait_newer` and `status`.

    Args:
        max_frame_age_s: a newest frame older than this is reported as a stall, seconds.
    """

    def __init__(self, max_frame_age_s: float) -> None:
        self.max_frame_age_s = max_frame_age_s
        self._lock = threading.Lock()
        self._new_frame = threading.Condition(self._lock)
        self._latest: tuple[np.ndarray, float, int] | None = None
        self._fault: str | None = None
        self._frames = 0
        self._reconnects = 0

    def latest(self) -> tuple[np.ndarray, float, int] | None:
        """The newest (frame BGR, capture monotonic seconds, sequence number from 0), or None."""
        with self._lock:
            return self._latest

    def wait_newer(self, after_seq: int, timeout_s: float) -> tuple[np.ndarray, float, int] | None:
        """The newest frame once its sequence number exceeds ``after_seq``, or None on timeout.

        Lets a consumer (the monitor's camera worker) sleep until a frame arrives instead
        of polling; ``timeout_s`` bounds the wait so the consumer can notice a stop request.
        """
        with self._new_frame:
            self._new_frame.wait_for(
                lambda: self._latest is not None and self._latest[2] > after_seq, timeout_s
            )
            latest = self._latest
        return latest if latest is not None and latest[2] > after_seq else None

    def status(self, now: float | None = None) -> SourceStatus:
        """Health at monotonic time `now` (default: now); a fault means STOP."""
        now = time.monotonic() if now is None else now
        with self._lock:
            latest, fault = self._latest, self._fault
            frames, reconnects = self._frames, self._reconnects
        age = None if latest is None else now - latest[1]
        if fault is None:
            if latest is None:
                fault = "stalled: no frame yet"
            elif age is not None and age > self.max_frame_age_s:
                fault = f"stalled: no new frame for {age:.3f} s"
        return SourceStatus(age, fault, frames, reconnects)

    def _set_fault(self, fault: str | None) -> None:
        with self._lock:
            changed = _kind(fault) != _kind(self._fault)
            self._fault = fault
        if changed:
            self._log_fault(fault)

    def _publish(self, image: np.ndarray, captured_s: float, fault: str | None = None) -> None:
        """Make ``image`` (captured at monotonic ``captured_s``) the newest frame; wake waiters."""
        with self._new_frame:
            self._latest = (image, captured_s, self._frames)
            self._frames += 1
            changed = _kind(fault) != _kind(self._fault)
            self._fault = fault
            self._new_frame.notify_all()
        if changed:
            self._log_fault(fault)

    def _log_fault(self, fault: str | None) -> None:
        """Log a change of the source's fault kind (not every frame of a lasting one)."""
        name = getattr(self, "name", "frame source")
        if fault is None:
            log.warning("%s: frames usable again", name)
        else:
            log.warning("%s: %s (STOP)", name, fault)


def _kind(fault: str | None) -> str | None:
    """The kind of a fault text ("frozen", "disconnected", ...): what a log line is kept for."""
    return None if fault is None else fault.split(":", 1)[0]


class CameraSource(NewestFrame):
    """Reads one camera on its own thread and keeps only the newest frame."""

    def __init__(self, config: CameraConfig) -> None:
        """Prepare (not start) the source of a configured camera."""
        super().__init__(config.max_frame_age_s)
        self.config = config
        self.name = f"camera {config.id}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._identical = 0

    def start(self) -> CameraSource:
        """Start the capture thread (once)."""
        if self._thread is not None:
            raise RuntimeError(f"camera {self.config.id}: source already started")
        self._thread = threading.Thread(
            target=self._run, name=f"camera-{self.config.id}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the thread to end and wait up to `timeout_s` seconds for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def __enter__(self) -> CameraSource:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as error:  # the thread must never die silently
            self._set_fault(f"disconnected: source thread failed: {error!r}")

    def _loop(self) -> None:
        source = self.config.source
        delay = self.config.reconnect_initial_s
        first = True
        while not self._stop.is_set():
            try:
                reader = open_reader(source)
            except SourceError as error:
                if not is_live(source):
                    self._set_fault(f"disconnected: {error}")
                    return
                self._set_fault(f"disconnected: {error}; retrying in {delay:.1f} s")
                if self._stop.wait(delay):
                    return
                delay = min(2.0 * delay, self.config.reconnect_max_s)
                continue
            if not first:
                with self._lock:
                    self._reconnects += 1
            first = False
            delay = self.config.reconnect_initial_s
            try:
                ended = self._pump(reader)
            finally:
                reader.close()
            if ended is not None:
                if not is_live(source):
                    self._set_fault(f"ended: {ended}")
                    return
                self._set_fault(f"disconnected: {ended}; reopening")

    def _pump(self, reader: _Reader) -> str | None:
        """Read until stopped (None) or until the source ends/fails (reason)."""
        live = is_live(self.config.source)
        paced = not live and self.config.playback == "realtime"
        fps = self.config.fps or reader.fps or DEFAULT_GLOB_FPS
        started = time.monotonic()
        index = 0
        previous: np.ndarray | None = None
        while not self._stop.is_set():
            if paced:
                wait = started + index / fps - time.monotonic()
                if wait > 0 and self._stop.wait(wait):
                    return None
            try:
                image = reader.read()
            except SourceError as error:
                return str(error)
            captured = time.monotonic()
            if image is None:
                return "no more frames" if not live else "the source stopped delivering frames"
            index += 1
            same = (
                previous is not None
                and previous.shape == image.shape
                and np.array_equal(previous, image)
            )
            self._identical = self._identical + 1 if same else 0
            previous = image
            fault = None
            if self._identical + 1 >= self.config.frozen_after_frames:
                fault = f"frozen: {self._identical + 1} identical frames"
            self._publish(image, captured, fault)
        return None


@dataclass(frozen=True)
class ReplayFrame:
    """One frame of a replay: BGR image, its index from 0 and source time = index / fps (s)."""

    image: np.ndarray
    index: int
    source_time_s: float


class ReplayReader:
    """Every frame of a video file or image glob, in order, pulled one by one."""

    def __init__(self, source: str, fps: float | None = None) -> None:
        """Open `source`; `fps` overrides the file's own rate (image globs default to 10)."""
        if is_live(source):
            raise SourceError(f"replay needs a video file or image glob, not {source!r}")
        self._reader = open_reader(source)
        self.fps = float(fps or self._reader.fps or DEFAULT_GLOB_FPS)
        self._index = 0

    def next(self) -> ReplayFrame | None:
        """The next frame, or None after the last one."""
        image = self._reader.read()
        if image is None:
            return None
        frame = ReplayFrame(image, self._index, self._index / self.fps)
        self._index += 1
        return frame

    def __iter__(self) -> Iterator[ReplayFrame]:
        while (frame := self.next()) is not None:
            yield frame

    def close(self) -> None:
        """Release the file."""
        self._reader.close()


class FrameSource(Protocol):
    """What the live monitor needs of a camera: `CameraSource`, or the demo's rendered cell."""

    def start(self) -> object:
        """Start delivering frames (own thread)."""

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop delivering frames and release the device."""

    def latest(self) -> tuple[np.ndarray, float, int] | None:
        """Newest (frame BGR, capture monotonic seconds, sequence number), or None."""

    def wait_newer(self, after_seq: int, timeout_s: float) -> tuple[np.ndarray, float, int] | None:
        """Newest frame once its sequence number exceeds ``after_seq``; None on timeout."""

    def status(self, now: float | None = None) -> SourceStatus:
        """Health at monotonic ``now`` (seconds); a fault means STOP."""
