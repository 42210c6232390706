"""Any sign and scale of a floor homography, through the real CLI (subprocesses).

``safetymon replay`` of PETS09-S2L1 frames gives byte-identical JSON Lines for H, -H and 3.7 H;
``safetymon config check`` prints each camera's footprint and refuses (exit 2, camera and
reason named) a mapping that sees no floor or is (nearly) singular; ``safetymon calibrate
floor`` checks the footprint of what it fitted.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import REPO, SHARED_DATA
from tests.perception.test_mapping_sign import (
    HEAD_HEIGHT,
    K,
    fitted_head_height_homography,
    pose_looking,
)

SAFETYMON = str(REPO / ".venv" / "bin" / "safetymon")
PETS_FRAMES = SHARED_DATA / "mot15" / "PETS09-S2L1" / "img1"
PETS_CALIBRATION = REPO / "calibration" / "pets09-view001.yaml"
PETS_ZONES = REPO / "zones" / "pets09-s2l1.yaml"


def safetymon(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SAFETYMON, *args], capture_output=True, text=True, timeout=300, cwd=REPO)


def write_site(
    path: Path,
    cameras: list[dict[str, object]],
    zones: list[dict[str, object]] | None = None,
    **extra: object,
) -> Path:
    """A site file without robots: the cameras, the zones (default: one 2 m square)."""
    square = [[-1, 3], [1, 3], [1, 5], [-1, 5]]
    data = {
        "site": "sign",
        "cameras": [{"source": "unused.jpg", **camera} for camera in cameras],
        "detector": {"kind": "hog"},
        "zones": zones or [{"id": "near", "type": "protective", "polygon": square}],
        **extra,
    }
    path.write_text(yaml.safe_dump(data))
    return path


def pets_site(path: Path, homography: np.ndarray) -> Path:
    """zones/pets09-s2l1.yaml's geometry with the calibration's homography in the site file."""
    zones = yaml.safe_load(PETS_ZONES.read_text())
    camera = {
        "id": "view001",
        "floor_homography": homography.tolist(),
        "image_size": [768, 576],
        "fps": 7,
    }
    return write_site(path, [camera], zones["zones"], tracking=zones["tracking"])


def test_replay_is_byte_identical_for_h_minus_h_and_scaled_h(tmp_path: Path) -> None:
    if not PETS_FRAMES.is_dir():
        pytest.skip(f"{PETS_FRAMES} not present")
    homography = np.asarray(yaml.safe_load(PETS_CALIBRATION.read_text())["floor_homography"])
    outputs = []
    for name, matrix in [("h", homography), ("minus", -homography), ("scaled", 3.7 * homography)]:
        site = pets_site(tmp_path / f"{name}.yaml", matrix)
        out = tmp_path / f"{name}.jsonl"
        result = safetymon(
            "replay", "--config", str(site), "--source", str(PETS_FRAMES / "*.jpg"),
            "--out", str(out), "--max-frames", "20", "--no-progress",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]
    lines = outputs[0].decode().splitlines()
    assert len(lines) == 20
    # people really are placed on the floor (a w < 0 mapping used to fault every frame)
    assert '"floor":[-' in lines[0] and "CAMERA_FAULT" not in outputs[0].decode()


def test_config_check_prints_the_footprint_of_good_mappings(tmp_path: Path) -> None:
    fitted, _pixels = fitted_head_height_homography()
    cameras = [
        {"id": "street", "floor_homography": fitted.tolist(), "image_size": [640, 480]},
        {"id": "flipped", "floor_homography": (-fitted).tolist(), "image_size": [640, 480]},
        # a small scale (|det| ~ 1e-17) is the same mapping, not a singular one
        {"id": "small", "floor_homography": (1e-4 * fitted).tolist(), "image_size": [640, 480]},
    ]
    far = [[-1, 200], [1, 200], [1, 202], [-1, 202]]
    zones = [
        {"id": "near", "type": "protective", "polygon": [[-1, 3], [1, 3], [1, 5], [-1, 5]]},
        {"id": "far", "type": "warning", "polygon": far},
    ]
    site = write_site(tmp_path / "street.yaml", cameras, zones)
    result = safetymon("config", "check", str(site))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "OK"
    footprints = [line for line in result.stdout.splitlines() if "see floor" in line]
    assert len(footprints) == 3 and len(set(footprints)) == 1  # one mapping, three forms
    # nearest floor 1.6 m * 500 / 239.5 ahead; rows from just below the horizon to the bottom
    assert "y 3.34.." in footprints[0] and "of 480 see floor" in footprints[0]
    assert "far side cut where a pixel spans > 0.5 m" in footprints[0]
    # a zone 200 m away is outside every footprint: a warning, not a refusal
    assert f"{site}: zones[1] (far): lies completely outside every camera's" in result.stderr
    assert "zones[0]" not in result.stderr


def test_config_check_refuses_a_sky_only_and_a_near_singular_mapping(tmp_path: Path) -> None:
    from safetymon.perception.calibration.floor import homography_from_pose

    tilted = pose_looking((0.0, 0.0, 1.6), (0.0, 1.0, np.tan(np.radians(30))))
    sky = homography_from_pose(tilted, K)
    good = homography_from_pose(HEAD_HEIGHT, K)
    scale = np.diag([640.0, 640.0, 1.0])
    u, s, vt = np.linalg.svd(good @ scale)
    nearly = u @ np.diag([s[0], s[1], s[0] * 1e-8]) @ vt @ np.linalg.inv(scale)
    nearly *= 1e3  # the site file's determinant check (|det| >= 1e-12) lets it through
    cameras = [
        {"id": "good", "floor_homography": good.tolist(), "image_size": [640, 480]},
        {"id": "sky", "floor_homography": sky.tolist(), "image_size": [640, 480]},
        {"id": "thin", "floor_homography": nearly.tolist(), "image_size": [640, 480]},
    ]
    site = write_site(tmp_path / "bad.yaml", cameras)
    result = safetymon("config", "check", str(site))
    assert result.returncode == 2
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2, result.stderr
    assert errors[0].startswith(f"error: {site}: cameras[sky].floor_homography: camera sky: ")
    assert "sees no floor at all" in errors[0] and "(value: [[" in errors[0]
    assert errors[1].startswith(f"error: {site}: cameras[thin].floor_homography: camera thin: ")
    assert "ill-conditioned" in errors[1]
    assert "2 error(s); not valid" in result.stderr

    singular = [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 0.0, 1.0]]
    site = write_site(tmp_path / "singular.yaml", [{"id": "flat", "floor_homography": singular}])
    result = safetymon("config", "check", str(site))
    assert result.returncode == 2
    assert f"{site}: cameras[0].floor_homography: is singular" in result.stderr


def test_config_check_refuses_a_mapping_with_no_floor_in_a_calibration_file(
    tmp_path: Path,
) -> None:
    calibration = yaml.safe_load(PETS_CALIBRATION.read_text())
    homography = np.asarray(calibration["floor_homography"])
    # the floor frame mirrored (x negated): left-handed, refused with the file that holds it
    calibration["floor_homography"] = (np.diag([-1.0, 1.0, 1.0]) @ homography).tolist()
    path = tmp_path / "view001.yaml"
    path.write_text(yaml.safe_dump(calibration))
    site = write_site(tmp_path / "site.yaml", [{"id": "view001", "calibration": str(path)}])
    result = safetymon("config", "check", str(site))
    assert result.returncode == 2
    assert f"error: {path}: floor_homography: camera view001: " in result.stderr
    assert "mirrored (left-handed)" in result.stderr


def test_calibrate_floor_prints_the_footprint_and_refuses_a_mirrored_frame(
    tmp_path: Path,
) -> None:
    floor_points = yaml.safe_load(PETS_CALIBRATION.read_text())["floor_points"]
    points = [f"--points={p['u']},{p['v']}={p['x']},{p['y']}" for p in floor_points]
    out = tmp_path / "view001.yaml"
    args = ["calibrate", "floor", "--image-size", "768x576", "--out"]
    result = safetymon(*args, str(out), *points)
    assert result.returncode == 0, result.stderr
    assert "footprint: floor x" in result.stdout and "of 576 see floor" in result.stdout
    assert yaml.safe_load(out.read_text())["image_size"] == [768, 576]
    # the same points with floor x negated: a left-handed floor frame
    mirrored = [f"--points={p['u']},{p['v']}={-p['x']},{p['y']}" for p in floor_points]
    refused = tmp_path / "mirrored.yaml"
    result = safetymon(*args, str(refused), *mirrored)
    assert result.returncode == 2
    assert "camera mirrored: floor mapping refused: " in result.stderr
    assert "mirrored (left-handed)" in result.stderr and not refused.exists()
    # without an image size nothing can be checked, and it says so
    result = safetymon("calibrate", "floor", "--out", str(tmp_path / "x.yaml"), *mirrored)
    assert result.returncode == 0, result.stderr
    assert "note: no --image-size: the floor footprint" in result.stdout
