"""ImageCache: one encoding per key and interval, however many clients ask at once."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from safetymon.web.images import ImageCache, encode
from tests.conftest import SHARED_DATA
from tests.web.helpers import Clock


def test_reuses_an_image_within_the_interval() -> None:
    clock = Clock()
    cache = ImageCache(0.1, clock=clock)
    made: list[int] = []

    def make() -> tuple[bytes, int]:
        made.append(1)
        return b"jpeg%d" % len(made), len(made)

    first = cache.get("cam1", make)
    clock.now += 0.05
    assert cache.get("cam1", make) is first
    assert cache.get("cam2", make).tag == 2  # keys are separate
    clock.now += 0.06
    assert cache.get("cam1", make).data == b"jpeg3"
    assert cache.encodings == 3


def test_concurrent_clients_share_one_encoding() -> None:
    cache = ImageCache(60.0)
    gate = threading.Barrier(8)
    made: list[int] = []

    def make() -> tuple[bytes, int]:
        made.append(1)
        return b"x", 1

    def client() -> None:
        gate.wait()
        cache.get("cam1", make)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 1


def test_failed_encoding_propagates_and_is_not_cached() -> None:
    cache = ImageCache(60.0)

    def broken() -> tuple[bytes, int]:
        raise RuntimeError("camera image failed")

    with pytest.raises(RuntimeError, match="camera image failed"):
        cache.get("cam1", broken)
    assert cache.get("cam1", lambda: (b"ok", 1)).data == b"ok"
    with pytest.raises(ValueError, match="min_interval_s must be > 0"):
        ImageCache(0.0)


def test_encode_round_trips_a_real_photo() -> None:
    photo = cv2.imread(str(SHARED_DATA / "people" / "messi5.jpg"))
    assert photo is not None
    for extension in (".jpg", ".png"):
        decoded = cv2.imdecode(np.frombuffer(encode(photo, extension), np.uint8), cv2.IMREAD_COLOR)
        assert decoded.shape == photo.shape
        assert float(np.abs(decoded.astype(float) - photo).mean()) < 4.0
