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


@dataclass(frozen=True)
class HeightFloorEstimate:
    """A level pinhole camera fitted to ground-truth box heights (footage without world xy).

    With no roll and a level floor, a person of height ``H`` whose feet are at image row
    ``v_f`` and whose box is ``h`` pixels tall satisfies ``v_f = v_0 + (C / H) h``: the
    horizon row ``v_0`` and the camera height ``C`` follow from a straight-line fit of foot row
    on box height over every box. The focal length is not observable this way and is
    assumed from a horizontal field of view. A foot pixel (u, v) is then at depth
    ``Z = f C / (v - v_0)`` and lateral ``X = (u - c_x) Z / f`` (metres, X right, Z ahead).

    Attributes:
        horizon_row_px: fitted ``v_0`` (pixels, y down).
        camera_height_m: fitted ``C`` for people ``person_height_m`` tall.
        focal_px: assumed focal length (pixels).
        principal_u_px: ``c_x``, the image's centre column (pixels).
        fit_rms_px: RMS residual of the foot-row fit (pixels).
        person_height_m: the assumed height of every person (metres).
    """

    horizon_row_px: float
    camera_height_m: float
    focal_px: float
    principal_u_px: float
    fit_rms_px: float
    person_height_m: float

    def floor_to_image(self) -> np.ndarray:
        """3x3 homography from floor (X, Z, 1), metres, to image pixels (u, v, 1)."""
        f, c = self.focal_px, self.camera_height_m
        return np.array(
            [[f, self.principal_u_px, 0.0], [0.0, self.horizon_row_px, f * c], [0.0, 1.0, 0.0]]
        )

    def world(self, pixels: np.ndarray) -> np.ndarray:
        """Floor (X, Z) metres of foot pixels (N, 2); NaN at or above the horizon."""
        pixels = np.asarray(pixels, dtype=float).reshape(-1, 2)
        below = pixels[:, 1] - self.horizon_row_px
        depth = np.where(below > 0, self.focal_px * self.camera_height_m / below, np.nan)
        lateral = (pixels[:, 0] - self.principal_u_px) * depth / self.focal_px
        return np.c_[lateral, depth]


def estimate_floor_from_heights(
    truth: dict[int, list[GroundTruthBox]],
    frames: Iterable[int] | None,
    image_size: tuple[int, int],
    person_height_m: float = 1.7,
    hfov_deg: float = 60.0,
) -> tuple[HeightFloorEstimate, FootPoints]:
    """Fit a level camera to the ground-truth boxes and give every box's estimated floor xy.

    For footage whose ground truth has boxes but no world positions (TUD-Campus): the
    geometry is an estimate (every person ``person_height_m`` tall, a ``hfov_deg`` lens), so
    the floor errors scored against it measure the detector's foot pixels, not a survey.
    Only boxes wholly inside the image are fitted (a box cut by the border has no true
    height).

    Raises:
        ValueError: fewer than 4 usable boxes, or a fit with the horizon below the feet or a
            non-positive camera height.
    """
    width, height = image_size
    wanted = sorted(truth) if frames is None else [f for f in frames if f in truth]
    boxes = np.array(
        [row.box_ltwh for frame in wanted for row in truth[frame] if row.considered],
        dtype=float,
    ).reshape(-1, 4)
    inside = (
        (boxes[:, 0] >= 0)
        & (boxes[:, 1] >= 0)
        & (boxes[:, 0] + boxes[:, 2] <= width)
        & (boxes[:, 1] + boxes[:, 3] <= height)
        & (boxes[:, 3] > 0)
    )
    fitted = boxes[inside]
    if len(fitted) < 4:
        raise ValueError(f"need >= 4 whole ground-truth boxes to fit a camera, got {len(fitted)}")
    foot_rows = fitted[:, 1] + fitted[:, 3]
    design = np.c_[np.ones(len(fitted)), fitted[:, 3]]
    (horizon, slope), *_ = np.linalg.lstsq(design, foot_rows, rcond=None)
    residual = foot_rows - design @ np.array([horizon, slope])
    if not (slope > 0 and horizon < foot_rows.min()):
        raise ValueError(
            f"box heights give no level camera (horizon row {horizon:.1f}, camera height "
            f"{slope * person_height_m:.2f} m)"
        )
    estimate = HeightFloorEstimate(
        horizon_row_px=float(horizon),
        camera_height_m=float(slope * person_height_m),
        focal_px=float((width / 2.0) / np.tan(np.radians(hfov_deg) / 2.0)),
        principal_u_px=(width - 1) / 2.0,
        fit_rms_px=float(np.sqrt(np.mean(residual**2))),
        person_height_m=person_height_m,
    )
    pixels = np.array(
        [foot_pixel(row.box_ltwh) for frame in wanted for row in truth[frame] if row.considered],
        dtype=float,
    ).reshape(-1, 2)
    world = estimate.world(pixels)
    keep = np.all(np.isfinite(world), axis=1)
    return estimate, FootPoints(pixels[keep], world[keep])


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
