"""Intrinsics from OpenCV's real chessboard and ChArUco photos, compared with published results."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from safetymon.perception.calibration.aruco import detect_markers
from safetymon.perception.calibration.intrinsics import CalibrationError, calibrate_intrinsics
from safetymon.perception.calibration.model import CharucoTarget, ChessboardTarget
from safetymon.perception.calibration.views import ImageReadError
from tests.conftest import SHARED_DATA

CHESS = SHARED_DATA / "calibration" / "chessboard"
CHARUCO = SHARED_DATA / "calibration" / "charuco"
EXPECTED = json.loads((CHESS / "EXPECTED_calibration.json").read_text())
EXPECTED_CHARUCO = json.loads((CHARUCO / "EXPECTED_charuco_calibration.json").read_text())
BOARD = CharucoTarget(
    squares_x=5, squares_y=7, square_size_m=0.04, marker_size_m=0.02, dictionary="DICT_6X6_250"
)


def chessboard_images() -> list[Path]:
    return [CHESS / name for name in EXPECTED["procedure"]["images"]]


def test_chessboard_reproduces_opencv_published_result() -> None:
    procedure, expected = EXPECTED["procedure"], EXPECTED["expected"]
    cols, rows = procedure["pattern_size_inner_corners"]
    target = ChessboardTarget(cols=cols, rows=rows, square_size_m=procedure["square_size"])
    result = calibrate_intrinsics(
        chessboard_images(), target, flags=procedure["calibrateCamera_flags"]
    )
    tolerance = EXPECTED["tolerances_used_by_opencv_test"]
    assert result.image_size == tuple(procedure["image_size"])
    assert abs(result.rms - expected["rms"]) < tolerance["abs_rms"]
    k = np.asarray(result.camera_matrix)
    assert (
        np.abs(k - np.asarray(expected["camera_matrix"])).sum() < tolerance["L1_norm_camera_matrix"]
    )
    dist = np.asarray(result.dist_coeffs)
    l1_dist = np.abs(dist - np.asarray(expected["dist_coeffs_k1_k2_p1_p2_k3"])).sum()
    assert l1_dist < tolerance["L1_norm_dist_coeffs"]
    assert all(view.used for view in result.per_image)
    errors = np.array([view.reprojection_error_px for view in result.per_image])
    # the per-view RMS errors combine to the overall RMS (same number of corners per view)
    assert np.sqrt(np.mean(errors**2)) == pytest.approx(result.rms, rel=1e-6)
    assert all(len(view.sha256) == 64 and view.corners == 54 for view in result.per_image)


def test_blurry_and_partial_views_are_rejected_with_reasons(tmp_path: Path) -> None:
    images = chessboard_images()
    blurred = tmp_path / "blurred.png"
    gray = cv2.imread(str(images[0]), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(blurred), cv2.GaussianBlur(gray, (0, 0), 2.5))
    partial = tmp_path / "partial.png"
    cut = gray.copy()
    cut[:, 320:] = 255  # the board's right half is gone: a partial view
    cv2.imwrite(str(partial), cut)
    target = ChessboardTarget(cols=9, rows=6, square_size_m=0.025)
    result = calibrate_intrinsics([*images, blurred, partial], target)
    views = {Path(view.file).name: view for view in result.per_image}
    assert not views["blurred.png"].used
    assert views["blurred.png"].reason.startswith("blurry: sharpness")
    assert views["blurred.png"].sharpness < 100.0
    assert views["blurred.png"].corners == 54  # found, but too soft to trust
    assert not views["partial.png"].used and "partial" in views["partial.png"].reason
    assert sum(view.used for view in result.per_image) == len(images)
    assert result.rms == pytest.approx(EXPECTED["expected"]["rms"], abs=0.01)
    # with the threshold lowered the blurred view is used
    lenient = calibrate_intrinsics([*images, blurred], target, min_sharpness=1.0)
    assert all(view.used for view in lenient.per_image)


def test_too_few_views_refuse(tmp_path: Path) -> None:
    target = ChessboardTarget(cols=9, rows=6, square_size_m=0.025)
    with pytest.raises(CalibrationError, match="only 2 usable view"):
        calibrate_intrinsics(chessboard_images()[:2], target)
    wrong = ChessboardTarget(cols=7, rows=5, square_size_m=0.025)  # not the printed board
    with pytest.raises(CalibrationError) as caught:
        calibrate_intrinsics(chessboard_images()[:4], wrong)
    assert all(not view.used for view in caught.value.views)


def test_tight_rms_limit_refuses() -> None:
    target = ChessboardTarget(cols=9, rows=6, square_size_m=0.025)
    with pytest.raises(CalibrationError, match=r"exceeds 0\.1 px"):
        calibrate_intrinsics(chessboard_images(), target, max_rms_px=0.1)


def test_unreadable_or_mismatched_images_raise(tmp_path: Path) -> None:
    target = ChessboardTarget(cols=9, rows=6, square_size_m=0.025)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    with pytest.raises(ImageReadError, match=r"broken\.jpg: not a readable image"):
        calibrate_intrinsics([broken], target)
    with pytest.raises(ImageReadError, match="no such image file"):
        calibrate_intrinsics([tmp_path / "missing.jpg"], target)
    big = tmp_path / "big.png"
    gray = cv2.imread(str(chessboard_images()[0]), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(big), cv2.resize(gray, (800, 600)))
    with pytest.raises(ValueError, match="differs from the first image"):
        calibrate_intrinsics([chessboard_images()[0], big], target)


def test_charuco_tutorial_photos() -> None:
    images = [CHARUCO / name for name in EXPECTED_CHARUCO["images"]]
    result = calibrate_intrinsics(images, BOARD)
    assert [view.corners for view in result.per_image] == [24, 24, 24, 24]
    assert result.image_size == tuple(EXPECTED_CHARUCO["image_size"])
    # The file says 4 views are poorly conditioned: rms < 0.3 px and all corners is the
    # achievable check; published fx differs by ~6 %, cy by ~21 px from what OpenCV 4.x gives.
    assert result.rms < 0.3
    published = EXPECTED_CHARUCO["published"]
    k = np.asarray(result.camera_matrix)
    assert k[0, 0] == pytest.approx(published["fx"], rel=0.1)
    assert k[1, 1] == pytest.approx(published["fy"], rel=0.1)
    assert k[0, 2] == pytest.approx(published["cx"], abs=30)
    assert k[1, 2] == pytest.approx(published["cy"], abs=30)
    assert result.target == BOARD


def test_charuco_partial_view_rule(tmp_path: Path) -> None:
    gray = cv2.imread(str(CHARUCO / "img_00.jpg"), cv2.IMREAD_GRAYSCALE)
    corners = [CHARUCO / f"img_0{i}.jpg" for i in range(4)]
    half = tmp_path / "half.png"
    cut = gray.copy()
    cut[:, 330:] = 255
    cv2.imwrite(str(half), cut)
    strict = calibrate_intrinsics([*corners, half], BOARD, min_corner_fraction=1.0)
    view = strict.per_image[-1]
    assert not view.used and view.reason.startswith("partial view") and 0 < view.corners < 24
    lenient = calibrate_intrinsics([*corners, half], BOARD, min_corner_fraction=0.2)
    assert lenient.per_image[-1].used


def test_aruco_detection_matches_opencv_gold_corners() -> None:
    gold = json.loads((CHARUCO / "EXPECTED_aruco_gold_corners.json").read_text())
    entry = gold["images"]["singlemarkersoriginal.jpg"]
    gray = cv2.imread(str(CHARUCO / "singlemarkersoriginal.jpg"), cv2.IMREAD_GRAYSCALE)
    found = detect_markers(gray, entry["dictionary"])
    assert set(found) == {int(key) for key in entry["markers"]}
    for key, corners in entry["markers"].items():  # ours are sub-pixel refined: +0.5 px
        assert np.abs(found[int(key)] - np.asarray(corners)).max() <= entry["tolerance_px"] + 0.5
