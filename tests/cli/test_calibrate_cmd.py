"""`safetymon calibrate intrinsics|floor|target` through main() and one real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from safetymon.cli.main import main
from safetymon.perception.calibration.aruco import detect_charuco, detect_markers
from safetymon.perception.calibration.intrinsics import find_chessboard
from safetymon.perception.calibration.model import (
    CameraCalibration,
    CharucoTarget,
    ChessboardTarget,
    load_calibration,
    now_utc,
    save_calibration,
)
from safetymon.perception.mapping import FloorMapper
from tests.conftest import REPO, SHARED_DATA
from tests.perception.test_calibration_floor import aruco_texture, render_charuco_floor
from tests.perception.test_calibration_synthetic import (
    DIST_TRUE,
    K_TRUE,
    cell_camera,
    square_texture_to_floor,
)

CHESS = SHARED_DATA / "calibration" / "chessboard"
EXPECTED = json.loads((CHESS / "EXPECTED_calibration.json").read_text())
IMAGES = [str(CHESS / name) for name in EXPECTED["procedure"]["images"]]


def test_intrinsics_writes_the_file_and_prints_per_image_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "calibration" / "cam1.yaml"
    code = main(["calibrate", "intrinsics", "--chessboard", "9x6", "--square-size", "1",
                 "--out", str(out), *IMAGES])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    calibration = load_calibration(out)
    assert calibration.camera == "cam1" and calibration.method == "chessboard"
    assert calibration.rms == pytest.approx(EXPECTED["expected"]["rms"], abs=0.01)
    assert "left01.jpg" in captured.out and " px" in captured.out
    assert captured.out.count(" used ") == 13
    assert "RMS 0.196" in captured.out and f"wrote {out}" in captured.out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["intrinsics", "--chessboard", "9y6", "--square-size", "0.02", "--out", "x", "a"],
         "argument --chessboard: expected COLSxROWS such as 9x6, got '9y6'"),
        (["intrinsics", "--chessboard", "9x6", "--square-size", "-1", "--out", "x", "a"],
         "argument --square-size: length must be > 0 metres, got '-1'"),
        (["intrinsics", "--chessboard", "9x6", "--square-size", "nan", "--out", "x", "a"],
         "argument --square-size: length must be finite"),
        (["floor", "--points", "1,2=3", "--out", "x"],
         "argument --points: expected U,V=X,Y"),
        (["floor", "--points", "1,2=3,four", "--out", "x"],
         "argument --points: expected U,V=X,Y (pixel column,row = floor x,y metres) (numbers)"),
        (["floor", "--aruco", "a.png", "--marker", "x=1,2", "--out", "x"],
         "argument --marker: expected ID=X,Y[,YAW_DEG]"),
        (["floor", "--aruco", "a.png", "--dictionary", "DICT_9", "--out", "x"],
         "argument --dictionary: unknown dictionary 'DICT_9'"),
    ],
)  # fmt: skip
def test_malformed_arguments_exit_2_naming_the_argument(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["calibrate", *argv])
    assert caught.value.code == 2
    assert needle in capsys.readouterr().err


def test_unusable_photos_exit_1_with_the_reasons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blurred = []
    for index, name in enumerate(IMAGES[:4]):
        gray = cv2.imread(name, cv2.IMREAD_GRAYSCALE)
        blurred.append(tmp_path / f"soft{index}.png")
        cv2.imwrite(str(blurred[-1]), cv2.GaussianBlur(gray, (0, 0), 2.5))
    out = tmp_path / "cam.yaml"
    code = main(["calibrate", "intrinsics", "--chessboard", "9x6", "--square-size", "0.025",
                 "--out", str(out), *map(str, blurred)])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1 and not out.exists()
    assert captured.out.count("rejected") == 4 and "blurry: sharpness" in captured.out
    assert "calibration failed: only 0 usable view(s) of 4" in captured.err
    missing = main(["calibrate", "intrinsics", "--chessboard", "9x6", "--square-size", "0.025",
                    "--out", str(out), str(tmp_path / "nope.jpg")])  # fmt: skip
    assert missing == 2 and "nope.jpg: no such image file" in capsys.readouterr().err


def write_intrinsics(path: Path) -> None:
    save_calibration(
        CameraCalibration(
            camera="cam1", created=now_utc(), method="chessboard", image_size=(640, 480),
            camera_matrix=K_TRUE.tolist(), dist_coeffs=DIST_TRUE.tolist(), rms=0.2,
            target=ChessboardTarget(cols=9, rows=6, square_size_m=0.025),
        ),
        path,
    )  # fmt: skip


def test_floor_from_points_adds_the_floor_to_the_intrinsics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    intrinsics = tmp_path / "cam1.yaml"
    write_intrinsics(intrinsics)
    camera = cell_camera()
    floor = np.array([[0, 1], [2, 1], [2, 3.5], [0, 3.5], [1, 2], [0.5, 3]], float)
    pixels = camera.project(np.c_[floor, np.zeros(6)])
    points = [f"{u},{v}={x},{y}" for (u, v), (x, y) in zip(pixels, floor, strict=True)]
    code = main(["calibrate", "floor", "--points", *points, "--intrinsics", str(intrinsics),
                 "--out", str(intrinsics)])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    calibration = load_calibration(intrinsics)
    assert calibration.method == "chessboard+points" and calibration.rms == 0.2
    assert calibration.floor_error_m < 1e-4 and len(calibration.floor_points) == 6
    assert calibration.pose is not None and calibration.pose.source == "homography"
    assert "floor reprojection error: RMS 0.0000 m" in captured.out
    assert "camera height above the floor: 2.500 m" in captured.out
    # too few points, and collinear points: invalid input
    assert main(["calibrate", "floor", "--points", *points[:3], "--out", str(tmp_path / "f")]) == 2
    assert "need >= 4" in capsys.readouterr().err
    line = ["0,0=0,0", "10,10=1,1", "20,20=2,2", "30,30=3,3"]
    assert main(["calibrate", "floor", "--points", *line, "--out", str(tmp_path / "f")]) == 2
    assert "collinear" in capsys.readouterr().err


def test_floor_from_points_without_intrinsics_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    points = ["100,400=0,0", "540,400=2,0", "500,150=2,3", "140,150=0,3"]
    out = tmp_path / "cam2.yaml"
    assert main(["calibrate", "floor", "--points", *points, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "4 points fit exactly" in printed and "lens distortion is not removed" in printed
    calibration = load_calibration(out)
    assert calibration.camera_matrix is None and calibration.pose is None
    mapper = FloorMapper(np.asarray(calibration.floor_homography))
    assert np.allclose(mapper.image_to_floor(np.array([[540.0, 400.0]])), [[2.0, 0.0]])


def test_floor_from_aruco_markers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    camera = cell_camera()
    image = np.full((480, 640), 110, np.uint8)
    for marker_id, x, y, yaw in [(3, 0.4, 1.6, 30.0), (7, 1.6, 2.6, -15.0)]:
        texture = aruco_texture(marker_id)
        mapping = square_texture_to_floor(texture.shape[0], 0.3 * 8 / 6, (x, y), yaw)
        rendered = camera.render(texture, mapping, background=0)
        image = np.where(rendered > 0, rendered, image).astype(np.uint8)
    photo = tmp_path / "floor.png"
    cv2.imwrite(str(photo), image)
    intrinsics = tmp_path / "cam1.yaml"
    write_intrinsics(intrinsics)
    out = tmp_path / "out" / "cam1.yaml"
    base = ["calibrate", "floor", "--aruco", str(photo), "--marker-size", "0.3",
            "--dictionary", "DICT_4X4_50", "--out", str(out)]  # fmt: skip
    assert main([*base, "--marker", "3=0.4,1.6,30", "--marker", "7=1.6,2.6,-15"]) == 2
    assert "--intrinsics FILE" in capsys.readouterr().err
    code = main([*base, "--intrinsics", str(intrinsics),
                 "--marker", "3=0.4,1.6,30", "--marker", "7=1.6,2.6,-15"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    calibration = load_calibration(out)
    assert calibration.floor_method == "aruco" and calibration.floor_error_m < 0.005
    assert calibration.pose is not None and calibration.pose.source == "solvepnp"
    assert calibration.floor_sources[0].file == str(photo)
    assert "pose fit: RMS" in captured.out
    code = main([*base, "--intrinsics", str(intrinsics), "--marker", "9=0,0"])
    assert code == 1 and "marker 9 not found" in capsys.readouterr().err


def test_floor_from_a_charuco_board(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo = tmp_path / "board.png"
    cv2.imwrite(str(photo), render_charuco_floor((0.3, 3.4), -10.0))
    intrinsics = tmp_path / "cam1.yaml"
    write_intrinsics(intrinsics)
    code = main(
        [
            "calibrate",
            "floor",
            "--charuco",
            str(photo),
            "--board",
            "5x7",
            "--square-size",
            "0.3",
            "--marker-size",
            "0.22",
            "--origin",
            "0.3,3.4",
            "--yaw",
            "-10",
            "--intrinsics",
            str(intrinsics),
            "--out",
            str(intrinsics),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    calibration = load_calibration(intrinsics)
    assert calibration.method == "chessboard+charuco" and len(calibration.floor_points) == 24
    assert calibration.floor_error_m < 0.005
    assert "camera height above the floor: 2.5" in captured.out
    code = main(
        [
            "calibrate",
            "floor",
            "--charuco",
            str(photo),
            "--square-size",
            "0.3",
            "--intrinsics",
            str(intrinsics),
            "--out",
            str(intrinsics),
        ]
    )
    assert code == 2 and "--charuco needs --board" in capsys.readouterr().err


def test_targets_are_detectable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chess = tmp_path / "chess.png"
    assert main(["calibrate", "target", "--chessboard", "9x6", "--square-size", "0.03",
                 "--dpi", "100", "--out", str(chess)]) == 0  # fmt: skip
    gray = cv2.imread(str(chess), cv2.IMREAD_GRAYSCALE)
    assert find_chessboard(gray, ChessboardTarget(cols=9, rows=6, square_size_m=0.03)) is not None
    assert gray.shape == (9 * 118, 12 * 118)  # 0.03 m at 100 dpi is 118 px
    board = tmp_path / "board.png"
    assert main(["calibrate", "target", "--charuco", "5x7", "--square-size", "0.04",
                 "--marker-size", "0.02", "--dpi", "150", "--out", str(board)]) == 0  # fmt: skip
    target = CharucoTarget(squares_x=5, squares_y=7, square_size_m=0.04, marker_size_m=0.02,
                           dictionary="DICT_6X6_250")  # fmt: skip
    board_gray = cv2.imread(str(board), cv2.IMREAD_GRAYSCALE)
    assert len(detect_charuco(board_gray, target)[1]) == 24
    marker = tmp_path / "marker.png"
    assert (
        main(
            [
                "calibrate",
                "target",
                "--aruco-marker",
                "7",
                "--square-size",
                "0.1",
                "--dictionary",
                "DICT_4X4_50",
                "--dpi",
                "100",
                "--out",
                str(marker),
            ]
        )
        == 0
    )
    assert set(detect_markers(cv2.imread(str(marker), 0), "DICT_4X4_50")) == {7}
    assert main(["calibrate", "target", "--charuco", "5x7", "--square-size", "0.04",
                 "--out", str(board)]) == 2  # fmt: skip
    assert "--marker-size" in capsys.readouterr().err


def test_real_subprocess_calibrates_the_chessboard_photos(tmp_path: Path) -> None:
    out = tmp_path / "left.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "safetymon", "calibrate", "intrinsics", "--chessboard", "9x6",
         "--square-size", "0.025", "--out", str(out), *IMAGES],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    calibration = load_calibration(out)
    k = np.asarray(calibration.camera_matrix)
    expected_k = np.asarray(EXPECTED["expected"]["camera_matrix"])
    assert (
        np.abs(k - expected_k).sum()
        < EXPECTED["tolerances_used_by_opencv_test"]["L1_norm_camera_matrix"]
    )
    assert calibration.target == ChessboardTarget(cols=9, rows=6, square_size_m=0.025)
    assert result.stdout.strip().endswith(f"wrote {out}")
