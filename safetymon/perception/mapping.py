"""Pixel → floor mapping of one camera: lens undistortion, floor homography, camera pose.

Frames: raw image pixels (u right, v down) → undistorted pixels (same camera matrix K, lens
distortion removed) → floor metres (x, y; z up) through the floor homography ``H``.

Any scale and sign of ``H`` is accepted (``H``, ``-H`` and ``3.7 H`` are one mapping): the
mapper brings it to one form once, at construction (``normalise_homography``: Frobenius norm
1, ``w > 0`` on the side of the horizon ``w = 0`` that sees the floor). With an image size
that side is the one holding the image's bottom row; without one, the side on which a
right-handed floor frame (x, y, z up) comes out for a camera above the floor (``det H < 0``).
Pixels on the other side (at or above the horizon, ``w <= 0`` after normalising) map to NaN:
they have no floor point, and a caller must not place a person there. Whether the mapping is
usable at all (sees floor, not degenerate, not mirrored) is ``floor_footprint``'s job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from safetymon.config.cameras import CameraConfig
from safetymon.config.loader import ConfigError, ConfigIssue
from safetymon.perception.calibration.floor import (
    apply_homography,
    normalise_homography,
    pose_from_homography,
    reciprocal_condition,
    undistort_pixels,
)
from safetymon.perception.calibration.model import CameraPose, load_camera_calibration

LEFT_ANKLE, RIGHT_ANKLE = 15, 16  # COCO keypoint indices
W_EPSILON = 1e-12
MIN_RECIPROCAL_CONDITION = 1e-12
"""Below this ``reciprocal_condition`` a homography is singular in double precision."""
FLOOR_SIDE_SAMPLES = 65
"""Points of the image's bottom row whose summed w decides the floor side."""


@dataclass(frozen=True)
class FootprintParams:
    """How a detection box becomes a floor disc.

    Attributes:
        foot_sigma_px: minimum 1-sigma pixel uncertainty of the foot point (pixels).
        foot_sigma_fraction: pixel uncertainty as a fraction of the box height (a taller box
            is a closer person whose feet are also less precisely boxed), used when larger.
        min_radius_m, max_radius_m: clamp of the person radius (metres).
        keypoint_confidence: ankle keypoints below this confidence are ignored.
    """

    foot_sigma_px: float = 3.0
    foot_sigma_fraction: float = 0.02
    min_radius_m: float = 0.15
    max_radius_m: float = 0.6
    keypoint_confidence: float = 0.3


class FloorMapper:
    """Maps image pixels of one camera to the floor and back.

    Args:
        homography: (3, 3) undistorted pixels → floor metres, any non-zero scale and sign;
            stored normalised (``self.homography``: norm 1, w > 0 on the floor side, see the
            module docstring).
        camera_matrix: (3, 3) K in pixels, or None (no lens model: pixels used as given).
        dist_coeffs: OpenCV distortion coefficients (with camera_matrix), or None.
        floor_error_m: 1-sigma floor error of the calibration itself (metres).
        pose: floor → camera pose (enables ``project_points``), or None.
        image_size: (width, height) pixels the calibration was made at, or None.
        params: footprint parameters.
    """

    def __init__(
        self,
        homography: np.ndarray,
        camera_matrix: np.ndarray | None = None,
        dist_coeffs: np.ndarray | None = None,
        *,
        floor_error_m: float = 0.0,
        pose: CameraPose | None = None,
        image_size: tuple[int, int] | None = None,
        params: FootprintParams | None = None,
    ) -> None:
        h = np.asarray(homography, dtype=np.float64)
        if h.shape != (3, 3) or not np.all(np.isfinite(h)) or not np.any(h):
            raise ValueError(f"homography must be a finite non-zero 3x3 matrix, got {h!r}")
        if reciprocal_condition(h, image_size) < MIN_RECIPROCAL_CONDITION:
            raise ValueError(f"homography is singular (rank < 3), got {h!r}")
        if image_size is not None and (image_size[0] < 2 or image_size[1] < 2):
            raise ValueError(f"image size must be at least 2x2 pixels, got {image_size}")
        if (camera_matrix is None) != (dist_coeffs is None):
            raise ValueError("camera_matrix and dist_coeffs go together")
        if pose is not None and camera_matrix is None:
            raise ValueError("a pose needs camera_matrix")
        if not (np.isfinite(floor_error_m) and floor_error_m >= 0):
            raise ValueError(f"floor_error_m must be finite and >= 0, got {floor_error_m}")
        self.camera_matrix = None if camera_matrix is None else np.asarray(camera_matrix, float)
        self.dist_coeffs = None if dist_coeffs is None else np.asarray(dist_coeffs, float)
        self.floor_side_rule = "image" if image_size is not None else "handedness"
        """How the floor side was chosen: "image" (bottom row) or "handedness" (det H < 0)."""
        floor_pixels = None if image_size is None else self.undistort(bottom_row(image_size))
        self.homography = normalise_homography(h, floor_pixels)
        self.inverse = np.linalg.inv(self.homography)
        self.floor_error_m = float(floor_error_m)
        self.pose = pose
        self.image_size = image_size
        self.params = params or FootprintParams()

    @classmethod
    def from_camera_config(
        cls,
        camera: CameraConfig,
        base_dir: Path,
        params: FootprintParams | None = None,
        *,
        site_file: str | None = None,
    ) -> FloorMapper:
        """The mapper of a site file's camera, refused when it cannot place anyone.

        ``camera.calibration`` (relative paths resolve against ``base_dir``, the site file's
        folder) supplies intrinsics, pose, floor error and possibly the homography;
        ``camera.floor_homography`` may supply the homography instead (not both).
        ``site_file`` names the site file in messages (default ``base_dir/<site file>``).

        Raises:
            ConfigError: the calibration file is missing or invalid, no / two floor
                homographies are given, or the mapping is unusable
                (``floor_footprint.refusals``: singular, ill-conditioned, no floor in view,
                mirrored floor frame); the issue names the file and field.
        """
        site = site_file or str(Path(base_dir) / "<site file>")
        if camera.calibration is None:
            assert camera.floor_homography is not None  # CameraConfig guarantees one of them
            return _checked(
                lambda: cls(
                    np.asarray(camera.floor_homography), image_size=camera.image_size,
                    params=params,
                ),
                camera, site, f"cameras[{camera.id}].floor_homography", camera.floor_homography,
            )  # fmt: skip
        return cls._from_calibration(camera, base_dir, params, site)

    @classmethod
    def _from_calibration(
        cls, camera: CameraConfig, base_dir: Path, params: FootprintParams | None, site: str
    ) -> FloorMapper:
        """``from_camera_config`` for a camera with a calibration file."""
        field = f"cameras[{camera.id}]"
        site_size = camera.image_size
        path = Path(camera.calibration)
        if not path.is_absolute():
            path = Path(base_dir) / path
        calibration = load_camera_calibration(path, camera.id)
        if camera.floor_homography is not None and calibration.floor_homography is not None:
            raise ConfigError(
                [
                    ConfigIssue(
                        str(path), "floor_homography",
                        f"{field} gives floor_homography and its calibration file has one "
                        "too: keep one of them",
                    )
                ]
            )  # fmt: skip
        k, dist = calibration.k(), calibration.dist()
        if camera.floor_homography is not None:
            homography = np.asarray(camera.floor_homography, dtype=np.float64)
            size = calibration.image_size or site_size
            floor_pixels = None if size is None else undistort_pixels(bottom_row(size), k, dist)
            pose = None if k is None else pose_from_homography(homography, k, floor_pixels)
            origin, origin_field = site, f"{field}.floor_homography"
        elif calibration.floor_homography is not None:
            homography = np.asarray(calibration.floor_homography, dtype=np.float64)
            pose = calibration.pose
            origin, origin_field = str(path), "floor_homography"
        else:
            raise ConfigError(
                [
                    ConfigIssue(
                        str(path), "floor_homography",
                        f"missing: run `safetymon calibrate floor` for {field} or give "
                        "floor_homography in the site file",
                    )
                ]
            )  # fmt: skip
        calibrated_size = calibration.image_size
        if site_size is not None and calibrated_size is not None and site_size != calibrated_size:
            raise ConfigError(
                [
                    ConfigIssue(
                        str(path), "image_size",
                        f"{field}.image_size is {list(site_size)} but the calibration was made "
                        f"at {list(calibrated_size)}: give the size the calibration was made at "
                        "or recalibrate", list(calibrated_size), True,
                    )
                ]
            )  # fmt: skip
        floor_error = max(calibration.floor_error_m or 0.0, calibration.floor_loo_error_m or 0.0)
        return _checked(
            lambda: cls(
                homography, k, dist, floor_error_m=floor_error, pose=pose,
                image_size=calibrated_size or site_size, params=params,
            ),
            camera, origin, origin_field, homography.tolist(),
        )  # fmt: skip

    def frame_size_problem(self, width: int, height: int) -> str | None:
        """Why a frame of ``width`` x ``height`` pixels cannot be mapped, or None.

        The homography (and intrinsics) hold only for the image size they were fitted at: a
        frame of another size would put every pixel at a wrong floor position. Without a
        known ``image_size`` nothing can be checked (None).
        """
        if self.image_size is None or tuple(self.image_size) == (width, height):
            return None
        return (
            f"frame is {width}x{height} pixels but the floor mapping was calibrated at "
            f"{self.image_size[0]}x{self.image_size[1]} (image_size)"
        )

    # --- pixels ↔ floor -------------------------------------------------------------------

    def undistort(self, points_uv: np.ndarray) -> np.ndarray:
        """Raw pixels (N, 2) → undistorted pixels (N, 2); non-finite input stays NaN."""
        points = np.asarray(points_uv, dtype=np.float64).reshape(-1, 2)
        result = np.full_like(points, np.nan)
        finite = np.all(np.isfinite(points), axis=1)
        result[finite] = undistort_pixels(points[finite], self.camera_matrix, self.dist_coeffs)
        return result

    def distort(self, undistorted_uv: np.ndarray) -> np.ndarray:
        """Undistorted pixels (N, 2) → raw pixels (N, 2) through the lens model."""
        points = np.asarray(undistorted_uv, dtype=np.float64).reshape(-1, 2)
        if self.camera_matrix is None or len(points) == 0:
            return points.copy()
        result = np.full_like(points, np.nan)
        finite = np.all(np.isfinite(points), axis=1)
        normalised = (
            np.c_[points[finite], np.ones(int(finite.sum()))] @ np.linalg.inv(self.camera_matrix).T
        )
        if len(normalised):
            projected, _ = cv2.projectPoints(
                normalised, np.zeros(3), np.zeros(3), self.camera_matrix, self.dist_coeffs
            )
            result[finite] = projected.reshape(-1, 2)
        return result

    def image_to_floor(self, points_uv: np.ndarray) -> np.ndarray:
        """Raw pixels (N, 2) → floor (N, 2) metres; NaN at/above the horizon (w <= 0)."""
        mapped, w = apply_homography(self.homography, self.undistort(points_uv))
        mapped[~(w > W_EPSILON)] = np.nan
        return mapped

    def floor_to_image(self, floor_xy: np.ndarray) -> np.ndarray:
        """Floor (N, 2) metres (z = 0) → raw pixels (N, 2); NaN behind the camera (w <= 0)."""
        mapped, w = apply_homography(self.inverse, floor_xy)
        mapped[~(w > W_EPSILON)] = np.nan
        return self.distort(mapped)

    def project_points(self, points_xyz: np.ndarray) -> np.ndarray:
        """Floor-frame 3-D points (N, 3) metres → raw pixels (N, 2), lens distortion applied.

        Points at or behind the camera plane (z_cam <= 0) give NaN.

        Raises:
            RuntimeError: the camera pose is unknown (no intrinsics, or no floor target /
                homography to derive it from).
        """
        if self.pose is None or self.camera_matrix is None:
            raise RuntimeError(
                "camera pose unknown: calibrate intrinsics and the floor (ArUco/ChArUco target "
                "or points with --intrinsics) to project 3-D points"
            )
        points = np.asarray(points_xyz, dtype=np.float64).reshape(-1, 3)
        rvec = np.asarray(self.pose.rvec, dtype=np.float64)
        tvec = np.asarray(self.pose.tvec, dtype=np.float64)
        rotation, _ = cv2.Rodrigues(rvec)
        depth = points @ rotation[2] + tvec[2]
        result = np.full((len(points), 2), np.nan)
        front = (depth > W_EPSILON) & np.all(np.isfinite(points), axis=1)
        if np.any(front):
            projected, _ = cv2.projectPoints(
                points[front], rvec, tvec, self.camera_matrix, self.dist_coeffs
            )
            result[front] = projected.reshape(-1, 2)
        return result

    def jacobian(self, points_uv: np.ndarray, step_px: float = 0.5) -> np.ndarray:
        """d(floor x, y)/d(raw u, v) at each pixel (N, 2, 2), metres per pixel.

        Central differences of ``image_to_floor`` (so lens distortion is included).
        """
        points = np.asarray(points_uv, dtype=np.float64).reshape(-1, 2)
        jac = np.empty((len(points), 2, 2))
        for axis in range(2):
            offset = np.zeros(2)
            offset[axis] = step_px
            plus = self.image_to_floor(points + offset)
            minus = self.image_to_floor(points - offset)
            jac[:, :, axis] = (plus - minus) / (2 * step_px)
        return jac

    # --- detections -----------------------------------------------------------------------

    def foot_points(
        self, boxes_ltwh: np.ndarray, keypoints: np.ndarray | None = None
    ) -> np.ndarray:
        """Foot pixel (N, 2) of each box (left, top, width, height in pixels).

        Bottom-centre ``(l + w/2, t + h)``, or the mean of the ankle keypoints (COCO 15, 16,
        rows ``(u, v[, confidence])``) whose confidence reaches
        ``params.keypoint_confidence`` when ``keypoints`` (N, K, 2|3) is given. Ankles sit
        ~0.1 m above the floor, so on an oblique camera they map slightly beyond the feet.
        """
        boxes = np.asarray(boxes_ltwh, dtype=np.float64).reshape(-1, 4)
        feet = np.c_[boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3]]
        if keypoints is None:
            return feet
        points = np.asarray(keypoints, dtype=np.float64)
        if points.ndim != 3 or points.shape[0] != len(boxes) or points.shape[1] <= RIGHT_ANKLE:
            raise ValueError(
                f"keypoints must have shape (N, 17, 2|3) for {len(boxes)} boxes, got {points.shape}"
            )
        ankles = points[:, [LEFT_ANKLE, RIGHT_ANKLE], :2]
        valid = np.all(np.isfinite(ankles), axis=2)
        if points.shape[2] >= 3:
            valid &= points[:, [LEFT_ANKLE, RIGHT_ANKLE], 2] >= self.params.keypoint_confidence
        count = valid.sum(axis=1)
        has = count > 0
        sums = np.where(valid[:, :, None], ankles, 0.0).sum(axis=1)
        feet[has] = sums[has] / count[has, None]
        return feet

    def footprints(
        self,
        boxes_ltwh: np.ndarray,
        keypoints: np.ndarray | None = None,
        foot_sigma_px: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Floor discs of N detections: (xy (N, 2) m, uncertainty (N,) m, radius (N,) m).

        ``foot_sigma_px`` (N,) is each detection's measured 1-sigma foot-point error in
        pixels (``Detection.foot_sigma_px``), NaN where the detector gives none.

        Formulas (per detection, box height h pixels, foot pixel f):

        - pixel sigma ``s = max(params.foot_sigma_px, measured)``, where measured is the
          detection's own ``foot_sigma_px`` or, without one, ``foot_sigma_fraction * h``;
        - ``J = d(x, y)/d(u, v)`` at f (metres per pixel, lens distortion included);
          covariance ``C = s² J Jᵀ``; mapped sigma ``σ_px = sqrt(λ_max(C))`` (worst direction);
        - ``uncertainty = sqrt(floor_error_m² + σ_px²)`` (calibration error and box-bottom
          error are independent);
        - radius: half the floor distance between the box's bottom-left and bottom-right
          corners (at the foot row), clamped to [min_radius_m, max_radius_m].

        A foot at or above the horizon gives xy NaN, uncertainty inf and the maximum radius:
        the caller must treat it as a fault (it cannot be placed), never drop it silently.
        """
        boxes = np.asarray(boxes_ltwh, dtype=np.float64).reshape(-1, 4)
        feet = self.foot_points(boxes, keypoints)
        xy = self.image_to_floor(feet)
        measured = self.params.foot_sigma_fraction * boxes[:, 3]
        if foot_sigma_px is not None:
            given = np.asarray(foot_sigma_px, dtype=np.float64).reshape(-1)
            if given.shape != measured.shape:
                raise ValueError(
                    f"foot_sigma_px has {given.shape[0]} values for {measured.shape[0]} boxes"
                )
            measured = np.where(np.isnan(given), measured, given)
        sigma_px = np.maximum(self.params.foot_sigma_px, measured)
        jac = self.jacobian(feet)
        covariance = np.einsum("nij,nkj->nik", jac, jac) * (sigma_px**2)[:, None, None]
        a, b, c = covariance[:, 0, 0], covariance[:, 0, 1], covariance[:, 1, 1]
        worst = (a + c) / 2 + np.sqrt(((a - c) / 2) ** 2 + b**2)  # λ_max of a symmetric 2x2
        mapped_sigma = np.sqrt(worst)
        uncertainty = np.sqrt(self.floor_error_m**2 + mapped_sigma**2)
        left = np.c_[boxes[:, 0], feet[:, 1]]
        right = np.c_[boxes[:, 0] + boxes[:, 2], feet[:, 1]]
        width_m = np.linalg.norm(self.image_to_floor(right) - self.image_to_floor(left), axis=1)
        radius = np.clip(width_m / 2, self.params.min_radius_m, self.params.max_radius_m)
        bad = ~np.all(np.isfinite(xy), axis=1) | ~np.isfinite(uncertainty)
        xy[bad] = np.nan
        uncertainty[bad] = np.inf
        radius[bad | ~np.isfinite(radius)] = self.params.max_radius_m
        return xy, uncertainty, radius

    def footprint(
        self, box_ltwh: np.ndarray, keypoints: np.ndarray | None = None
    ) -> tuple[np.ndarray, float, float]:
        """One detection's floor disc: (xy (2,) metres, uncertainty m, radius m).

        ``keypoints`` is (K, 2|3) for this detection; see ``footprints`` for the formulas.
        """
        batch = None if keypoints is None else np.asarray(keypoints, float)[None]
        xy, uncertainty, radius = self.footprints(np.asarray(box_ltwh, float)[None], batch)
        return xy[0], float(uncertainty[0]), float(radius[0])


def bottom_row(image_size: tuple[int, int]) -> np.ndarray:
    """``FLOOR_SIDE_SAMPLES`` raw pixel centres (N, 2) along the image's bottom row."""
    width, height = image_size
    u = np.linspace(0.0, width - 1.0, FLOOR_SIDE_SAMPLES)
    return np.c_[u, np.full_like(u, height - 1.0)]


def _checked(
    build: Callable[[], FloorMapper], camera: CameraConfig, file: str, field: str, value: object
) -> FloorMapper:
    """Build a camera's mapper and refuse it (ConfigError naming file, field, value) if
    ``floor_footprint.refusals`` finds it unusable or the matrix is singular."""
    from safetymon.perception.floor_footprint import refusals  # here: import cycle

    try:
        mapper = build()
    except ValueError as error:
        raise ConfigError(
            [ConfigIssue(file, field, f"camera {camera.id}: {error}", value, True)]
        ) from None
    problems = refusals(mapper)
    if problems:
        raise ConfigError(
            [ConfigIssue(file, field, f"camera {camera.id}: {p}", value, True) for p in problems]
        )
    return mapper
