"""Packing of zone polygons into flat arrays for the Numba kernels.

Polygons are simple rings in the floor frame (x, y in metres). Validity (simplicity,
orientation, holes) is checked upstream with Shapely when zones are compiled; this module only
normalises and packs the rings so the kernels read plain contiguous float64/int64 arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["PackedPolygons", "pack_polygons"]


@dataclass(frozen=True)
class PackedPolygons:
    """Rings packed for the kernels (floor frame, metres).

    Attributes:
        vertices: ``(V, 2)`` float64, all rings concatenated, each ring not closed
            (its last vertex differs from its first).
        offsets: ``(Z + 1,)`` int64; ring ``z`` is ``vertices[offsets[z]:offsets[z + 1]]``.
        bboxes: ``(Z, 4)`` float64 ``(xmin, ymin, xmax, ymax)`` per ring.

    The arrays are C-contiguous and must not be mutated after packing (the bounding boxes
    would go stale).
    """

    vertices: np.ndarray
    offsets: np.ndarray
    bboxes: np.ndarray

    @property
    def count(self) -> int:
        """Number of packed polygons ``Z``."""
        return int(self.offsets.shape[0] - 1)


def _normalise_ring(index: int, ring: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """Return ring ``index`` as a ``(k, 2)`` float64 array without a closing duplicate."""
    arr = np.asarray(ring, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"polygon {index}: expected (k, 2) coordinates, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"polygon {index}: coordinates must be finite")
    if arr.shape[0] >= 2 and np.array_equal(arr[0], arr[-1]):
        arr = arr[:-1]
    if arr.shape[0] < 3:
        raise ValueError(
            f"polygon {index}: needs at least 3 distinct points, got {arr.shape[0]}"
        )
    return arr


def pack_polygons(rings: Sequence[np.ndarray | Sequence[Sequence[float]]]) -> PackedPolygons:
    """Pack polygon rings (floor frame, metres) into :class:`PackedPolygons`.

    Args:
        rings: one ring per polygon, each ``(k, 2)`` x/y coordinates in metres, with or
            without a closing point equal to the first (it is dropped).

    Returns:
        The packed polygons; an empty sequence gives a valid empty pack (``count == 0``).

    Raises:
        ValueError: a ring has the wrong shape, non-finite coordinates or fewer than 3 points.

    Example:
        >>> packed = pack_polygons([[(0, 0), (1, 0), (1, 1), (0, 0)]])
        >>> packed.count, packed.vertices.shape
        (1, (3, 2))
    """
    arrays = [_normalise_ring(i, ring) for i, ring in enumerate(rings)]
    offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
    if arrays:
        offsets[1:] = np.cumsum([a.shape[0] for a in arrays])
        vertices = np.ascontiguousarray(np.concatenate(arrays, axis=0), dtype=np.float64)
        bboxes = np.array(
            [(a[:, 0].min(), a[:, 1].min(), a[:, 0].max(), a[:, 1].max()) for a in arrays],
            dtype=np.float64,
        )
    else:
        vertices = np.zeros((0, 2), dtype=np.float64)
        bboxes = np.zeros((0, 4), dtype=np.float64)
    return PackedPolygons(vertices=vertices, offsets=offsets, bboxes=bboxes)
