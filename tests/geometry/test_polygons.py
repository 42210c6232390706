"""Tests of zone packing (safetymon.geometry.polygons)."""

from __future__ import annotations

import numpy as np
import pytest

from safetymon.geometry.polygons import PackedPolygons, pack_polygons

SQUARE = [(0.0, 0.0), (2.0, 0.0), (2.0, 1.0), (0.0, 1.0)]
TRIANGLE = np.array([[5.0, 5.0], [6.0, 5.0], [5.5, 7.0]])


def test_pack_two_rings_offsets_and_bboxes() -> None:
    packed = pack_polygons([SQUARE, TRIANGLE])
    assert packed.count == 2
    assert packed.vertices.shape == (7, 2)
    assert packed.vertices.dtype == np.float64
    assert packed.vertices.flags.c_contiguous
    assert packed.offsets.dtype == np.int64
    np.testing.assert_array_equal(packed.offsets, [0, 4, 7])
    np.testing.assert_array_equal(packed.bboxes, [[0, 0, 2, 1], [5, 5, 6, 7]])
    np.testing.assert_array_equal(packed.vertices[4:7], TRIANGLE)


def test_closing_point_is_dropped() -> None:
    closed = pack_polygons([[*SQUARE, SQUARE[0]]])
    opened = pack_polygons([SQUARE])
    np.testing.assert_array_equal(closed.vertices, opened.vertices)
    assert closed.vertices.shape == (4, 2)


def test_empty_list_gives_valid_empty_pack() -> None:
    packed = pack_polygons([])
    assert isinstance(packed, PackedPolygons)
    assert packed.count == 0
    assert packed.vertices.shape == (0, 2)
    assert packed.bboxes.shape == (0, 4)
    np.testing.assert_array_equal(packed.offsets, [0])


@pytest.mark.parametrize(
    "ring",
    [
        [(0.0, 0.0), (1.0, 0.0)],
        [(0.0, 0.0), (1.0, 0.0), (0.0, 0.0)],  # closed, only 2 distinct points
        [(0.0, 0.0), (np.nan, 0.0), (1.0, 1.0)],
        [(0.0, 0.0), (np.inf, 0.0), (1.0, 1.0)],
        [(0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (1.0, 1.0, 0.0)],
        [0.0, 1.0, 2.0],
    ],
)
def test_invalid_rings_raise(ring: object) -> None:
    with pytest.raises(ValueError, match="polygon 1"):
        pack_polygons([SQUARE, ring])  # type: ignore[list-item]


def test_packed_is_frozen() -> None:
    packed = pack_polygons([SQUARE])
    with pytest.raises(AttributeError):
        packed.vertices = np.zeros((3, 2))  # type: ignore[misc]
