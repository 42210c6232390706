"""Writing images (BGR arrays) to PNG or JPEG files, byte for byte reproducibly."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

FORMATS = {".png": ".png", ".jpg": ".jpg", ".jpeg": ".jpg"}


def check_image_path(path: str | Path) -> str:
    """The OpenCV extension for ``path`` (raises ValueError naming an unsupported one)."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(
            f"{str(path)!r}: unsupported image type {suffix or '(none)'!r}; use .png, .jpg or .jpeg"
        )
    return FORMATS[suffix]


def encode_image(image: np.ndarray, path: str | Path) -> bytes:
    """The file bytes of a BGR uint8 image in the format of ``path``'s extension."""
    ok, data = cv2.imencode(check_image_path(path), image)
    if not ok:
        raise ValueError(f"{str(path)!r}: OpenCV could not encode the image")
    return data.tobytes()


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write a BGR uint8 image as PNG/JPEG by extension.

    Raises:
        ValueError: unsupported extension.
        OSError: the file cannot be written.
    """
    Path(path).write_bytes(encode_image(image, path))
