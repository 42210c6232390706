"""`safetymon config check|schema` as a user runs it: real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[2]


def safetymon(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "safetymon", *args],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip


def test_check_demo_cell_prints_ok_and_summary() -> None:
    result = safetymon("config", "check", "zones/demo-cell.yaml")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "OK"
    assert any("keep-out" in line and "protective" in line for line in lines)
    assert any("worst-case S_p" in line for line in lines)
    assert len(lines) < 40  # one screen


def test_check_says_what_the_auto_detector_runs_on_each_camera(tmp_path: Path) -> None:
    result = safetymon("config", "check", "zones/demo-cell.yaml")
    assert result.returncode == 0, result.stderr
    assert "detector: auto: ssdlite; no camera has a reference image" in result.stdout
    site = (REPO / "zones" / "demo-cell.yaml").read_text().replace(
        "    max_frame_age_s: 0.3\n", "    max_frame_age_s: 0.3\n    reference_image: empty.png\n"
    )
    (tmp_path / "site.yaml").write_text(site)
    result = safetymon("config", "check", str(tmp_path / "site.yaml"))
    assert result.returncode == 2  # as run, config check reads the reference image
    assert "cameras[0].reference_image" in result.stderr and "empty.png" in result.stderr
    cv2.imwrite(str(tmp_path / "empty.png"), np.zeros((480, 640, 3), np.uint8))
    result = safetymon("config", "check", str(tmp_path / "site.yaml"))
    assert result.returncode == 0, result.stderr
    assert "ssdlite+foreground on cam1 (reference image)" in result.stdout
    assert "reference_image" not in result.stderr


def test_check_warns_of_a_foreground_camera_without_a_reference(tmp_path: Path) -> None:
    site = (REPO / "zones" / "demo-cell.yaml").read_text()
    (tmp_path / "site.yaml").write_text(site.replace("{kind: auto}", "{kind: ssdlite+foreground}"))
    result = safetymon("config", "check", str(tmp_path / "site.yaml"))
    assert result.returncode == 0, result.stderr  # replay may bring --reference-median
    assert "cameras[0] (cam1): detector ssdlite+foreground has a foreground part" in result.stderr
    assert "will refuse to start" in result.stderr


def test_check_worst_case_separation_counts_the_input_age_limits() -> None:
    """S_p = v_h(T_r + T_s) + v_r T_r + S_s + C + Z_d + Z_r for the demo arm: 1.0 m/s, 4 m/s²
    (T_s 0.25 s, S_s 0.125 m), T_r 0.1 + 0.05 s, C 0.85, Z 0.1 + 0.02 m; the demo's USB
    camera has no measured latency, so its default 0.15 s counts even with fresh inputs; the
    decision adds the camera (0.3 s) and state (0.1 s) ages to T_r, so at those limits T_r
    is 0.7 s (issue 17)."""
    result = safetymon("config", "check", "zones/demo-cell.yaml")
    assert result.returncode == 0, result.stderr
    fresh = 1.6 * (0.3 + 0.25) + 1.0 * 0.3 + 0.125 + 0.85 + 0.1 + 0.02
    limits = 1.6 * (0.7 + 0.25) + 1.0 * 0.7 + 0.125 + 0.85 + 0.1 + 0.02
    assert f"S_p={fresh:.2f} m with fresh inputs" in result.stdout
    assert f"worst-case S_p={limits:.2f} m with inputs at their age limits" in result.stdout
    assert "(camera 450 ms incl. latency + state 100 ms)" in result.stdout
    assert "latency 150 ms (default for a device source): S_p + 0.24 m" in result.stdout
    assert "cameras[cam1]: glass-to-frame latency not measured" in result.stderr


def test_check_counts_a_measured_latency_from_the_calibration_file(tmp_path: Path) -> None:
    """A latency written into the camera's calibration file (`calibrate latency`) counts
    instead of the default, and the larger of it and the site file's counts (issue 17)."""
    from safetymon.perception.calibration.model import (
        CameraCalibration,
        LatencyMeasurement,
        now_utc,
        save_calibration,
    )  # fmt: skip

    measured = LatencyMeasurement(
        latency_s=0.32, p50_s=0.2, p95_s=0.27, p99_s=0.3, margin_s=0.02, samples=300,
        pattern_period_s=0.05, measured=now_utc(), source="rtsp://192.0.2.10/stream1",
    )  # fmt: skip
    save_calibration(
        CameraCalibration(created=now_utc(), method="latency", latency=measured),
        tmp_path / "cam1.yaml",
    )
    text = (REPO / "zones" / "demo-cell.yaml").read_text()
    text = text.replace("    source: 0 ", "    calibration: cam1.yaml\n    source: 0 ", 1)
    site = tmp_path / "site.yaml"
    site.write_text(text)
    result = safetymon("config", "check", str(site))
    assert result.returncode == 0, result.stderr
    assert "latency 320 ms (calibration file): S_p + 0.51 m" in result.stdout
    assert "p99 300 ms over 300 frames" in result.stdout
    assert "not measured" not in result.stderr
    fresh = 1.6 * (0.15 + 0.32 + 0.25) + 1.0 * (0.15 + 0.32) + 0.125 + 0.85 + 0.1 + 0.02
    assert f"S_p={fresh:.2f} m with fresh inputs" in result.stdout
    site.write_text(text.replace("    source: 0 ", "    latency_s: 0.4\n    source: 0 ", 1))
    result = safetymon("config", "check", str(site))
    assert "latency 400 ms (the larger of site file and calibration file)" in result.stdout


def test_check_reports_every_error_with_file_field_and_value(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = (REPO / "zones" / "demo-cell.yaml").read_text()
    text = text.replace(
        "[[-1, -1], [3, -1], [3, 2.5], [-1, 2.5]]", "[[0, 0], [2, 2], [2, 0], [0, 2]]"
    )
    text = text.replace("human_speed_mps: 1.6", "human_speed_mps: -2")
    bad.write_text(text)
    result = safetymon("config", "check", str(bad))
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"{bad}: zones[1].polygon: polygon is not valid" in result.stderr
    assert "Self-intersection" in result.stderr
    assert "(value: [[0, 0], [2, 2], [2, 0], [0, 2]])" in result.stderr
    assert f"{bad}: safety.human_speed_mps" in result.stderr and "-2" in result.stderr


def test_check_missing_file_exits_2(tmp_path: Path) -> None:
    result = safetymon("config", "check", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert "cannot read file" in result.stderr


def test_schema_is_json_schema() -> None:
    result = safetymon("config", "schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["type"] == "object"
    assert {"site", "cameras", "zones", "robots", "safety"} <= schema["properties"].keys()
    assert schema["additionalProperties"] is False


def test_check_loads_each_robots_kinematics_and_names_a_missing_urdf(tmp_path: Path) -> None:
    """A URDF robot's file is loaded and evaluated by config check, as the monitor would at
    start-up: a missing or broken file is an error naming the robot's geometry."""
    from tests.conftest import SHARED_DATA

    text = (REPO / "zones" / "demo-cell.yaml").read_text()
    ur5e = SHARED_DATA / "robots" / "universal_robots" / "ur5e.urdf"
    site = tmp_path / "site.yaml"
    site.write_text(text.replace("robots:\n", f"robots:\n  - id: ur5e\n    max_speed_mps: 1.0\n"
                                 f"    stopping: {{deceleration_mps2: 4.0}}\n"
                                 f"    geometry: {{kind: urdf, path: {ur5e}}}\n"
                                 f"    state_input: {{endpoint: 'tcp://127.0.0.1:5599'}}\n", 1))
    result = safetymon("config", "check", str(site))
    assert result.returncode == 0, result.stderr
    assert "geometry: urdf, 6 joints, 10 capsules (7 collision meshes not loaded)" in result.stdout
    site.write_text(site.read_text().replace(str(ur5e), "robots/missing.urdf"))
    result = safetymon("config", "check", str(site))
    assert result.returncode == 2
    assert "robots[0].geometry" in result.stderr and "missing.urdf" in result.stderr


def test_check_prints_each_cameras_planned_detector_and_refuses_an_unplannable_one(
    tmp_path: Path,
) -> None:
    """`run` plans SSDLite passes (and HOG crops) per camera from its calibration; `config
    check` makes the same plan, prints it, and refuses a camera that cannot be planned."""
    site = (REPO / "zones" / "pets09-s2l1.yaml").read_text()
    calibration = str(REPO / "calibration" / "pets09-view001.yaml")
    site = site.replace("calibration: ../calibration/pets09-view001.yaml",
                        f"calibration: {calibration}")  # fmt: skip
    site = site.replace("detector: {kind: hog+foreground}",
                        "detector: {kind: ssdlite, ssdlite: {planned_passes: 3}}")  # fmt: skip
    planned = tmp_path / "planned.yaml"
    planned.write_text(site)
    result = safetymon("config", "check", str(planned))
    assert result.returncode == 0, result.stderr
    assert "ssdlite: 3 pass(es): the whole frame + 2 tile(s) of 404 px" in result.stdout
    unplannable = tmp_path / "unplannable.yaml"  # a homography without an image size
    unplannable.write_text(site.replace(f"calibration: {calibration}",
                                        "floor_homography: [[1, 0, 0], [0, 1, 0], [0, 0.001, 1]]"))
    result = safetymon("config", "check", str(unplannable))
    assert result.returncode == 2
    assert "cameras[0]" in result.stderr and "planned_passes" in result.stderr
    assert "image_size" in result.stderr
