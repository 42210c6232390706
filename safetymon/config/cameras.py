"""Camera and detector configuration."""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field, field_validator, model_validator

from safetymon.config.base import StrictModel
from safetymon.config.zones import IDENTIFIER_PATTERN

DETECTOR_KINDS = ("hog", "foreground", "yolo", "onnx")


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
    max_frame_age_s: float = Field(
        0.2, gt=0.0, description="A newest frame older than this (seconds) is stale: STOP."
    )

    @field_validator("source")
    @classmethod
    def _check_source(cls, source: int | str) -> int | str:
        if isinstance(source, int) and source < 0:
            raise ValueError(f"device index must be >= 0, got {source}")
        if isinstance(source, str) and not source.strip():
            raise ValueError("source is empty")
        return source

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
        determinant = float(np.linalg.det(array))
        if not math.isfinite(determinant) or abs(determinant) < 1e-12:
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


class DetectorConfig(StrictModel):
    """Which person detector(s) run on every frame."""

    kind: str = Field(
        "hog",
        description="hog | foreground | yolo | onnx, or several joined with '+' (hog+foreground).",
    )
    model: str | None = Field(
        None, description="Model name from models/manifest (yolo and onnx kinds)."
    )
    confidence: float = Field(0.4, gt=0.0, lt=1.0, description="Minimum detection confidence.")

    @field_validator("kind")
    @classmethod
    def _check_kind(cls, kind: str) -> str:
        parts = [part.strip() for part in kind.split("+")]
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
        """The individual detector kinds."""
        return tuple(self.kind.split("+"))

    @model_validator(mode="after")
    def _model_needed(self) -> DetectorConfig:
        if {"yolo", "onnx"} & set(self.kinds) and not self.model:
            raise ValueError("detectors yolo and onnx need `model`")
        return self
