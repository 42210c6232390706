"""A site file made the way a new user makes one from footage with MOT ground truth.

The procedure an outside user follows on public footage, so that benchmarks can repeat it
on footage nobody tuned on:

1. floor homography: ``cv2.findHomography`` (plain least squares, method 0) from every
   ground-truth foot point (box bottom-centre, pixels of the frames as replayed) to its
   world (x, y) in metres. The matrix is used exactly as returned, sign included: the user
   would not know to fix it.
2. zones: a protective square where people walk most (the square of ``protective_side_m``
   holding the most ground-truth foot points) and a warning square ``warning_margin_m``
   wider on every side around it; floor metres, axes of the world frame.
3. site YAML: one camera ``{id, source, floor_homography, image_size, fps}``, the zones, and
   no ``detector`` key (the default detector).
4. the footage as a video file (H.264 when this OpenCV build can write it, else MPEG-4 Part 2
   ``mp4v``) at the chosen resolution.

Pixels: x right, y down. Floor: metres, z up (the dataset's world frame).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from safetymon.config.site import SiteConfig
from safetymon.perception.evaluation import GroundTruthBox, foot_pixel

CODECS: tuple[tuple[str, str], ...] = (("avc1", "H.264"), ("mp4v", "MPEG-4 Part 2 (mp4v)"))
"""Video codecs tried in order: (FourCC, name)."""


@dataclass(frozen=True)
class FootPoints:
    """Ground-truth foot correspondences.

    Attributes:
        pixels: (N, 2) box bottom-centres, pixels of the frames as replayed.
        world: (N, 2) world (x, y) of the same people, metres.
    """

    pixels: np.ndarray
    world: np.ndarray


def ground_truth_feet(
    truth: dict[int, list[GroundTruthBox]], frames: Iterable[int] | None = None
) -> FootPoints:
    """Foot pixel ↔ world pairs of the considered rows with a finite world position.

    ``frames`` (1-based ground-truth frame numbers) limits the rows; None takes all.
    """
    wanted = sorted(truth) if frames is None else [f for f in frames if f in truth]
    pixels: list[tuple[float, float]] = []
    world: list[tuple[float, float]] = []
    for frame in wanted:
        for row in truth[frame]:
            if row.considered and np.all(np.isfinite(row.world_xy)):
                pixels.append(foot_pixel(row.box_ltwh))
                world.append(row.world_xy)
    return FootPoints(
        np.asarray(pixels, dtype=float).reshape(-1, 2),
        np.asarray(world, dtype=float).reshape(-1, 2),
    )


def fit_floor_homography(feet: FootPoints) -> np.ndarray:
    """``cv2.findHomography(pixels, world, 0)`` exactly as returned (no sign or scale fix).

    Raises:
        ValueError: fewer than 4 pairs, or OpenCV finds no homography.
    """
    if len(feet.pixels) < 4:
        raise ValueError(f"need >= 4 foot points with world positions, got {len(feet.pixels)}")
    homography, _mask = cv2.findHomography(feet.pixels, feet.world, 0)
    if homography is None:
        raise ValueError(f"cv2.findHomography found no homography from {len(feet.pixels)} pairs")
    return homography


def busiest_square(world: np.ndarray, side_m: float, cell_m: float = 0.25) -> tuple[float, float]:
    """Centre (x, y), metres, of the axis-aligned ``side_m`` square holding most points.

    Points are counted on a ``cell_m`` grid; the square is an integer number of cells
    (``round(side_m / cell_m)``). Ties go to the lowest x, then lowest y cell.

    Raises:
        ValueError: no finite point, or a side/cell that is not > 0.
    """
    if not (side_m > 0 and cell_m > 0):
        raise ValueError(f"side_m and cell_m must be > 0, got {side_m}, {cell_m}")
    points = np.asarray(world, dtype=float).reshape(-1, 2)
    points = points[np.all(np.isfinite(points), axis=1)]
    if len(points) == 0:
        raise ValueError("no finite floor point to place a zone at")
    cells = max(1, round(side_m / cell_m))
    origin = np.floor(points.min(axis=0) / cell_m) * cell_m
    index = np.floor((points - origin) / cell_m).astype(int)
    shape = index.max(axis=0) + 1
    counts = np.zeros((shape[0] + cells, shape[1] + cells), dtype=np.int64)
    np.add.at(counts, (index[:, 0], index[:, 1]), 1)
    integral = np.zeros((counts.shape[0] + 1, counts.shape[1] + 1), dtype=np.int64)
    integral[1:, 1:] = counts.cumsum(0).cumsum(1)
    windows = (
        integral[cells:, cells:]
        - integral[:-cells, cells:]
        - integral[cells:, :-cells]
        + integral[:-cells, :-cells]
    )  # windows[i, j]: points in cells [i, i + cells) x [j, j + cells)
    i, j = np.unravel_index(int(np.argmax(windows)), windows.shape)
    centre = origin + (np.array([i, j], dtype=float) + cells / 2.0) * cell_m
    return float(centre[0]), float(centre[1])


def square(centre: tuple[float, float], side_m: float) -> list[list[float]]:
    """Axis-aligned square polygon (counter-clockwise, metres) of ``side_m`` at ``centre``."""
    x, y = centre
    half = side_m / 2.0
    return [
        [round(x - half, 4), round(y - half, 4)],
        [round(x + half, 4), round(y - half, 4)],
        [round(x + half, 4), round(y + half, 4)],
        [round(x - half, 4), round(y + half, 4)],
    ]


def place_zones(
    world: np.ndarray,
    protective_side_m: float = 3.0,
    warning_margin_m: float = 1.0,
    protective_id: str = "walkway",
    warning_id: str = "walkway-approach",
) -> list[dict]:
    """A protective square where people walk most and a warning square around it (site dicts)."""
    centre = busiest_square(world, protective_side_m)
    return [
        {"id": protective_id, "type": "protective", "polygon": square(centre, protective_side_m)},
        {
            "id": warning_id,
            "type": "warning",
            "polygon": square(centre, protective_side_m + 2 * warning_margin_m),
        },
    ]


def site_document(
    site_id: str,
    camera_id: str,
    source: str,
    homography: np.ndarray,
    image_size: tuple[int, int],
    fps: float,
    zones: list[dict],
) -> dict:
    """The site file's content (no ``detector`` key: the default detector), validated.

    Raises:
        pydantic.ValidationError: the document is not a valid site (e.g. singular homography).
    """
    document = {
        "site": site_id,
        "cameras": [
            {
                "id": camera_id,
                "source": source,
                "floor_homography": [[float(v) for v in row] for row in np.asarray(homography)],
                "image_size": [int(image_size[0]), int(image_size[1])],
                "fps": float(fps),
            }
        ],
        "zones": zones,
    }
    SiteConfig.model_validate(document)
    return document


def write_site(path: Path, document: dict, comment: str = "") -> Path:
    """Write a site document as YAML (with ``comment`` lines on top); returns the path."""
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    Path(path).write_text(header + yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return Path(path)


def encode_video(
    frames: Iterable[np.ndarray], path: Path, fps: float, size: tuple[int, int]
) -> str:
    """Write BGR frames, resized to ``size`` (width, height, INTER_AREA), as a video file.

    Tries H.264 first, then mp4v. Returns the codec's name.

    Raises:
        RuntimeError: no codec can be opened, or no frame was written.
    """
    writer = None
    name = ""
    for fourcc, codec_name in CODECS:
        candidate = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
        if candidate.isOpened():
            writer, name = candidate, codec_name
            break
        candidate.release()
    if writer is None:
        raise RuntimeError(f"{path}: OpenCV can write none of {[c for c, _ in CODECS]}")
    count = 0
    try:
        for frame in frames:
            if (frame.shape[1], frame.shape[0]) != tuple(size):
                frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            writer.write(frame)
            count += 1
    finally:
        writer.release()
    if count == 0:
        raise RuntimeError(f"{path}: no frame to write")
    return name
