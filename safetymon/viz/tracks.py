"""Live tracks on a floor plan, drawn with OpenCV (about a millisecond per frame).

Frames: floor metres (x, y; z up) → plan image pixels (column right, row down, pixel
centres at integer coordinates) through ``FloorToPixel``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from safetymon.viz.colours import TRACK_COLOUR, bgr

TRACK_FILL_ALPHA = 0.45


@dataclass(frozen=True)
class FloorToPixel:
    """Floor metres → plan pixels: ``col = c0 + s·x``, ``row = r0 − s·y``.

    Attributes:
        scale_px_per_m: pixels per metre (same along x and y).
        origin_px: (column, row) of the floor origin (0, 0), pixels (may lie off the image).
    """

    scale_px_per_m: float
    origin_px: tuple[float, float]

    def to_pixels(self, floor_xy: np.ndarray) -> np.ndarray:
        """Floor points (N, 2) metres → (N, 2) (column, row) pixels, floats."""
        xy = np.asarray(floor_xy, dtype=np.float64).reshape(-1, 2)
        col = self.origin_px[0] + self.scale_px_per_m * xy[:, 0]
        row = self.origin_px[1] - self.scale_px_per_m * xy[:, 1]
        return np.c_[col, row]

    def to_floor(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 2) (column, row) pixels → floor points (N, 2) metres."""
        px = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
        x = (px[:, 0] - self.origin_px[0]) / self.scale_px_per_m
        y = (self.origin_px[1] - px[:, 1]) / self.scale_px_per_m
        return np.c_[x, y]


def draw_tracks(
    image: np.ndarray,
    transform: FloorToPixel,
    tracks: np.ndarray,
    labels: Sequence[str] | None = None,
) -> np.ndarray:
    """Draw people on a plan image in place: a translucent disc per track and its label.

    Args:
        image: (H, W, 3) BGR uint8 plan image, changed in place and returned.
        transform: the plan's floor → pixel transform.
        tracks: (N, 3) rows (x_m, y_m, radius_m): floor position and disc radius, metres.
        labels: N texts drawn next to the discs (e.g. track ids), or None.

    Raises:
        ValueError: wrong shape, non-finite value or negative radius (names the row).
    """
    rows = np.asarray(tracks, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != 3:
        raise ValueError(f"tracks must have shape (N, 3) (x_m, y_m, radius_m), got {rows.shape}")
    bad = np.flatnonzero(~np.all(np.isfinite(rows), axis=1) | (rows[:, 2] < 0))
    if bad.size:
        raise ValueError(
            f"tracks[{int(bad[0])}] is not a finite position with radius >= 0: "
            f"{rows[int(bad[0])].tolist()}"
        )
    if labels is not None and len(labels) != len(rows):
        raise ValueError(f"{len(labels)} labels for {len(rows)} tracks")
    height, width = image.shape[:2]
    colour = bgr(TRACK_COLOUR)
    centres = transform.to_pixels(rows[:, :2])
    radii = np.maximum(rows[:, 2] * transform.scale_px_per_m, 2.0)
    shift = 4  # sub-pixel bits of cv2 drawing coordinates
    for index, ((col, row), radius) in enumerate(zip(centres, radii, strict=True)):
        x0, x1 = max(int(col - radius) - 2, 0), min(int(col + radius) + 3, width)
        y0, y1 = max(int(row - radius) - 2, 0), min(int(row + radius) + 3, height)
        centre = (round(col * 16), round(row * 16))
        if x0 < x1 and y0 < y1:  # translucent fill, blended on the disc's box only
            patch = image[y0:y1, x0:x1]
            mask = np.zeros(patch.shape[:2], np.uint8)
            local = (centre[0] - x0 * 16, centre[1] - y0 * 16)
            cv2.circle(mask, local, round(radius * 16), 255, -1, cv2.LINE_AA, shift)
            weight = (mask.astype(np.float32) * (TRACK_FILL_ALPHA / 255.0))[:, :, None]
            patch[:] = (patch * (1 - weight) + np.array(colour, np.float32) * weight).astype(
                np.uint8
            )
        cv2.circle(image, centre, round(radius * 16), colour, 2, cv2.LINE_AA, shift)
        cv2.circle(image, centre, 3 * 16, colour, -1, cv2.LINE_AA, shift)
        if labels is not None:
            origin = (round(col + radius + 3), round(row + 4))
            cv2.putText(
                image,
                str(labels[index]),
                origin,
                cv2.FONT_HERSHEY_SIMPLEX,
                0.45,
                (255, 255, 255),
                3,
                cv2.LINE_AA,
            )
            cv2.putText(
                image,
                str(labels[index]),
                origin,
                cv2.FONT_HERSHEY_SIMPLEX,
                0.45,
                colour,
                1,
                cv2.LINE_AA,
            )
    return image
