"""Sites with a synthetic calibrated camera (known pose, lens distortion) for viz tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from safetymon.config.loader import parse_site_config
from safetymon.config.site import SiteConfig
from safetymon.perception.calibration.floor import fit_floor_from_points
from safetymon.perception.calibration.model import CameraCalibration, now_utc, save_calibration
from tests.perception.test_calibration_synthetic import (
    DIST_TRUE,
    K_TRUE,
    SyntheticCamera,
    cell_camera,
)

REPO = Path(__file__).resolve().parents[2]
PETS_FRAMES = REPO.parent / "shared" / "data" / "mot15" / "PETS09-S2L1" / "img1"


def write_calibration(path: Path, camera: SyntheticCamera) -> None:
    """A calibration file (intrinsics, floor homography, pose) of a synthetic camera."""
    floor = np.array([[0, 1], [2, 1], [2, 3.5], [0, 3.5], [1, 2], [0.5, 3]], float)
    fit = fit_floor_from_points(camera.project(np.c_[floor, np.zeros(6)]), floor, K_TRUE, DIST_TRUE)
    calibration = CameraCalibration(
        camera="cam1",
        created=now_utc(),
        method="chessboard+points",
        image_size=camera.size,
        camera_matrix=K_TRUE.tolist(),
        dist_coeffs=DIST_TRUE.tolist(),
        rms=0.2,
        floor_method="points",
        floor_homography=fit.homography.tolist(),
        floor_error_m=0.001,
        pose=fit.pose,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    save_calibration(calibration, path)


def calibrated_site(tmp_path: Path, robots: list[dict] | None = None) -> SiteConfig:
    """A site whose camera cam1 is ``cell_camera()`` (2.5 m up at (1, -0.5)) with zones."""
    write_calibration(tmp_path / "calibration" / "cam1.yaml", cell_camera())
    data = {
        "site": "synthetic",
        "cameras": [{"id": "cam1", "source": 0, "calibration": "calibration/cam1.yaml"}],
        "robots": robots or [],
        "zones": [
            {
                "id": "near",
                "type": "protective",
                "polygon": [[0.2, 1.2], [1.8, 1.2], [1.8, 2.4], [0.2, 2.4]],
            },
            {
                "id": "far",
                "type": "warning",
                "polygon": [[-1.0, 0.5], [3.0, 0.5], [3.0, 40.0], [-1.0, 40.0]],
            },
        ],
    }
    return parse_site_config(data, str(tmp_path / "site.yaml"))
