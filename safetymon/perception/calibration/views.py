"""Reading calibration photos and judging their sharpness."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

DEFAULT_MIN_SHARPNESS = 100.0
"""Default blur threshold: variance of the Laplacian over the target's bounding box.

OpenCV's sharp 640x480 sample views score 318-1021; the same views blurred with a Gaussian of
sigma 2.5 px (still detected as full boards) score 17-53.
"""


class ImageReadError(ValueError):
    """An image file could not be read as an image."""


def read_gray(path: str | Path) -> np.ndarray:
    """The image as 8-bit grayscale (ImageReadError naming the file if unreadable)."""
    file = Path(path)
    if not file.is_file():
        raise ImageReadError(f"{path}: no such image file")
    data = np.fromfile(file, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) if data.size else None
    if image is None:
        raise ImageReadError(f"{path}: not a readable image")
    return image


def sharpness(gray: np.ndarray, points_uv: np.ndarray) -> float:
    """Variance of the Laplacian over the bounding box of the target's points (pixels).

    A blurred view has soft edges, so its Laplacian varies little; the box limits the
    measure to the target so a sharp target in front of a plain wall is not penalised.
    """
    points = np.asarray(points_uv, dtype=np.float32).reshape(-1, 2)
    x, y, width, height = cv2.boundingRect(points)
    x, y = max(x, 0), max(y, 0)
    region = gray[y : y + height, x : x + width]
    if region.size == 0:
        return 0.0
    return float(cv2.Laplacian(region, cv2.CV_64F).var())
