"""The calibration file of one camera (`calibration/<camera>.yaml`): model and YAML I/O.

Frames and units used throughout the file:

- image pixels: ``u`` to the right, ``v`` down, origin at the top-left pixel's corner as
  OpenCV uses it; ``camera_matrix`` and ``dist_coeffs`` follow OpenCV's pinhole model;
- "undistorted pixels": the same pixel frame after lens distortion is removed with
  ``cv2.undistortPoints(..., P=camera_matrix)`` (identical to raw pixels when the file has no
  intrinsics);
- floor: metres, z up, the site's own origin and axes (the site file's floor frame);
- ``floor_homography`` maps undistorted pixels ``(u, v, 1)`` to floor ``(x, y, 1)`` and is
  scaled so that ``w > 0`` for pixels that see the floor (``w <= 0``: at or above the horizon);
- ``pose``: rotation ``rvec`` (Rodrigues, radians) and translation ``tvec`` (metres) taking
  floor points into the camera frame (OpenCV camera: x right, y down, z forward).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import Field, field_validator, model_validator

from safetymon.config.base import StrictModel
from safetymon.config.loader import ConfigError, ConfigIssue, read_yaml, validate_model

FORMAT = "safetymon-calibration/1"
DIST_COEFF_COUNTS = (4, 5, 8, 12, 14)


def sha256_file(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_3x3(matrix: list[list[float]]) -> np.ndarray:
    if len(matrix) != 3 or any(len(row) != 3 for row in matrix):
        raise ValueError("must be a 3x3 matrix (three rows of three numbers)")
    return np.asarray(matrix, dtype=float)


class SourceImage(StrictModel):
    """One image a calibration was computed from."""

    file: str = Field(description="Path as given on the command line.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the file's bytes.")


class ViewResult(SourceImage):
    """One intrinsics calibration view: used or rejected, and why."""

    used: bool = Field(description="Whether the view entered the calibration.")
    reason: str | None = Field(None, description="Why it was rejected (None when used).")
    sharpness: float | None = Field(
        None, ge=0.0, description="Variance of the Laplacian over the target's bounding box."
    )
    corners: int = Field(0, ge=0, description="Target corners found in the view.")
    reprojection_error_px: float | None = Field(
        None, ge=0.0, description="RMS reprojection error of this view (pixels)."
    )


class ChessboardTarget(StrictModel):
    """A chessboard target: inner corner counts and square size."""

    kind: Literal["chessboard"] = "chessboard"
    cols: int = Field(ge=2, description="Inner corners per row.")
    rows: int = Field(ge=2, description="Inner corners per column.")
    square_size_m: float = Field(gt=0.0, description="Square side (metres).")


class CharucoTarget(StrictModel):
    """A ChArUco board: squares, square and marker sides, ArUco dictionary."""

    kind: Literal["charuco"] = "charuco"
    squares_x: int = Field(ge=2, description="Squares along the board's x (width).")
    squares_y: int = Field(ge=2, description="Squares along the board's y (height).")
    square_size_m: float = Field(gt=0.0, description="Chessboard square side (metres).")
    marker_size_m: float = Field(gt=0.0, description="ArUco marker side (metres).")
    dictionary: str = Field(description="OpenCV predefined dictionary, e.g. DICT_6X6_250.")

    @field_validator("dictionary")
    @classmethod
    def _known_dictionary(cls, name: str) -> str:
        from safetymon.perception.calibration.aruco import dictionary_id

        dictionary_id(name)
        return name

    @model_validator(mode="after")
    def _marker_fits(self) -> CharucoTarget:
        if self.marker_size_m >= self.square_size_m:
            raise ValueError(
                f"marker_size_m ({self.marker_size_m}) must be smaller than square_size_m "
                f"({self.square_size_m})"
            )
        return self


Target = Annotated[ChessboardTarget | CharucoTarget, Field(discriminator="kind")]


class FloorPoint(StrictModel):
    """One image ↔ floor correspondence of a floor calibration."""

    u: float = Field(description="Image column (raw pixels).")
    v: float = Field(description="Image row (raw pixels).")
    x: float = Field(description="Floor x (metres).")
    y: float = Field(description="Floor y (metres).")
    error_m: float = Field(ge=0.0, description="Distance of the mapped pixel from (x, y), metres.")


class CameraPose(StrictModel):
    """Floor → camera transform: X_cam = R(rvec) · X_floor + tvec."""

    rvec: list[float] = Field(min_length=3, max_length=3, description="Rodrigues (radians).")
    tvec: list[float] = Field(min_length=3, max_length=3, description="Translation (metres).")
    source: Literal["solvepnp", "homography", "imported"] = Field(
        description="solvepnp: fitted to a floor target; homography: decomposed with K; "
        "imported: read from another tool's file (`safetymon calibrate import`)."
    )
    camera_height_m: float = Field(description="Camera centre's height above the floor.")


class LatencyMeasurement(StrictModel):
    """Glass-to-frame latency measured by `safetymon calibrate latency` (seconds).

    Each sample is the time from the timestamp pattern appearing on the screen to the
    frame showing it being handed out by the camera source, so it also holds the screen's
    own lag and up to one pattern period: an upper bound of the camera's latency.
    """

    latency_s: float = Field(
        ge=0.0, le=5.0, description="What the decision counts: p99 + margin (seconds)."
    )
    p50_s: float = Field(ge=0.0, description="Median of the samples (seconds).")
    p95_s: float = Field(ge=0.0, description="95th percentile (seconds).")
    p99_s: float = Field(ge=0.0, description="99th percentile (seconds).")
    margin_s: float = Field(ge=0.0, description="Added to p99 (seconds).")
    samples: int = Field(ge=1, description="Frames whose pattern was decoded.")
    pattern_period_s: float = Field(gt=0.0, description="Time each pattern code was shown.")
    measured: datetime = Field(description="When it was measured (UTC).")
    source: str = Field(description="The camera source it was measured on.")

    @model_validator(mode="after")
    def _ordered(self) -> LatencyMeasurement:
        if not self.p50_s <= self.p95_s <= self.p99_s:
            raise ValueError(
                f"percentiles out of order: p50 {self.p50_s}, p95 {self.p95_s}, p99 {self.p99_s}"
            )
        if self.latency_s < self.p99_s:
            raise ValueError(f"latency_s {self.latency_s} is below p99 {self.p99_s}")
        return self


class CameraCalibration(StrictModel):
    """Everything `safetymon calibrate` knows about one camera."""

    format: Literal["safetymon-calibration/1"] = FORMAT
    camera: str | None = Field(None, description="Camera id of the site file, if known.")
    created: datetime = Field(description="When the file was written (UTC).")
    method: str = Field(description="How it was made, e.g. 'chessboard+points'.")
    image_size: tuple[int, int] | None = Field(None, description="(width, height) in pixels.")
    camera_matrix: list[list[float]] | None = Field(None, description="3x3 K (pixels).")
    dist_coeffs: list[float] | None = Field(
        None, description="OpenCV distortion (k1, k2, p1, p2[, k3[, ...]])."
    )
    rms: float | None = Field(None, ge=0.0, description="Intrinsics RMS reprojection (pixels).")
    target: Target | None = Field(None, description="Intrinsics target.")
    per_image: list[ViewResult] = Field(
        default_factory=list, description="Intrinsics views with per-image errors."
    )
    min_sharpness: float | None = Field(
        None, ge=0.0, description="Blur threshold used (variance of the Laplacian)."
    )
    floor_method: Literal["points", "aruco", "charuco"] | None = None
    floor_homography: list[list[float]] | None = Field(
        None, description="Undistorted pixel (u, v, 1) → floor (x, y, 1) metres; w > 0 on floor."
    )
    floor_error_m: float | None = Field(
        None, ge=0.0, description="RMS floor reprojection error of the fitting points (metres)."
    )
    floor_max_error_m: float | None = Field(None, ge=0.0, description="Largest of them (m).")
    floor_loo_error_m: float | None = Field(
        None, ge=0.0, description="Leave-one-out RMS floor error (metres), with >= 5 points."
    )
    floor_points: list[FloorPoint] = Field(default_factory=list)
    floor_sources: list[SourceImage] = Field(default_factory=list)
    pose: CameraPose | None = None
    latency: LatencyMeasurement | None = Field(
        None, description="Glass-to-frame latency (`safetymon calibrate latency`)."
    )

    @field_validator("created")
    @classmethod
    def _aware(cls, created: datetime) -> datetime:
        if created.tzinfo is None:
            raise ValueError("needs a time zone (written in UTC)")
        return created

    @field_validator("image_size")
    @classmethod
    def _positive_size(cls, size: tuple[int, int] | None) -> tuple[int, int] | None:
        if size is not None and (size[0] <= 0 or size[1] <= 0):
            raise ValueError(f"width and height must be > 0, got {size}")
        return size

    @field_validator("camera_matrix")
    @classmethod
    def _check_camera_matrix(cls, matrix: list[list[float]] | None) -> list[list[float]] | None:
        if matrix is None:
            return None
        k = _check_3x3(matrix)
        if not (k[0, 0] > 0 and k[1, 1] > 0):
            raise ValueError(f"focal lengths fx, fy must be > 0, got {k[0, 0]}, {k[1, 1]}")
        if k[1, 0] != 0 or k[2, 0] != 0 or k[2, 1] != 0 or k[2, 2] != 1:
            raise ValueError("must have the form [[fx, s, cx], [0, fy, cy], [0, 0, 1]]")
        return matrix

    @field_validator("dist_coeffs")
    @classmethod
    def _check_dist(cls, coeffs: list[float] | None) -> list[float] | None:
        if coeffs is not None and len(coeffs) not in DIST_COEFF_COUNTS:
            raise ValueError(f"needs 4, 5, 8, 12 or 14 coefficients, got {len(coeffs)}")
        return coeffs

    @field_validator("floor_homography")
    @classmethod
    def _check_homography(cls, matrix: list[list[float]] | None) -> list[list[float]] | None:
        if matrix is None:
            return None
        # scale-free (any scale and sign is the same mapping): singular values of H on pixel
        # coordinates scaled by a nominal 1000 px image side
        array = _check_3x3(matrix) @ np.diag([1000.0, 1000.0, 1.0])
        if not np.all(np.isfinite(array)):
            raise ValueError("contains a non-finite value")
        singular = np.linalg.svd(array, compute_uv=False)
        if not singular[0] > 0 or singular[-1] / singular[0] < 1e-12:
            raise ValueError("is singular (determinant ~ 0): it cannot map pixels to the floor")
        return matrix

    @model_validator(mode="after")
    def _consistent(self) -> CameraCalibration:
        if (self.camera_matrix is None) != (self.dist_coeffs is None):
            raise ValueError("camera_matrix and dist_coeffs go together (give both or neither)")
        if self.camera_matrix is not None and self.image_size is None:
            raise ValueError("image_size is required with camera_matrix")
        if self.floor_homography is not None and self.floor_error_m is None:
            raise ValueError("floor_error_m is required with floor_homography")
        if self.pose is not None and self.camera_matrix is None:
            raise ValueError("pose needs camera_matrix")
        return self

    @property
    def has_intrinsics(self) -> bool:
        """Whether the file holds a camera matrix and distortion coefficients."""
        return self.camera_matrix is not None

    def k(self) -> np.ndarray | None:
        """Camera matrix as a (3, 3) float64 array, or None."""
        return None if self.camera_matrix is None else np.asarray(self.camera_matrix, float)

    def dist(self) -> np.ndarray | None:
        """Distortion coefficients as a float64 vector, or None."""
        return None if self.dist_coeffs is None else np.asarray(self.dist_coeffs, float)


def now_utc() -> datetime:
    """The current time in UTC (seconds resolution), for `created`."""
    return datetime.now(timezone.utc).replace(microsecond=0)


class _FlowListDumper(yaml.SafeDumper):
    """YAML dumper writing lists of numbers on one line ([1.0, 2.0, 3.0])."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flat = all(isinstance(item, int | float) and not isinstance(item, bool) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat or None)


_FlowListDumper.add_representer(list, _represent_list)


def calibration_to_yaml(calibration: CameraCalibration) -> str:
    """The YAML text of a calibration (round-trips through `parse_calibration`)."""
    data = calibration.model_dump(mode="json", exclude_none=True)
    header = "# safetymon camera calibration; see docs/PERCEPTION.md (frames and units)\n"
    return header + yaml.dump(data, Dumper=_FlowListDumper, sort_keys=False, width=100)


def save_calibration(calibration: CameraCalibration, path: str | Path) -> Path:
    """Write the calibration as YAML (creating the folder); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(calibration_to_yaml(calibration), encoding="utf-8")
    temporary.replace(target)
    return target


def parse_calibration(data: Any, file: str) -> CameraCalibration:
    """Validate parsed YAML as a calibration (raises ConfigError naming file and field)."""
    return validate_model(CameraCalibration, data, file)


def load_calibration(path: str | Path) -> CameraCalibration:
    """Read and validate a calibration file (raises ConfigError naming file, field, value).

    Like site files, a repeated key is an error, not silently the last value.
    """
    return parse_calibration(read_yaml(path, "calibration file"), str(path))


def load_camera_calibration(path: str | Path, camera_id: str) -> CameraCalibration:
    """``load_calibration`` for a site's camera: each refusal also names the site-file field.

    Raises:
        ConfigError: the file's own issues, each followed by ``(cameras[ID].calibration)``
            so that an operator knows which camera's entry points at the bad file.
    """
    try:
        return load_calibration(path)
    except ConfigError as error:
        issues = [
            ConfigIssue(
                issue.file, issue.field, f"{issue.message} (cameras[{camera_id}].calibration)",
                issue.value, issue.has_value,
            )
            for issue in error.issues
        ]  # fmt: skip
        raise ConfigError(issues) from None
