"""Virtual cameras for tests: look-at poses and OpenCV FileStorage files of them.

Floor frame: metres, z up. Pose: floor → OpenCV camera (x right, y down, z forward),
``X_cam = R · X_floor + t``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from safetymon.perception.calibration.opencv_import import write_filestorage
from safetymon.perception.calibration.tsai import load_tsai
from tests.conftest import SHARED_DATA

PETS_TSAI = SHARED_DATA / "calibration" / "pets09" / "View_001.xml"
PETS_GT = SHARED_DATA / "mot15" / "PETS09-S2L1" / "gt" / "gt.txt"


def look_at(centre: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R, t) of a level camera (no roll) at floor point ``centre`` looking at ``target``."""
    centre, target = np.asarray(centre, float), np.asarray(target, float)
    forward = (target - centre) / np.linalg.norm(target - centre)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.vstack([right, down, forward])
    return rotation, -rotation @ centre


def camera_matrix(width: int, height: int, focal_px: float) -> np.ndarray:
    """A pinhole K with the principal point at the image centre."""
    return np.array([[focal_px, 0.0, width / 2.0], [0.0, focal_px, height / 2.0], [0, 0, 1.0]])


def intrinsics_values(
    k: np.ndarray, dist: np.ndarray, size: tuple[int, int]
) -> dict[str, float | int | np.ndarray]:
    """The keys OpenCV's calibration sample writes for the intrinsics."""
    return {
        "image_width": int(size[0]),
        "image_height": int(size[1]),
        "camera_matrix": np.asarray(k, float),
        "distortion_coefficients": np.asarray(dist, float).reshape(-1, 1),
        "avg_reprojection_error": 0.31,
    }


def pose_values(rotation: np.ndarray, tvec: np.ndarray, form: str) -> dict[str, np.ndarray]:
    """The pose as ``rvec``/``tvec`` (form "rvec") or ``R``/``T`` (form "R")."""
    if form == "rvec":
        rvec, _ = cv2.Rodrigues(np.asarray(rotation, float))
        return {"rvec": rvec.reshape(3, 1), "tvec": np.asarray(tvec, float).reshape(3, 1)}
    return {"R": np.asarray(rotation, float), "T": np.asarray(tvec, float).reshape(3, 1)}


def pets_view001_filestorage(folder: Path) -> tuple[Path, Path]:
    """PETS 2009 View_001 (Tsai XML) as two FileStorage files: intrinsics (XML) and the pose
    (YAML, ``R``/``T`` with T in millimetres as in the original file; import with
    ``--unit-scale 0.001``)."""
    tsai = load_tsai(PETS_TSAI)
    rotation, _ = cv2.Rodrigues(np.asarray(tsai.pose.rvec, float))
    tvec_mm = np.asarray(tsai.pose.tvec, float) * 1000.0
    intrinsics = write_filestorage(
        folder / "view001_intrinsics.xml",
        intrinsics_values(tsai.camera_matrix, tsai.dist_coeffs, tsai.image_size),
    )
    extrinsics = write_filestorage(
        folder / "view001_extrinsics.yml", pose_values(rotation, tvec_mm, "R")
    )
    return intrinsics, extrinsics


def pets_ground_truth() -> np.ndarray:
    """gt.txt rows (frame, id, left, top, width, height, conf, x_world, y_world, z_world)."""
    return np.loadtxt(PETS_GT, delimiter=",")
