"""The floor plane of a camera: homography (undistorted pixels → floor metres) and pose.

Three ways in:

- ``fit_floor_from_points``: >= 4 image ↔ floor pairs (pixels ↔ metres), least-squares
  homography (``cv2.findHomography`` method 0, refined); with known intrinsics the pixels are
  undistorted first and the pose is decomposed from the homography (see
  ``pose_from_homography``);
- ``fit_floor_from_target``: points of a planar target lying on the floor (ArUco markers,
  ChArUco board) with known intrinsics: pose by ``cv2.solvePnP`` (IPPE), homography from the
  pose ``H = (K [r1 r2 t])^-1``.

Errors are measured on the floor in metres: each fitting pixel mapped through the result
against its known floor point.

Scale and sign: a homography is defined up to a non-zero factor (sign included), so ``H``,
``-H`` and ``3.7 H`` are one mapping and ``cv2.findHomography`` returns either sign. Every
homography that enters is brought to one form by ``normalise_homography``: Frobenius norm 1
and the sign under which ``w = H[2] @ (u, v, 1) > 0`` on the side of the horizon line
``w = 0`` that sees the floor. Which side that is:

- from pixels known to see the floor: the fitting points of a floor calibration, or the
  image's bottom row (``image_size`` known; the rule "the floor is on the side of the lower
  rows") - the sign that makes their summed ``w`` positive;
- otherwise from the floor frame's handedness: for a camera above a right-handed floor frame
  (x, y, z up) the pixel → floor map reverses orientation on the floor it sees (image u right,
  v down), and ``det J = det(H) / w³``, so ``w > 0`` on the floor exactly when ``det(H) < 0``.

With a known floor side the same relation detects a mirrored (left-handed) floor frame - or a
camera that sees no floor at all and maps the ray behind it - as ``det(H) > 0``; see
``safetymon.perception.floor_footprint``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from safetymon.perception.calibration.model import CameraPose


class FloorFitError(ValueError):
    """Floor correspondences cannot give a mapping (too few, degenerate, inconsistent)."""


@dataclass(frozen=True)
class FloorFit:
    """Result of a floor calibration.

    Attributes:
        homography: (3, 3) undistorted pixels → floor metres, Frobenius norm 1, w > 0 on
            the floor (at the fitting points).
        errors_m: (N,) floor distance of each fitting point's mapped pixel from its floor
            point (metres).
        loo_rms_m: leave-one-out RMS error (metres) when >= 5 points were fitted, else None.
        pose: floor → camera pose when intrinsics were known (and it is consistent).
        reprojection_px: RMS pixel error of the pose fit (solvePnP), else None.
    """

    homography: np.ndarray
    errors_m: np.ndarray
    loo_rms_m: float | None
    pose: CameraPose | None
    reprojection_px: float | None = None

    @property
    def rms_m(self) -> float:
        """RMS floor error of the fitting points (metres)."""
        return float(np.sqrt(np.mean(self.errors_m**2)))

    @property
    def max_m(self) -> float:
        """Largest floor error of the fitting points (metres)."""
        return float(np.max(self.errors_m))


def undistort_pixels(
    pixels_uv: np.ndarray, camera_matrix: np.ndarray | None, dist_coeffs: np.ndarray | None
) -> np.ndarray:
    """Remove lens distortion: raw pixels (N, 2) → undistorted pixels (N, 2), same K.

    Identity when no intrinsics are given. Uses ``cv2.undistortPointsIter`` with a tight
    criterion (100 iterations, 1e-10) so strong barrel distortion is inverted to < 0.01 px.
    """
    points = np.asarray(pixels_uv, dtype=np.float64).reshape(-1, 2)
    if camera_matrix is None:
        return points.copy()
    if len(points) == 0:
        return points.copy()
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-10)
    undistorted = cv2.undistortPointsIter(
        points.reshape(-1, 1, 2), camera_matrix, dist_coeffs, None, camera_matrix, criteria
    )
    return undistorted.reshape(-1, 2)


def apply_homography(homography: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map (N, 2) points through a 3x3 homography: ((N, 2) mapped, (N,) w before dividing)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    homogeneous = np.c_[points, np.ones(len(points))] @ np.asarray(homography, float).T
    w = homogeneous[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        mapped = homogeneous[:, :2] / w[:, None]
    return mapped, w


NOMINAL_IMAGE_SIDE_PX = 1000.0
"""Pixel scale used to judge the conditioning of a homography without an image size."""


def checked_homography(homography: np.ndarray) -> np.ndarray:
    """``homography`` as a finite, non-zero (3, 3) float64 array (ValueError otherwise)."""
    h = np.asarray(homography, dtype=np.float64)
    if h.shape != (3, 3) or not np.all(np.isfinite(h)):
        raise ValueError(f"homography must be a finite 3x3 matrix, got {h!r}")
    if not np.any(h):
        raise ValueError("homography is all zeros")
    return h


def reciprocal_condition(
    homography: np.ndarray, image_size: tuple[int, int] | None = None
) -> float:
    """σ_min / σ_max of ``H · diag(s, s, 1)``, ``s`` = the longer image side in pixels.

    Pixels and metres differ in scale by ~100-1000, so the plain matrix of a good camera is
    badly conditioned in numbers only; on pixel coordinates scaled to ~[0, 1] a usable floor
    mapping has a ratio of 1e-3 and more, a singular (rank-deficient) one 0. ``s`` is
    ``NOMINAL_IMAGE_SIDE_PX`` without an image size. Scale and sign do not change the ratio.
    """
    side = float(max(image_size)) if image_size is not None else NOMINAL_IMAGE_SIDE_PX
    scaled = checked_homography(homography) @ np.diag([side, side, 1.0])
    singular = np.linalg.svd(scaled, compute_uv=False)
    return float(singular[-1] / singular[0])


def normalise_homography(
    homography: np.ndarray, floor_pixels: np.ndarray | None = None
) -> np.ndarray:
    """The one form of a floor homography: Frobenius norm 1, ``w > 0`` on the floor side.

    Args:
        homography: (3, 3) undistorted pixels → floor metres, any non-zero scale and sign.
        floor_pixels: (N, 2) undistorted pixels on the floor side (fitting points, or the
            image's bottom row): the sign makes their summed ``w`` positive. None, empty or a
            zero sum: the handedness rule (``det(H) < 0``, right-handed floor frame with the
            camera above it) decides. See the module docstring.

    ``H`` and ``-H`` give bit-identical results (every step is symmetric under negation);
    ``c·H`` gives the same up to rounding (~1e-16 relative).

    Raises:
        ValueError: not a finite non-zero 3x3 matrix, or singular (determinant 0).
    """
    h = checked_homography(homography)
    h = h / np.linalg.norm(h)
    if floor_pixels is not None and len(floor_pixels):
        _mapped, w = apply_homography(h, floor_pixels)
        total = float(np.sum(w))
        if math.isfinite(total) and total != 0.0:
            return h if total > 0 else -h
    determinant = float(np.linalg.det(h))
    if determinant == 0.0 or not math.isfinite(determinant):
        raise ValueError("homography is singular (determinant 0): it cannot map pixels")
    return -h if determinant > 0 else h


def _normalise_sign(homography: np.ndarray, undistorted: np.ndarray) -> np.ndarray:
    """H in its normal form (``normalise_homography``), w > 0 at the given floor pixels."""
    scaled = normalise_homography(homography, undistorted)
    _mapped, w = apply_homography(scaled, undistorted)
    if not np.all(w > 0):
        raise FloorFitError(
            "the points lie on both sides of the horizon: check the pixel ↔ floor pairs"
        )
    return scaled


def _check_pairs(pixels_uv: np.ndarray, floor_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pixels = np.asarray(pixels_uv, dtype=np.float64).reshape(-1, 2)
    floor = np.asarray(floor_xy, dtype=np.float64).reshape(-1, 2)
    if len(pixels) != len(floor):
        raise FloorFitError(f"{len(pixels)} pixels but {len(floor)} floor points")
    if len(pixels) < 4:
        raise FloorFitError(f"need >= 4 image ↔ floor points, got {len(pixels)}")
    if not (np.all(np.isfinite(pixels)) and np.all(np.isfinite(floor))):
        raise FloorFitError("a point is not a finite number")
    for name, points in (("image", pixels), ("floor", floor)):
        centred = points - points.mean(axis=0)
        singular = np.linalg.svd(centred, compute_uv=False)
        if singular[1] <= 1e-6 * max(singular[0], 1e-12):
            raise FloorFitError(f"the {name} points are (nearly) collinear: spread them out")
    return pixels, floor


def _homography(undistorted: np.ndarray, floor: np.ndarray) -> np.ndarray:
    homography, _mask = cv2.findHomography(undistorted, floor, 0)
    if homography is None or not np.all(np.isfinite(homography)):
        raise FloorFitError("no homography fits these points (degenerate configuration)")
    return _normalise_sign(homography, undistorted)


def _errors(homography: np.ndarray, undistorted: np.ndarray, floor: np.ndarray) -> np.ndarray:
    mapped, _w = apply_homography(homography, undistorted)
    return np.linalg.norm(mapped - floor, axis=1)


def _leave_one_out(undistorted: np.ndarray, floor: np.ndarray) -> float | None:
    if len(floor) < 5:
        return None
    squared = []
    for left_out in range(len(floor)):
        keep = np.arange(len(floor)) != left_out
        try:
            homography = _homography(undistorted[keep], floor[keep])
        except FloorFitError:
            return None
        error = _errors(homography, undistorted[left_out : left_out + 1], floor[[left_out]])
        squared.append(float(error[0]) ** 2)
    return float(np.sqrt(np.mean(squared)))


def pose_from_rt(rotation: np.ndarray, tvec: np.ndarray, source: str) -> CameraPose:
    """A CameraPose from a floor → camera rotation matrix and translation (metres)."""
    rvec, _ = cv2.Rodrigues(np.asarray(rotation, dtype=np.float64))
    tvec = np.asarray(tvec, dtype=np.float64).reshape(3)
    centre = -np.asarray(rotation).T @ tvec
    return CameraPose(
        rvec=rvec.ravel().tolist(),
        tvec=tvec.tolist(),
        source=source,  # type: ignore[arg-type]
        camera_height_m=float(centre[2]),
    )


def pose_from_homography(
    homography: np.ndarray, camera_matrix: np.ndarray, floor_pixels: np.ndarray | None = None
) -> CameraPose | None:
    """Decompose a floor homography with known K into the floor → camera pose.

    H is first brought to its normal form (``normalise_homography`` with ``floor_pixels``,
    undistorted pixels on the floor side: w > 0 on the floor), so H, -H and c·H give the
    same pose. With ``G = H^-1`` (floor → undistorted pixels) ``G ~ K [r1 r2 t]``:
    ``M = K^-1 G``, ``λ = 2 / (|m1| + |m2|)`` (positive: w > 0 on the floor, so z_cam > 0),
    ``r1 = λ m1``, ``r2 = λ m2``, ``r3 = r1 × r2``, ``t = λ m3``; R is re-orthonormalised
    with an SVD (nearest rotation).

    Returns None when the result puts the camera at or below the floor: the floor frame is
    mirrored (x, y, z up not right-handed) or the floor side given by ``floor_pixels`` sees
    no floor. Without ``floor_pixels`` the side comes from the handedness rule, which makes
    the camera come out above the floor, so a mirrored frame cannot be detected then.
    """
    h = normalise_homography(homography, floor_pixels)
    m = np.linalg.inv(np.asarray(camera_matrix, dtype=np.float64)) @ np.linalg.inv(h)
    pose = _pose_of(m)
    return pose if pose is not None and pose.camera_height_m > 0 else None


def _pose_of(m: np.ndarray) -> CameraPose | None:
    """The pose of ``M = K^-1 H^-1`` with a positive λ, or None if R has det -1."""
    scale = 2.0 / (np.linalg.norm(m[:, 0]) + np.linalg.norm(m[:, 1]))
    r1, r2, t = scale * m[:, 0], scale * m[:, 1], scale * m[:, 2]
    approx = np.column_stack([r1, r2, np.cross(r1, r2)])
    u, _s, vt = np.linalg.svd(approx)
    rotation = u @ vt
    if np.linalg.det(rotation) < 0:
        return None
    return pose_from_rt(rotation, t, "homography")


def homography_from_pose(pose: CameraPose, camera_matrix: np.ndarray) -> np.ndarray:
    """Undistorted pixels → floor homography of a pose: ``(K [r1 r2 t])^-1``.

    Frobenius norm 1 and w > 0 on the floor (w = 1 / z_cam times a positive factor).
    """
    rotation, _ = cv2.Rodrigues(np.asarray(pose.rvec, dtype=np.float64))
    forward = np.asarray(camera_matrix, float) @ np.column_stack(
        [rotation[:, 0], rotation[:, 1], np.asarray(pose.tvec, float)]
    )
    homography = np.linalg.inv(forward)
    return homography / np.linalg.norm(homography)


def fit_floor_from_points(
    pixels_uv: np.ndarray,
    floor_xy: np.ndarray,
    camera_matrix: np.ndarray | None = None,
    dist_coeffs: np.ndarray | None = None,
) -> FloorFit:
    """Floor homography from >= 4 raw pixel (N, 2) ↔ floor (N, 2, metres) pairs.

    Raises:
        FloorFitError: fewer than 4 pairs, non-finite or collinear points, points on both
            sides of the horizon.
    """
    pixels, floor = _check_pairs(pixels_uv, floor_xy)
    undistorted = undistort_pixels(pixels, camera_matrix, dist_coeffs)
    homography = _homography(undistorted, floor)
    pose = (
        None
        if camera_matrix is None
        else pose_from_homography(homography, camera_matrix, undistorted)
    )
    return FloorFit(
        homography=homography,
        errors_m=_errors(homography, undistorted, floor),
        loo_rms_m=_leave_one_out(undistorted, floor),
        pose=pose,
    )


def fit_floor_from_target(
    pixels_uv: np.ndarray,
    floor_xy: np.ndarray,
    camera_matrix: np.ndarray,
    dist_coeffs: np.ndarray,
) -> FloorFit:
    """Pose and floor homography from a floor target's raw pixels (N, 2) ↔ floor (N, 2) m.

    ``cv2.solvePnP`` (SOLVEPNP_IPPE for coplanar points, then Levenberg-Marquardt
    refinement) with the floor points at z = 0; the homography follows from the pose.

    Raises:
        FloorFitError: fewer than 4 points, degenerate points, or the pose fit failed or puts
            the camera below the floor.
    """
    pixels, floor = _check_pairs(pixels_uv, floor_xy)
    object_points = np.c_[floor, np.zeros(len(floor))]
    ok, rvec, tvec = cv2.solvePnP(
        object_points, pixels, camera_matrix, dist_coeffs, flags=cv2.SOLVEPNP_IPPE
    )
    if not ok:
        raise FloorFitError("solvePnP found no camera pose for the floor target")
    rvec, tvec = cv2.solvePnPRefineLM(object_points, pixels, camera_matrix, dist_coeffs, rvec, tvec)
    rotation, _ = cv2.Rodrigues(rvec)
    pose = pose_from_rt(rotation, tvec, "solvepnp")
    if pose.camera_height_m <= 0:
        raise FloorFitError(
            "the fitted camera lies below the floor: the floor frame is mirrored (x, y, z up "
            "must be right-handed) or the target placement is wrong"
        )
    projected, _ = cv2.projectPoints(object_points, rvec, tvec, camera_matrix, dist_coeffs)
    reprojection = float(np.sqrt(np.mean(np.sum((projected.reshape(-1, 2) - pixels) ** 2, 1))))
    homography = homography_from_pose(pose, camera_matrix)
    undistorted = undistort_pixels(pixels, camera_matrix, dist_coeffs)
    return FloorFit(
        homography=homography,
        errors_m=_errors(homography, undistorted, floor),
        loo_rms_m=None,
        pose=pose,
        reprojection_px=reprojection,
    )
