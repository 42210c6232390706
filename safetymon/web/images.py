"""Encoded images of the live view, shared by every client and rate-limited.

Encoding (OpenCV, tens of milliseconds for a plan) runs in the web server's worker threads.
``ImageCache.get`` reuses an image encoded less than ``min_interval_s`` ago, so however many
browsers watch, each camera is drawn and encoded at most ``1 / min_interval_s`` times per
second, and one client's stream sends at most that many frames per second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

JPEG_QUALITY = 80
"""JPEG quality of the camera streams (0-100)."""


@dataclass(frozen=True)
class Encoded:
    """One encoded image.

    Attributes:
        data: the file bytes (JPEG or PNG).
        tag: what it shows (e.g. the camera's processed-frame count; 0: a placeholder).
        made_s: monotonic time it was encoded, seconds.
    """

    data: bytes
    tag: int
    made_s: float


def encode(image: np.ndarray, extension: str, *, quality: int = JPEG_QUALITY) -> bytes:
    """``image`` (BGR uint8) as ``.jpg`` or ``.png`` bytes.

    Raises:
        ValueError: OpenCV could not encode it (names the shape and format).
    """
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if extension == ".jpg" else []
    ok, buffer = cv2.imencode(extension, image, params)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} image as {extension}")
    return buffer.tobytes()


class ImageCache:
    """Newest encoded image per key, re-made at most once per ``min_interval_s`` seconds.

    Args:
        min_interval_s: shortest time between two encodings of the same key, seconds.
        clock: monotonic clock, seconds.
    """

    def __init__(
        self, min_interval_s: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not min_interval_s > 0:
            raise ValueError(f"min_interval_s must be > 0, got {min_interval_s!r}")
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._images: dict[str, Encoded] = {}
        self.encodings = 0

    def get(self, key: str, make: Callable[[], tuple[bytes, int]]) -> Encoded:
        """The cached image of ``key`` if fresh enough, else ``make()``'s (bytes, tag).

        Concurrent callers of one key wait for one encoding instead of each making one.
        Exceptions of ``make`` propagate (the caller's request fails, nothing else).
        """
        with self._lock:
            key_lock = self._locks.setdefault(key, threading.Lock())
        with key_lock:
            cached = self._images.get(key)
            now = self._clock()
            if cached is not None and now - cached.made_s < self.min_interval_s:
                return cached
            data, tag = make()
            image = Encoded(data, tag, self._clock())
            self._images[key] = image
            self.encodings += 1
            return image
