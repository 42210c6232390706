"""A changing, machine-readable code for measuring a camera's glass-to-frame latency.

`safetymon calibrate latency` shows one code after another on a screen the camera films;
each frame the camera hands out is decoded back to the code it shows. A code is three ArUco
markers of OpenCV's ``DICT_6X6_250`` side by side on white: two base-250 digits of the code
(0 .. 62 499) and a check digit, so a frame caught while the screen changed (two codes
half-drawn, or blurred into each other) decodes to nothing rather than to a wrong code.
The number is also printed under the markers for the person watching.

Image frame: pixels, BGR uint8, as OpenCV hands frames out.
"""

from __future__ import annotations

import cv2
import numpy as np

DICTIONARY = cv2.aruco.DICT_6X6_250
BASE = 250
CODES = BASE * BASE
"""Distinct codes (they wrap around after this many)."""
_MARKERS = 3


def _dictionary() -> cv2.aruco.Dictionary:
    return cv2.aruco.getPredefinedDictionary(DICTIONARY)


def _check_digit(high: int, low: int) -> int:
    return (high * 7 + low * 13 + 101) % BASE


def marker_ids(code: int) -> tuple[int, int, int]:
    """The three marker ids (left to right) that show ``code`` (0 <= code < `CODES`)."""
    if not 0 <= code < CODES:
        raise ValueError(f"code must be in 0..{CODES - 1}, got {code}")
    high, low = divmod(code, BASE)
    return high, low, _check_digit(high, low)


def render_pattern(code: int, size: tuple[int, int] = (960, 540)) -> np.ndarray:
    """The screen image of ``code``: (height, width, 3) BGR uint8 of ``size`` (w, h) px."""
    width, height = size
    if width < 240 or height < 120:
        raise ValueError(f"pattern size must be at least 240x120 px, got {width}x{height}")
    image = np.full((height, width, 3), 255, np.uint8)
    side = int(min(width / (_MARKERS + 1), height * 0.7))
    gap = (width - _MARKERS * side) // (_MARKERS + 1)
    top = max(0, (height - side) // 2 - height // 12)
    dictionary = _dictionary()
    for index, marker in enumerate(marker_ids(code)):
        tile = cv2.aruco.generateImageMarker(dictionary, marker, side)
        left = gap + index * (side + gap)
        image[top : top + side, left : left + side] = tile[:, :, None]
    cv2.putText(
        image, f"{code:05d}", (gap, min(height - 4, top + side + height // 8)),
        cv2.FONT_HERSHEY_SIMPLEX, max(0.5, height / 540), (0, 0, 0), 2, cv2.LINE_AA,
    )  # fmt: skip
    return image


class PatternDecoder:
    """Reads the code in a camera frame (one detector reused across frames)."""

    def __init__(self) -> None:
        parameters = cv2.aruco.DetectorParameters()
        self._detector = cv2.aruco.ArucoDetector(_dictionary(), parameters)

    def decode(self, image: np.ndarray) -> int | None:
        """The code ``image`` shows, or None (no, too many or inconsistent markers)."""
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        corners, ids, _ = self._detector.detectMarkers(gray)
        if ids is None or len(ids) != _MARKERS:
            return None
        order = np.argsort([float(np.mean(c[0][:, 0])) for c in corners])
        high, low, check = (int(ids[i][0]) for i in order)
        if check != _check_digit(high, low):
            return None
        return high * BASE + low
