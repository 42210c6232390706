"""One glass-to-frame latency measurement: show codes on a screen, read them from a camera.

A display thread shows code after code (`latency_pattern`) every ``period_s`` and notes
when each is on the screen; the calling thread takes every frame the camera source hands
out (its capture time is the one the monitor's frame age starts from) and decodes it.

Screens:
- `WindowScreen`: a full-screen OpenCV window (the commissioning case: a monitor or tablet
  held in front of the camera);
- `FifoScreen`: raw BGR frames written to a named pipe or file, for a display driven by
  another program (an encoder or streaming server in front of the camera path, as in the
  RTSP tests);
- `LoopbackCamera`: no screen and no camera: the shown codes come back as camera frames
  after a known delay, at a camera frame rate, scaled and blurred. It checks the tool
  itself (its error against the known delay), not a camera.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from safetymon.perception.latency_measure import LatencySamples, latency_samples
from safetymon.perception.latency_pattern import CODES, PatternDecoder, render_pattern
from safetymon.perception.sources import FrameSource, NewestFrame


class Screen(Protocol):
    """Where the codes are shown."""

    def show(self, image: np.ndarray) -> float:
        """Show ``image``; return the monotonic time (s) from which it is on the screen."""
        ...

    def close(self) -> None:
        """Release the screen."""
        ...


class WindowScreen:
    """A full-screen OpenCV window (needs a display)."""

    NAME = "safetymon latency"

    def __init__(self) -> None:
        try:
            cv2.namedWindow(self.NAME, cv2.WINDOW_NORMAL)
            cv2.setWindowProperty(self.NAME, cv2.WND_PROP_FULLSCREEN, cv2.WINDOW_FULLSCREEN)
        except cv2.error as exc:
            raise OSError(f"cannot open a window for the pattern (no display?): {exc}") from exc

    def show(self, image: np.ndarray) -> float:
        cv2.imshow(self.NAME, image)
        cv2.waitKey(1)  # draws it
        return time.monotonic()

    def close(self) -> None:
        cv2.destroyWindow(self.NAME)


class FifoScreen:
    """Raw BGR frames (height x width x 3 bytes each) written to ``path``.

    The first write waits until a reader opens a named pipe; an image counts as shown once
    the reader has taken it (the pipe holds less than one frame).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file: object | None = None

    def show(self, image: np.ndarray) -> float:
        if self._file is None:
            self._file = open(self.path, "wb", buffering=0)  # noqa: SIM115 (kept open)
        self._file.write(np.ascontiguousarray(image).tobytes())  # type: ignore[attr-defined]
        return time.monotonic()

    def close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(BrokenPipeError):  # the reader is gone: nothing to flush
                self._file.close()  # type: ignore[attr-defined]


class LoopbackCamera(NewestFrame):
    """A screen filmed by a virtual camera that hands its frames out ``delay_s`` late.

    Every 1/``fps`` s it takes what the screen showed ``delay_s`` earlier, shrinks it to
    ``size`` and blurs it a little (the camera's view), and hands it out now. The true
    glass-to-frame latency of each frame is ``delay_s`` (the light left the screen ``delay_s``
    before the handout); the measurement adds up to one code period on top.
    """

    def __init__(self, delay_s: float, fps: float = 30.0, size: tuple[int, int] = (640, 360)):
        super().__init__(max_frame_age_s=max(1.0, 4.0 / fps))
        if not (0.0 <= delay_s <= 5.0 and 1.0 <= fps <= 240.0):
            raise ValueError(f"loopback needs 0 <= delay <= 5 s and 1 <= fps <= 240, got "
                             f"{delay_s} s, {fps} fps")  # fmt: skip
        self.delay_s, self.fps, self.size = delay_s, fps, size
        self.name = f"loopback camera ({delay_s * 1000:.0f} ms)"
        self._shown: collections.deque[tuple[float, np.ndarray]] = collections.deque(maxlen=4096)
        self._shown_lock = threading.Lock()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    # the screen side
    def show(self, image: np.ndarray) -> float:
        now = time.monotonic()
        with self._shown_lock:
            self._shown.append((now, image))
        return now

    def close(self) -> None:
        """The screen closes with the camera (`stop`)."""

    # the camera side
    def start(self) -> LoopbackCamera:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        period = 1.0 / self.fps
        next_s = time.monotonic()
        blank = np.full((self.size[1], self.size[0], 3), 128, np.uint8)
        while not self._stop_event.is_set():
            next_s += period
            self._stop_event.wait(max(0.0, next_s - time.monotonic()))
            now = time.monotonic()
            view = blank
            with self._shown_lock:
                for shown_s, image in reversed(self._shown):
                    if shown_s <= now - self.delay_s:
                        view = cv2.GaussianBlur(
                            cv2.resize(image, self.size, interpolation=cv2.INTER_AREA), (3, 3), 0
                        )
                        break
            self._publish(view, now)


def measure(
    screen: Screen,
    camera: FrameSource,
    *,
    duration_s: float,
    period_s: float = 0.05,
    pattern_size: tuple[int, int] = (960, 540),
    first_code: int = 0,
    start_timeout_s: float = 30.0,
) -> LatencySamples:
    """Show codes on ``screen`` while decoding ``camera``'s frames for ``duration_s`` from
    the first frame handed out after the first code was shown.

    ``camera`` must be started; it is stopped here, before the screen (a camera whose
    stream comes from the screen, as in `FifoScreen`, would otherwise wait on a stream that
    ended), and then ``screen`` is closed. Frames handed out before the first code was
    shown are not counted. Raises OSError when the camera hands out no frame
    within ``start_timeout_s`` (an RTSP camera takes a few seconds to connect).
    """
    if not (0.005 <= period_s <= 1.0):
        raise ValueError(f"period must be 5 ms .. 1 s, got {period_s} s")
    shown: dict[int, float] = {}
    shown_lock = threading.Lock()
    done = threading.Event()
    failure: list[BaseException] = []

    def display() -> None:
        code = first_code % CODES
        next_s = time.monotonic()
        try:
            while not done.is_set():
                image = render_pattern(code, pattern_size)
                at = screen.show(image)
                with shown_lock:
                    shown[code] = at
                code = (code + 1) % CODES
                next_s += period_s
                done.wait(max(0.0, next_s - time.monotonic()))
        except BaseException as exc:  # reported to the caller
            failure.append(exc)
            done.set()

    thread = threading.Thread(target=display, name="latency pattern", daemon=True)
    thread.start()
    decoder = PatternDecoder()
    frames: list[tuple[int | None, float]] = []
    end = time.monotonic() + start_timeout_s  # until the first frame; then + duration_s
    seq = -1
    try:
        while time.monotonic() < end and not done.is_set():
            newest = camera.wait_newer(seq, 0.5)
            if newest is None:
                continue
            image, captured_s, seq = newest
            with shown_lock:
                started = bool(shown)
                first_shown = min(shown.values(), default=captured_s)
            if started and captured_s >= first_shown:
                if not frames:
                    end = time.monotonic() + duration_s
                frames.append((decoder.decode(image), captured_s))
        if not frames and not failure:
            raise OSError(f"the camera handed out no frame within {start_timeout_s:g} s")
    finally:
        camera.stop()
        done.set()
        thread.join(5.0)
        screen.close()
    if failure:
        raise OSError(f"showing the pattern failed: {failure[0]}") from failure[0]
    with shown_lock:
        # a code shown again after wrapping around keeps its newest time only; runs are
        # far shorter than CODES periods (62 500 x 50 ms = 52 min)
        return latency_samples(dict(shown), frames)
