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
against its known floor point. The homography is scaled so that ``w > 0`` on the floor side
of the horizon.
"""

from __future__ import annotations

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
        homography: (3, 3) undistorted pixels → floor metres, w > 0 on the floor.
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


def _normalise_sign(homography: np.ndarray, undistorted: np.ndarray) -> np.ndarray:
    """Scale H so its largest entry is ~1 and w > 0 at the given floor pixels."""
    scaled = homography / np.max(np.abs(homography))
    _mapped, w = apply_homography(scaled, undistorted)
    if np.all(w < 0):
        return -scaled
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


def pose_from_homography(homography: np.ndarray, camera_matrix: np.ndarray) -> CameraPose | None:
    """Decompose a floor homography with known K into the floor → camera pose.

    With ``G = H^-1`` (floor → undistorted pixels) ``G ~ K [r1 r2 t]``: ``M = K^-1 G``,
    ``λ = 2 / (|m1| + |m2|)`` (positive: H has w > 0 on the floor, so G has z_cam > 0),
    ``r1 = λ m1``, ``r2 = λ m2``, ``r3 = r1 × r2``, ``t = λ m3``; R is re-orthonormalised
    with an SVD (nearest rotation). Returns None when the result puts the camera below the
    floor: a mirrored floor frame (x, y, z up not right-handed) or H with w < 0 on the floor.
    """
    inverse = np.linalg.inv(np.asarray(homography, dtype=np.float64))
    m = np.linalg.inv(np.asarray(camera_matrix, dtype=np.float64)) @ inverse
    scale = 2.0 / (np.linalg.norm(m[:, 0]) + np.linalg.norm(m[:, 1]))
    r1, r2, t = scale * m[:, 0], scale * m[:, 1], scale * m[:, 2]
    approx = np.column_stack([r1, r2, np.cross(r1, r2)])
    u, _s, vt = np.linalg.svd(approx)
    rotation = u @ vt
    if np.linalg.det(rotation) < 0:
        return None
    pose = pose_from_rt(rotation, t, "homography")
    return pose if pose.camera_height_m > 0 else None


def homography_from_pose(pose: CameraPose, camera_matrix: np.ndarray) -> np.ndarray:
    """Undistorted pixels → floor homography of a pose: ``(K [r1 r2 t])^-1``, w > 0 on floor."""
    rotation, _ = cv2.Rodrigues(np.asarray(pose.rvec, dtype=np.float64))
    forward = np.asarray(camera_matrix, float) @ np.column_stack(
        [rotation[:, 0], rotation[:, 1], np.asarray(pose.tvec, float)]
    )
    homography = np.linalg.inv(forward)
    return homography / np.max(np.abs(homography))


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
    pose = None if camera_matrix is None else pose_from_homography(homography, camera_matrix)
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
