"""`safetymon zones render` as a user runs it (real subprocesses): outputs and exit codes.

The command group is not yet in ``safetymon.cli.main``; the subprocess registers it on a
parser of its own, as ``main`` will.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from tests.viz.helpers import PETS_FRAMES, REPO, calibrated_site

RUN_ZONES = (
    "import argparse, sys\n"
    "from safetymon.cli import zones_cmd\n"
    "parser = argparse.ArgumentParser(prog='safetymon')\n"
    "zones_cmd.register(parser.add_subparsers())\n"
    "args = parser.parse_args(sys.argv[1:])\n"
    "sys.exit(args.func(args))\n"
)
PETS_FRAME = PETS_FRAMES / "000001.jpg"


def zones(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUN_ZONES, "zones", "render", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def test_plan_of_demo_cell_is_written(tmp_path: Path) -> None:
    out = tmp_path / "plan.png"
    result = zones(
        "--config",
        "zones/demo-cell.yaml",
        "--out",
        str(out),
        "--size",
        "900x600",
        "--image-size",
        "cam1=640x480",
    )
    assert result.returncode == 0, result.stderr
    image = cv2.imread(str(out))
    assert image is not None and image.shape == (600, 900, 3)
    assert f"wrote {out}: floor plan 900x600 px" in result.stdout
    assert "robot arm1: reach unknown" in result.stdout
    assert "camera cam1: position unknown (no pose)" in result.stdout


def test_overlay_on_a_real_pets_frame_is_written(tmp_path: Path) -> None:
    out = tmp_path / "overlay.jpg"
    result = zones(
        "--config",
        "zones/pets09-s2l1.yaml",
        "--out",
        str(out),
        "--camera",
        "view001",
        "--frame",
        str(PETS_FRAME),
    )
    assert result.returncode == 0, result.stderr
    image = cv2.imread(str(out))
    assert image is not None and image.shape == (576, 768, 3)
    assert "zone plaza (protective): visible" in result.stdout
    assert "zone plaza-approach (warning): visible" in result.stdout


def test_unknown_camera_names_the_option_and_lists_the_ids(tmp_path: Path) -> None:
    result = zones(
        "--config",
        "zones/pets09-s2l1.yaml",
        "--out",
        str(tmp_path / "o.png"),
        "--camera",
        "view009",
        "--frame",
        str(PETS_FRAME),
    )
    assert result.returncode == 2
    assert "--camera" in result.stderr and "'view009'" in result.stderr
    assert "its cameras: view001" in result.stderr
    assert not (tmp_path / "o.png").exists()


def test_unreadable_frame_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing.jpg"
    result = zones(
        "--config",
        "zones/pets09-s2l1.yaml",
        "--out",
        str(tmp_path / "o.png"),
        "--camera",
        "view001",
        "--frame",
        str(missing),
    )
    assert result.returncode == 2
    assert f"--frame {missing}: cannot read" in result.stderr
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not a jpeg at all")
    result = zones(
        "--config",
        "zones/pets09-s2l1.yaml",
        "--out",
        str(tmp_path / "o.png"),
        "--camera",
        "view001",
        "--frame",
        str(garbage),
    )
    assert result.returncode == 2
    assert f"--frame {garbage}: not an image" in result.stderr


def test_frame_of_the_wrong_size_gives_both_sizes(tmp_path: Path) -> None:
    calibrated_site(tmp_path)  # writes calibration/cam1.yaml (image_size 640x480)
    site = tmp_path / "site.yaml"
    site.write_text(
        "site: synthetic\n"
        "cameras: [{id: cam1, source: 0, calibration: calibration/cam1.yaml}]\n"
        "zones: [{id: a, type: protective, polygon: [[0, 1], [2, 1], [2, 3], [0, 3]]}]\n"
    )
    frame = tmp_path / "frame.png"
    cv2.imwrite(str(frame), np.zeros((600, 800, 3), np.uint8))
    result = zones(
        "--config",
        str(site),
        "--out",
        str(tmp_path / "o.png"),
        "--camera",
        "cam1",
        "--frame",
        str(frame),
    )
    assert result.returncode == 2
    assert "800x600" in result.stderr and "640x480" in result.stderr
    assert f"--frame {frame}" in result.stderr


def test_config_errors_and_bad_options_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (REPO / "zones" / "demo-cell.yaml")
        .read_text()
        .replace("type: protective", "type: forbidden")
    )
    result = zones("--config", str(bad), "--out", str(tmp_path / "o.png"))
    assert result.returncode == 2
    assert f"{bad}: zones[0].type" in result.stderr and "forbidden" in result.stderr
    result = zones("--config", "zones/demo-cell.yaml", "--out", str(tmp_path / "o.gif"))
    assert result.returncode == 2 and "--out" in result.stderr and ".gif" in result.stderr
    result = zones(
        "--config", "zones/demo-cell.yaml", "--out", str(tmp_path / "o.png"), "--camera", "cam1"
    )
    assert result.returncode == 2 and "--camera and --frame go together" in result.stderr
    result = zones(
        "--config",
        "zones/demo-cell.yaml",
        "--out",
        str(tmp_path / "o.png"),
        "--image-size",
        "cam7=640x480",
    )
    assert result.returncode == 2 and "no camera 'cam7'" in result.stderr
    result = zones(
        "--config", "zones/demo-cell.yaml", "--out", str(tmp_path / "o.png"), "--size", "big"
    )
    assert result.returncode == 2 and "--size" in result.stderr
    assert not (tmp_path / "o.png").exists()


def test_unwritable_output_exits_1(tmp_path: Path) -> None:
    out = tmp_path / "no-such-folder" / "plan.png"
    result = zones("--config", "zones/demo-cell.yaml", "--out", str(out))
    assert result.returncode == 1
    assert f"--out {out}: cannot write" in result.stderr
