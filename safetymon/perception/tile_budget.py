"""A fixed number of network passes per frame, placed where the camera's people are smallest.

Pure, no I/O. Frames and units: raw image pixels (u right, v down); a tile is
``(left, top, width, height)`` pixels. A fixed-input network (SSDLite: 300x300) sees a person
``h`` px tall in a tile ``s`` px high as ``h * input_px / s`` input pixels, and the pretrained
pedestrian SSDLite finds people reliably only from about 80 input px up (recall >= 0.8 on
PETS09, ``docs/PERCEPTION.md``). The whole frame, stretched to the input, shrinks the far
field's people below that on most surveillance views.

``detector_tiles`` (``person_scale``) covers every floor-seeing foot row at the target size,
which on PETS09 takes 15-38 passes: far beyond a frame budget. ``budget_tiles`` keeps the
whole frame as the first pass (so everyone keeps the coverage they had) and spends the
remaining ``passes - 1`` on one row of square tiles over the farthest floor rows, where the
calibration says people are smallest: those people are magnified by ``frame height / tile
side``, and the whole frame still serves everyone else. Each pass costs the same (about
35 ms of one core for SSDLite here), so ``passes`` is the cost bound.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from safetymon.perception.person_scale import FOOT_ROOM, HEAD_ROOM, PersonScalePlan, RowBand

TARGET_PERSON_INPUT_PX = 80.0
"""Input height (network px) from which the pedestrian SSDLite's recall holds (>= 0.8)."""
MIN_GAIN = 4.0 / 3.0
"""Extra tiles magnify the people they serve at least this much over the whole frame."""
MAX_PASSES = 16
"""Upper bound of the passes accepted (a frame budget, not a coverage plan)."""


class TileBudgetError(ValueError):
    """Bad parameters for a tile budget; says which."""


@dataclass(frozen=True)
class BudgetTiles:
    """The passes of one camera's frames.

    Attributes:
        tiles: (left, top, width, height) pixels; the first is the whole frame, the others
            square (clipped to the image only when the image is smaller).
        smallest_input_px: per tile, the smallest expected person whose feet it serves, in
            network-input pixels (the whole frame: over every floor band).
        served_rows: [top, bottom) foot rows the extra tiles serve (None: no extra tile).
        notes: why fewer tiles than allowed were placed, as sentences.
    """

    tiles: tuple[tuple[int, int, int, int], ...]
    smallest_input_px: tuple[float, ...]
    served_rows: tuple[int, int] | None
    notes: tuple[str, ...]


def budget_tiles(
    plan: PersonScalePlan,
    passes: int,
    *,
    input_px: int = 300,
    target_input_px: float = TARGET_PERSON_INPUT_PX,
    overlap: float = 0.1,
) -> BudgetTiles:
    """The whole frame plus at most ``passes - 1`` tiles over the farthest floor rows.

    The bands where the whole frame leaves the shortest person under ``target_input_px`` are
    *needy*. The extra tiles form one row of equal squares across the floor-seeing columns of
    the farthest run of needy bands that one tile of at most 3/4 of the frame height
    (``MIN_GAIN``) could hold whole (their foot rows, the tallest person's head room above and
    foot room below, as ``detector_tiles``). Their side is what ``passes - 1`` tiles need to
    span those columns (neighbours sharing ``overlap`` of a side), but at most that 3/4 of
    the frame height (the tiles are then spread evenly, with gaps the whole frame still
    covers) and at least what holds the farthest band: more passes, smaller tiles, more
    magnification, fewer rows served. The row sits as high as the farthest band's tallest
    person's head allows; ``served_rows`` are the foot rows it holds whole.

    No extra tile is placed (the whole frame alone, with a note) when ``passes`` is 1, when
    every band already reaches the target on the whole frame, or when a tile that holds the
    farthest needy band's tallest person would magnify less than ``MIN_GAIN``.

    Raises:
        TileBudgetError: ``passes`` outside 1..``MAX_PASSES``, ``input_px`` < 32,
            ``target_input_px`` <= 0 or ``overlap`` outside [0, 0.5).
    """
    if not (1 <= passes <= MAX_PASSES) or input_px < 32 or not target_input_px > 0:
        raise TileBudgetError(
            f"need 1 <= passes <= {MAX_PASSES}, input_px >= 32 and target_input_px > 0; got "
            f"{passes}, {input_px}, {target_input_px}"
        )
    if not 0 <= overlap < 0.5:
        raise TileBudgetError(f"overlap must be in [0, 0.5), got {overlap}")
    width, height = plan.image_size
    bands = plan.bands
    whole_scale = input_px / height  # the frame is stretched to the square input
    whole = ((0, 0, width, height),)
    whole_smallest = (min(b.min_height_px for b in bands) * whole_scale,)
    needy = [b for b in bands if b.min_height_px * whole_scale < target_input_px]
    if passes == 1:
        return BudgetTiles(whole, whole_smallest, None, ("one pass: the whole frame only",))
    if not needy:
        return BudgetTiles(
            whole, whole_smallest, None,
            (f"the whole frame already shows every planned person at >= {target_input_px:g} "
             "input px",),
        )  # fmt: skip
    extra = passes - 1
    limit = min(height / MIN_GAIN, width)
    served = _farthest_holdable(needy, limit)
    if not served:
        return BudgetTiles(
            whole, whole_smallest, None,
            (f"a tile holding the farthest rows' tallest person ({needy[0].max_height_px:.0f} "
             f"px) would magnify them less than {MIN_GAIN:.2f}x: the whole frame only",),
        )  # fmt: skip
    far = served[0]
    tallest = max(b.max_height_px for b in served)
    left = max(0, math.floor(min(b.left for b in served) - tallest / 2))
    right = min(width, math.ceil(max(b.right for b in served) + tallest / 2))
    spanning = (right - left) / (extra - (extra - 1) * overlap)
    side = max(min(spanning, limit), _side_to_hold([far]))
    tile = math.floor(side)
    top = max(0, math.floor(far.top - HEAD_ROOM * far.max_height_px))
    top = min(top, height - tile)
    served = _served_bands(bands, far, top, tile)
    lefts = _spread(left, right, tile, extra, width)
    smallest = min(b.min_height_px for b in served) * input_px / tile
    tiles = whole + tuple((start, top, tile, tile) for start in lefts)
    notes: tuple[str, ...] = ()
    if len(lefts) < extra:
        notes = (f"{len(lefts)} of {extra} extra tiles span the far floor's columns",)
    elif lefts[0] > left or lefts[-1] + tile < right or any(
        b - a > tile for a, b in itertools.pairwise(lefts)
    ):
        notes = ("the far floor is wider than the extra tiles: the gaps between them keep the "
                 "whole frame's view only",)  # fmt: skip
    return BudgetTiles(
        tiles,
        whole_smallest + (smallest,) * len(lefts),
        (served[0].top, served[-1].bottom),
        notes,
    )


def _side_to_hold(bands: list[RowBand]) -> float:
    """Tile side that holds the foot rows of ``bands`` (contiguous, top to bottom) with their
    tallest person's head room above and foot room below."""
    tallest = max(b.max_height_px for b in bands)
    return bands[-1].bottom - bands[0].top + (HEAD_ROOM + FOOT_ROOM) * tallest


def _farthest_holdable(needy: list[RowBand], limit: float) -> list[RowBand]:
    """The needy bands from the farthest down, as far as one tile of side ``limit`` holds
    their rows and tallest person (empty: not even the farthest band fits)."""
    chosen: list[RowBand] = []
    for band in needy:
        if chosen and band.top != chosen[-1].bottom:
            break  # the needy rows are not contiguous: serve the farthest run only
        if _side_to_hold([*chosen, band]) > limit:
            break
        chosen.append(band)
    return chosen


def _served_bands(
    bands: tuple[RowBand, ...], far: RowBand, top: int, tile: int
) -> list[RowBand]:
    """The bands from ``far`` down whose tallest person fits whole in rows [top, top + tile)."""
    served: list[RowBand] = []
    for band in bands[bands.index(far) :]:
        head = band.top - HEAD_ROOM * band.max_height_px
        feet = band.bottom + FOOT_ROOM * band.max_height_px
        if (head < top and top > 0) or feet > top + tile:
            break
        served.append(band)
    return served or [far]


def _spread(left: int, right: int, tile: int, count: int, width: int) -> list[int]:
    """Left edges of ``count`` tiles spread evenly over columns [left, right) (fewer if they
    would coincide), each inside [0, width)."""
    if right - left <= tile or count == 1:
        centre = (left + right) / 2
        return [int(min(max(0, round(centre - tile / 2)), max(0, width - tile)))]
    step = (right - left - tile) / (count - 1)
    starts = sorted({round(left + i * step) for i in range(count)})
    return [min(max(0, s), max(0, width - tile)) for s in starts]
