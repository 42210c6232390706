"""Camera intrinsics (K, lens distortion) from chessboard or ChArUco photos.

Procedure for a chessboard (as OpenCV's own calibration test): grayscale image,
``findChessboardCorners`` with default flags (a view is used only when every inner corner is
found), ``cornerSubPix`` with a 5x5 window and (EPS+COUNT, 30, 0.1), then
``calibrateCamera`` with flags 0. ChArUco views use ``CharucoDetector`` and
``matchImagePoints``; partial views are usable if at least ``min_corner_fraction`` of the
board's corners are seen. Views softer than ``min_sharpness`` (variance of the Laplacian over
the target) are rejected as blurry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from safetymon.perception.calibration.aruco import charuco_corner_count, detect_charuco
from safetymon.perception.calibration.model import (
    CameraCalibration,
    CharucoTarget,
    ChessboardTarget,
    ViewResult,
    now_utc,
    sha256_file,
)
from safetymon.perception.calibration.views import DEFAULT_MIN_SHARPNESS, read_gray, sharpness

SUBPIX_WINDOW = (5, 5)
SUBPIX_CRITERIA = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_COUNT, 30, 0.1)
MIN_VIEWS = 3


class CalibrationError(RuntimeError):
    """The photos did not give a usable calibration (too few good views, too large error)."""

    def __init__(self, message: str, views: list[ViewResult] | None = None) -> None:
        super().__init__(message)
        self.views = views or []


@dataclass
class _View:
    """Correspondences of one accepted view: board points (metres) and pixels."""

    object_points: np.ndarray
    image_points: np.ndarray


@dataclass
class _Collected:
    views: list[_View] = field(default_factory=list)
    results: list[ViewResult] = field(default_factory=list)
    used_index: list[int] = field(default_factory=list)
    image_size: tuple[int, int] | None = None


def chessboard_object_points(target: ChessboardTarget) -> np.ndarray:
    """Board-frame corners (cols*rows, 3) in metres, OpenCV's order (row by row), z = 0."""
    grid = np.zeros((target.rows * target.cols, 3), np.float32)
    grid[:, :2] = np.indices((target.cols, target.rows)).T.reshape(-1, 2)
    return grid * np.float32(target.square_size_m)


def find_chessboard(gray: np.ndarray, target: ChessboardTarget) -> np.ndarray | None:
    """Sub-pixel inner corners (cols*rows, 2) of a fully visible board, or None."""
    found, corners = cv2.findChessboardCorners(gray, (target.cols, target.rows))
    if not found:
        return None
    corners = cv2.cornerSubPix(gray, corners, SUBPIX_WINDOW, (-1, -1), SUBPIX_CRITERIA)
    return corners.reshape(-1, 2)


def _detect(
    gray: np.ndarray, target: ChessboardTarget | CharucoTarget, min_corner_fraction: float
) -> tuple[np.ndarray | None, np.ndarray | None, int, str | None]:
    """(object points, image points, corners found, rejection reason) of one view."""
    if isinstance(target, ChessboardTarget):
        corners = find_chessboard(gray, target)
        if corners is None:
            return None, None, 0, "partial or no board: not every inner corner was found"
        return chessboard_object_points(target), corners, len(corners), None
    object_points, image_points, _markers = detect_charuco(gray, target)
    count, needed = len(image_points), charuco_corner_count(target) * min_corner_fraction
    if count < max(needed, 6):
        return (
            None,
            None,
            count,
            (
                f"partial view: {count} of {charuco_corner_count(target)} ChArUco corners "
                f"(need >= {max(needed, 6):.0f})"
            ),
        )
    return object_points, image_points, count, None


def _collect(
    images: Sequence[str | Path],
    target: ChessboardTarget | CharucoTarget,
    min_sharpness: float,
    min_corner_fraction: float,
    progress: Callable[[Iterable[str | Path]], Iterable[str | Path]],
) -> _Collected:
    collected = _Collected()
    for path in progress(images):
        gray = read_gray(path)
        size = (gray.shape[1], gray.shape[0])
        base = {"file": str(path), "sha256": sha256_file(path)}
        if collected.image_size is None:
            collected.image_size = size
        elif size != collected.image_size:
            raise ValueError(
                f"{path}: image size {size[0]}x{size[1]} differs from the first image's "
                f"{collected.image_size[0]}x{collected.image_size[1]}"
            )
        object_points, image_points, count, reason = _detect(gray, target, min_corner_fraction)
        if image_points is None or object_points is None:
            collected.results.append(ViewResult(**base, used=False, reason=reason, corners=count))
            continue
        score = sharpness(gray, image_points)
        if score < min_sharpness:
            reason = f"blurry: sharpness {score:.1f} < {min_sharpness:g}"
            collected.results.append(
                ViewResult(**base, used=False, reason=reason, sharpness=score, corners=count)
            )
            continue
        collected.used_index.append(len(collected.results))
        collected.results.append(ViewResult(**base, used=True, sharpness=score, corners=count))
        collected.views.append(
            _View(
                object_points.astype(np.float32).reshape(-1, 1, 3),
                image_points.astype(np.float32).reshape(-1, 1, 2),
            )
        )
    return collected


def _per_view_rms(
    views: list[_View],
    camera_matrix: np.ndarray,
    dist: np.ndarray,
    rvecs: Sequence,
    tvecs: Sequence,
) -> list[float]:
    errors = []
    for view, rvec, tvec in zip(views, rvecs, tvecs, strict=True):
        projected, _ = cv2.projectPoints(view.object_points, rvec, tvec, camera_matrix, dist)
        residual = projected.reshape(-1, 2) - view.image_points.reshape(-1, 2)
        errors.append(float(np.sqrt(np.mean(np.sum(residual**2, axis=1)))))
    return errors


def calibrate_intrinsics(
    images: Sequence[str | Path],
    target: ChessboardTarget | CharucoTarget,
    *,
    min_sharpness: float = DEFAULT_MIN_SHARPNESS,
    min_corner_fraction: float = 0.5,
    max_rms_px: float = 1.0,
    flags: int = 0,
    camera: str | None = None,
    progress: Callable[[Iterable[str | Path]], Iterable[str | Path]] = lambda items: items,
) -> CameraCalibration:
    """Calibrate K and distortion from photos of a target.

    Args:
        images: photo files (all the same size).
        target: chessboard (inner corners, square metres) or ChArUco board.
        min_sharpness: views whose target region has a smaller Laplacian variance are
            rejected as blurry.
        min_corner_fraction: ChArUco views need at least this fraction of the board's
            corners (chessboard views always need all of them).
        max_rms_px: refuse (CalibrationError) a result with a larger RMS reprojection error.
        flags: ``cv2.calibrateCamera`` flags (0: full model with k1, k2, p1, p2, k3).
        camera: camera id recorded in the file.
        progress: wraps the image iteration (e.g. ``tqdm``).

    Returns:
        A calibration with camera_matrix, dist_coeffs, rms (pixels), image_size and the
        per-image results (used or rejected with the reason, sharpness, RMS error in pixels).

    Raises:
        ImageReadError: an image cannot be read. ValueError: image sizes differ.
        CalibrationError: fewer than 3 usable views, or RMS above ``max_rms_px``.
    """
    collected = _collect(images, target, min_sharpness, min_corner_fraction, progress)
    if len(collected.views) < MIN_VIEWS or collected.image_size is None:
        raise CalibrationError(
            f"only {len(collected.views)} usable view(s) of {len(images)}; need >= {MIN_VIEWS}",
            collected.results,
        )
    rms, camera_matrix, dist, rvecs, tvecs = cv2.calibrateCamera(
        [view.object_points for view in collected.views],
        [view.image_points for view in collected.views],
        collected.image_size,
        None,
        None,
        flags=flags,
    )
    errors = _per_view_rms(collected.views, camera_matrix, dist, rvecs, tvecs)
    for index, error in zip(collected.used_index, errors, strict=True):
        collected.results[index] = collected.results[index].model_copy(
            update={"reprojection_error_px": error}
        )
    if not np.all(np.isfinite(camera_matrix)) or not np.all(np.isfinite(dist)):
        raise CalibrationError("calibration diverged (non-finite result)", collected.results)
    if rms > max_rms_px:
        raise CalibrationError(
            f"RMS reprojection error {rms:.3f} px exceeds {max_rms_px:g} px: retake the photos "
            "(sharper, flatter target, more varied poses)",
            collected.results,
        )
    return CameraCalibration(
        camera=camera,
        created=now_utc(),
        method=target.kind,
        image_size=collected.image_size,
        camera_matrix=camera_matrix.tolist(),
        dist_coeffs=dist.ravel().tolist(),
        rms=float(rms),
        target=target,
        per_image=collected.results,
        min_sharpness=min_sharpness,
    )
