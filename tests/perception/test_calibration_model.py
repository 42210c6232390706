"""The calibration file: YAML round trip and refusals that name the file, field and value."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from safetymon.config.loader import ConfigError
from safetymon.perception.calibration.model import (
    CameraCalibration,
    CharucoTarget,
    ChessboardTarget,
    ViewResult,
    calibration_to_yaml,
    load_calibration,
    now_utc,
    save_calibration,
)


def sample() -> CameraCalibration:
    return CameraCalibration(
        camera="cam1", created=now_utc(), method="chessboard", image_size=(640, 480),
        camera_matrix=[[532.8, 0.0, 342.5], [0.0, 532.9, 233.9], [0.0, 0.0, 1.0]],
        dist_coeffs=[-0.28, 0.029, 0.0012, -0.00014, 0.15], rms=0.196,
        target=ChessboardTarget(cols=9, rows=6, square_size_m=0.025),
        per_image=[ViewResult(file="left01.jpg", sha256="0" * 64, used=True, corners=54,
                              sharpness=787.0, reprojection_error_px=0.19)],
        floor_method="points",
        floor_homography=[[0.01, 0.0, -2.0], [0.0, -0.01, 3.55], [0.0, 0.0, 1.0]],
        floor_error_m=0.012,
    )  # fmt: skip


def test_yaml_round_trip_keeps_every_field(tmp_path: Path) -> None:
    calibration = sample()
    path = save_calibration(calibration, tmp_path / "sub" / "cam1.yaml")
    assert load_calibration(path) == calibration
    text = path.read_text()
    assert "camera_matrix:\n- [532.8, 0.0, 342.5]" in text  # rows on one line each
    data = yaml.safe_load(text)
    assert {"camera_matrix", "dist_coeffs", "rms", "image_size"} <= data.keys()
    assert not list(tmp_path.glob("sub/*.tmp"))


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"camera_matrix": [[1.0, 0.0], [0.0, 1.0]]}, "camera_matrix", "3x3"),
        ({"dist_coeffs": [0.1] * 6}, "dist_coeffs", "got 6"),
        ({"rms": -1.0}, "rms", "greater than or equal"),
        ({"rms": float("nan")}, "rms", "finite"),
        ({"image_size": [0, 480]}, "image_size", "> 0"),
        ({"floor_homography": [[1, 2, 3], [2, 4, 6], [0, 0, 1]]}, "floor_homography", "singular"),
        ({"floor_error_m": None}, "", "floor_error_m is required"),
        ({"unexpected": 1}, "unexpected", "Extra inputs"),
        ({"format": "other/2"}, "format", "safetymon-calibration/1"),
    ],
)
def test_invalid_files_name_file_and_field(
    tmp_path: Path, change: dict, field: str, message: str
) -> None:
    data = sample().model_dump(mode="json") | change
    path = tmp_path / "cam1.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as caught:
        load_calibration(path)
    text = str(caught.value)
    assert f"{path}: {field or '(top level)'}" in text and message in text


def test_unreadable_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read calibration file"):
        load_calibration(tmp_path / "missing.yaml")
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_calibration(path)
    path.write_text("camera_matrix: [1, 2\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_calibration(path)
    path.write_text("camera: a\ncamera: b\n")
    with pytest.raises(ConfigError, match="duplicate key 'camera'"):  # refused, not last-wins
        load_calibration(path)


def test_targets_validate() -> None:
    with pytest.raises(ValueError, match="unknown ArUco dictionary"):
        CharucoTarget(squares_x=5, squares_y=7, square_size_m=0.04, marker_size_m=0.02,
                      dictionary="DICT_7X7_9")  # fmt: skip
    with pytest.raises(ValueError, match="must be smaller than square_size_m"):
        CharucoTarget(squares_x=5, squares_y=7, square_size_m=0.04, marker_size_m=0.05,
                      dictionary="DICT_6X6_250")  # fmt: skip
    assert "per_image" in calibration_to_yaml(sample())
