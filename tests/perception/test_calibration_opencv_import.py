"""`safetymon calibrate import`: OpenCV FileStorage (XML / YAML) → safetymon calibration.

Files are written with real cv2.FileStorage; the real PETS 2009 View_001 calibration (Tsai
XML, converted to FileStorage) must map ground-truth foot points onto the boxes' bottoms.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from safetymon.cli.main import main
from safetymon.config.cameras import CameraConfig
from safetymon.perception.calibration.model import load_calibration
from safetymon.perception.calibration.opencv_import import (
    OpenCVImportError,
    read_opencv_calibration,
    write_filestorage,
)
from safetymon.perception.mapping import FloorMapper
from tests.conftest import REPO
from tests.perception.virtual_cameras import (
    PETS_TSAI,
    camera_matrix,
    intrinsics_values,
    look_at,
    pets_ground_truth,
    pets_view001_filestorage,
    pose_values,
)

SIZE = (1280, 720)
K = camera_matrix(*SIZE, 900.0)
DIST = np.array([-0.12, 0.05, 0.001, -0.0005, -0.01])
CENTRE = np.array([1.0, -6.0, 5.0])
ROTATION, TVEC = look_at(CENTRE, np.array([0.0, 4.0, 0.0]))
FLOOR = np.array([[x, y] for x in (-3.0, 0.0, 3.0) for y in (1.0, 4.0, 8.0)])


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "safetymon", "calibrate", "import", *args],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def mapper_of(path: Path) -> FloorMapper:
    camera = CameraConfig(id="cam", source="unused", calibration=str(path))
    return FloorMapper.from_camera_config(camera, path.parent)


def true_pixels(points_xyz: np.ndarray) -> np.ndarray:
    rvec, _ = cv2.Rodrigues(ROTATION)
    pixels, _ = cv2.projectPoints(np.asarray(points_xyz, float), rvec, TVEC, K, DIST)
    return pixels.reshape(-1, 2)


def check_imported(path: Path) -> None:
    """The written file maps pixels of the true camera back onto their floor points."""
    calibration = load_calibration(path)
    assert calibration.method == "opencv-import" and calibration.pose is not None
    assert calibration.pose.source == "imported"
    assert calibration.pose.camera_height_m == pytest.approx(CENTRE[2], abs=1e-9)
    assert calibration.image_size == SIZE and calibration.rms == pytest.approx(0.31)
    mapper = mapper_of(path)
    pixels = true_pixels(np.c_[FLOOR, np.zeros(len(FLOOR))])
    assert np.max(np.abs(mapper.image_to_floor(pixels) - FLOOR)) < 1e-6  # metres
    assert np.max(np.abs(mapper.project_points(np.c_[FLOOR, np.ones(len(FLOOR))])
                         - true_pixels(np.c_[FLOOR, np.ones(len(FLOOR))]))) < 1e-6  # fmt: skip


@pytest.mark.parametrize(("suffix", "form"), [(".xml", "rvec"), (".yml", "R"), (".yaml", "rvec")])
def test_one_file_xml_or_yaml_with_rvec_tvec_or_r_t(tmp_path: Path, suffix: str, form: str) -> None:
    source = write_filestorage(
        tmp_path / f"camera{suffix}",
        intrinsics_values(K, DIST, SIZE) | pose_values(ROTATION, TVEC, form),
    )
    out = tmp_path / "calibration" / "cam1.yaml"
    result = cli(str(source), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "camera height above the floor: 5.000 m" in result.stdout
    check_imported(out)
    assert load_calibration(out).camera == "cam1"


def test_split_files_in_centimetres(tmp_path: Path) -> None:
    intrinsics = write_filestorage(tmp_path / "intrinsics.xml", intrinsics_values(K, DIST, SIZE))
    extrinsics = write_filestorage(tmp_path / "pose.yml", pose_values(ROTATION, TVEC * 100, "R"))
    out = tmp_path / "cam.yaml"
    result = cli(str(intrinsics), str(extrinsics), "--out", str(out), "--unit-scale", "0.01",
                 "--camera", "north")  # fmt: skip
    assert result.returncode == 0, result.stderr
    check_imported(out)
    calibration = load_calibration(out)
    assert calibration.camera == "north"
    assert [source.file for source in calibration.floor_sources] == [str(intrinsics),
                                                                     str(extrinsics)]  # fmt: skip
    # without the scale the same files put the camera 500 m up: refused by the footprint check
    result = cli(str(intrinsics), str(extrinsics), "--out", str(tmp_path / "x.yaml"))
    assert result.returncode == 2 and not (tmp_path / "x.yaml").exists()
    assert "floor mapping refused" in result.stderr


def test_camera_matrix_alone_with_the_size_given_and_a_plain_text_pose(tmp_path: Path) -> None:
    """Several published datasets give the intrinsics without the image size, and the pose
    as plain space-separated XML text (``<rvec>1.87 0.37 -0.40</rvec>``) in centimetres."""
    intrinsics_only = {key: value for key, value in intrinsics_values(K, DIST, SIZE).items()
                       if key not in ("image_width", "image_height")}  # fmt: skip
    intrinsics = write_filestorage(tmp_path / "intr.xml", intrinsics_only)
    rvec, _ = cv2.Rodrigues(ROTATION)
    extrinsics = tmp_path / "extr.xml"
    extrinsics.write_text(
        '<?xml version="1.0"?>\n<opencv_storage>\n'
        f"<rvec>{' '.join(repr(float(v)) for v in rvec.ravel())}</rvec>\n"
        f"<tvec>{' '.join(repr(float(v)) for v in TVEC.ravel() * 100)}</tvec>\n"
        "</opencv_storage>\n"
    )
    out = tmp_path / "cam.yaml"
    files = [str(intrinsics), str(extrinsics), "--out", str(out), "--unit-scale", "0.01"]
    result = cli(*files)
    assert result.returncode == 2 and not out.exists()
    assert "key image_width is missing" in result.stderr and "--image-size" in result.stderr
    result = cli(*files, "--image-size", f"{SIZE[0]}x{SIZE[1]}")
    assert result.returncode == 0, result.stderr
    check_imported(out)
    # a size given that disagrees with the files' own is refused, naming the key
    with_size = write_filestorage(tmp_path / "with-size.xml", intrinsics_values(K, DIST, SIZE))
    result = cli(str(with_size), str(extrinsics), "--out", str(tmp_path / "x.yaml"),
                 "--unit-scale", "0.01", "--image-size", "1920x1080")  # fmt: skip
    assert result.returncode == 2 and not (tmp_path / "x.yaml").exists()
    assert "key image_width" in result.stderr and "disagrees" in result.stderr


def _bad_files(tmp_path: Path, case: str) -> tuple[list[Path], str]:
    base = intrinsics_values(K, DIST, SIZE) | pose_values(ROTATION, TVEC, "rvec")
    path = tmp_path / "bad.yml"
    if case == "missing camera_matrix":
        del base["camera_matrix"]
        return [write_filestorage(path, base)], f"key camera_matrix is missing (read {path})"
    if case == "missing tvec":
        del base["tvec"]
        return [write_filestorage(path, base)], f"key tvec is missing (read {path})"
    if case == "no pose":
        del base["tvec"], base["rvec"]
        return [write_filestorage(path, base)], "no floor → camera pose"
    if case == "wrong shape":
        base["camera_matrix"] = K[:2]
        return [write_filestorage(path, base)], f"{path}: key camera_matrix: must be a 3x3"
    if case == "non-finite":
        base["tvec"] = np.array([[0.0], [np.nan], [1.0]])
        return [write_filestorage(path, base)], f"{path}: key tvec: contains a non-finite value"
    if case == "below the floor":
        rotation, tvec = look_at(np.array([1.0, -6.0, -5.0]), np.array([0.0, 4.0, 0.0]))
        base |= pose_values(rotation, tvec, "rvec")
        return [write_filestorage(path, base)], f"{path}: key tvec: puts the camera centre at"
    if case == "not a rotation":
        del base["rvec"], base["tvec"]
        base |= pose_values(ROTATION * 1.1, TVEC, "R")
        return [write_filestorage(path, base)], f"{path}: key R: not a rotation matrix"
    if case == "mirrored rotation":
        del base["rvec"], base["tvec"]
        base |= pose_values(ROTATION @ np.diag([1.0, 1.0, -1.0]), TVEC, "R")
        return [write_filestorage(path, base)], "det = -1"
    if case == "both poses":
        base |= pose_values(ROTATION, TVEC, "R")
        return [write_filestorage(path, base)], "as rvec/tvec or as R/T, not both"
    if case == "key twice":
        first = write_filestorage(tmp_path / "a.xml", base)
        second = write_filestorage(tmp_path / "b.yml", {"camera_matrix": K})
        return [first, second], f"key camera_matrix is given twice: in {first} and in {second}"
    if case == "distortion count":
        base["distortion_coefficients"] = np.zeros((1, 3))
        return [write_filestorage(path, base)], "needs 4, 5, 8, 12 or 14 coefficients, got 3"
    if case == "fractional width":
        base["image_width"] = 1280.5
        return [write_filestorage(path, base)], f"{path}: key image_width: must be an integer"
    assert case == "not FileStorage"
    return [PETS_TSAI], f"{PETS_TSAI}: not an OpenCV FileStorage file"


@pytest.mark.parametrize(
    "case",
    [
        "missing camera_matrix", "missing tvec", "no pose", "wrong shape", "non-finite",
        "below the floor", "not a rotation", "mirrored rotation", "both poses", "key twice",
        "distortion count", "fractional width", "not FileStorage",
    ],
)  # fmt: skip
def test_bad_input_is_refused_naming_file_key_and_value(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    files, needle = _bad_files(tmp_path, case)
    with pytest.raises(OpenCVImportError) as error:
        read_opencv_calibration(files)
    assert needle in str(error.value)
    out = tmp_path / "out.yaml"
    code = main(["calibrate", "import", *map(str, files), "--out", str(out)])
    assert code == 2 and needle in capsys.readouterr().err and not out.exists()


def test_pets09_view001_maps_ground_truth_feet_onto_box_bottoms(tmp_path: Path) -> None:
    intrinsics, extrinsics = pets_view001_filestorage(tmp_path)
    out = tmp_path / "view001.yaml"
    result = cli(str(intrinsics), str(extrinsics), "--unit-scale", "0.001", "--out", str(out))
    assert result.returncode == 0, result.stderr
    mapper = mapper_of(out)
    assert 5.0 < mapper.pose.camera_height_m < 7.5  # SOURCES.md: centre 5-7 m above ground
    gt = pets_ground_truth()
    feet = mapper.project_points(np.c_[gt[:, 7], gt[:, 8], np.zeros(len(gt))])
    bottoms = np.c_[gt[:, 2] + gt[:, 4] / 2, gt[:, 3] + gt[:, 5]]
    error = np.linalg.norm(feet - bottoms, axis=1)
    assert np.median(error) < 3.0  # pixels; SOURCES.md: median 2.2 px, offset ~ -1.5, -1.5
    assert np.percentile(error, 95) < 4.0
    assert np.allclose(np.median(feet - bottoms, axis=0), [-1.5, -1.5], atol=0.5)
    # and back: box bottoms land on the ground-truth floor points
    floor = mapper.image_to_floor(bottoms)
    assert np.median(np.linalg.norm(floor - gt[:, 7:9], axis=1)) < 0.15  # metres
