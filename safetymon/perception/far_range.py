"""Detections whose feet lie beyond a camera's far range: too far to place, too small to be near.

Frames and units: raw image pixels (u right, v down); floor metres (x, y; z up); person
heights in metres (``person_height_m``, default 1.0-2.0 m).

A detection whose foot pixel is at or above the horizon, or so far that a pixel spans more
than ``MAX_M_PER_PX`` metres of floor, cannot be placed on the floor. On a high camera that
never happens to a person; on a camera at about head height (a street or service-counter
camera) it happens to people walking far off, whose feet sit a few pixels under the horizon
and whose box bottoms are a few pixels off, and to the odd false box high in the picture.
Stopping the cell for each of them (the frame a fault) is safe but makes such a camera
useless; dropping them silently would not be safe.

The rule: a box whose foot row is beyond the camera's *far limit* (the farthest row of its
column whose foot pixels still see usable floor) and whose height is at most the pixel height
of the *tallest* planned person standing at that far limit is consistent only with a person
beyond the far limit (anyone nearer appears taller) or with no person on the floor at all.
Such a detection is counted as beyond range, reported with the frame, and not placed. Any
other unplaceable box (taller: it could be a near person whose feet are hidden) stays a
fault and the cell stops. Nobody beyond the far limit can be placed to better than
``MAX_M_PER_PX`` by this camera anyway (a zone wholly outside every camera's footprint is a
``safetymon config check`` warning), and a box whose foot pixel maps to the floor, however
far, is placed as before: this rule only concerns boxes that could not be placed at all.

Without a camera model (a homography whose focal length cannot be estimated and no
``camera_height_m``) there is no far limit and every unplaceable box stays a fault.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from safetymon.perception.mapping import FloorMapper
from safetymon.perception.person_scale import (
    DEFAULT_PERSON_HEIGHT_M,
    CameraModel,
    usable_feet,
)

COLUMN_SAMPLES = 65
"""Columns sampled across the image for the far limit (linear interpolation between)."""


@dataclass(frozen=True)
class FarLimit:
    """Per sampled column, the farthest usable foot row and the tallest person's height there.

    Attributes:
        columns_px: (C,) sampled columns (pixels, increasing).
        rows_px: (C,) farthest (smallest) foot row that sees usable floor in each column;
            NaN where the column sees none.
        tallest_px: (C,) pixel height of the tallest planned person whose feet stand at that
            row; NaN where the column sees no floor.
        tallest_person_m: the tallest planned person (metres).
    """

    columns_px: np.ndarray
    rows_px: np.ndarray
    tallest_px: np.ndarray
    tallest_person_m: float

    def beyond(self, boxes_ltwh: np.ndarray) -> np.ndarray:
        """(N,) True for boxes (left, top, width, height px) wholly consistent with beyond range.

        True when the box's bottom-centre column sees floor, its bottom row is above (farther
        than) that column's far limit, and its height is at most the tallest person's height
        at the far limit. Columns outside the image take the nearest sampled column.
        """
        boxes = np.asarray(boxes_ltwh, dtype=np.float64).reshape(-1, 4)
        centre = boxes[:, 0] + boxes[:, 2] / 2.0
        bottom = boxes[:, 1] + boxes[:, 3]
        known = np.isfinite(self.rows_px) & np.isfinite(self.tallest_px)
        if not np.any(known):
            return np.zeros(len(boxes), dtype=bool)
        columns = self.columns_px[known]
        limit_row = np.interp(centre, columns, self.rows_px[known])
        tallest = np.interp(centre, columns, self.tallest_px[known])
        sees_floor = np.interp(centre, self.columns_px, known.astype(float)) >= 1.0
        finite = np.all(np.isfinite(boxes), axis=1)
        return finite & sees_floor & (bottom < limit_row) & (boxes[:, 3] <= tallest)


def far_limit(
    mapper: FloorMapper,
    camera: CameraModel,
    person_height_m: tuple[float, float] = DEFAULT_PERSON_HEIGHT_M,
    column_samples: int = COLUMN_SAMPLES,
) -> FarLimit:
    """The far limit of ``mapper``'s camera (needs its ``image_size``).

    A foot pixel sees usable floor by ``person_scale.usable_feet`` (the rule the person-scale
    plan uses too).

    Raises:
        ValueError: the mapper has no image size.
    """
    if mapper.image_size is None:
        raise ValueError("the far limit needs the camera's image_size")
    width, height = mapper.image_size
    columns = np.linspace(0.0, width - 1.0, column_samples)
    rows = np.arange(height, dtype=float)
    feet = np.stack(np.meshgrid(columns, rows), axis=-1).reshape(-1, 2)
    shortest_tallest, seen = usable_feet(camera, mapper, feet, person_height_m)
    seen = seen.reshape(height, column_samples)
    tallest = shortest_tallest[:, 1].reshape(height, column_samples)
    limit_rows = np.full(column_samples, np.nan)
    limit_tallest = np.full(column_samples, np.nan)
    for column in range(column_samples):
        hits = np.flatnonzero(seen[:, column])
        if len(hits):
            limit_rows[column] = rows[hits[0]]
            limit_tallest[column] = tallest[hits[0], column]
    return FarLimit(columns, limit_rows, limit_tallest, float(person_height_m[1]))
