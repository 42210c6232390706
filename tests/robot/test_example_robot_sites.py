"""The example sites with published robots (issue 13, item 3): a UR5e cell and a Unitree G1
at a service counter, both read over ROS 2. Their URDFs come from ../shared/data/robots (the
examples name robots/<file>.urdf, which this project does not ship)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from safetymon.config.loader import load_site_config
from safetymon.config.robots import Ros2StateInputConfig
from safetymon.robot.geometry import RobotModel
from tests.conftest import REPO, with_published_robots


@pytest.mark.parametrize(
    ("name", "joints", "kind"), [("ur5e-cell.yaml", 6, "manipulator"),
                                 ("humanoid-counter.yaml", 29, "humanoid")],
)  # fmt: skip
def test_example_passes_config_check_with_its_urdf(
    name: str, joints: int, kind: str, tmp_path: Path
) -> None:
    site = with_published_robots(REPO / "zones" / name, tmp_path)
    config = load_site_config(site)
    robot = config.robots[0]
    assert robot.kind == kind and isinstance(robot.state_input, Ros2StateInputConfig)
    assert RobotModel(robot, site.parent).chain.joint_count == joints
    result = subprocess.run([sys.executable, "-m", "safetymon", "config", "check", str(site)],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"geometry: urdf, {joints} joints" in result.stdout
    without = subprocess.run([sys.executable, "-m", "safetymon", "config", "check",
                              str(REPO / "zones" / name)],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert without.returncode == 2 and "robots[0].geometry" in without.stderr


def test_the_g1_example_covers_the_robot_head_to_soles(tmp_path: Path) -> None:
    """Standing on the floor at its configured base (pelvis 0.79 m up): capsules from the
    soles (0.792 m below the pelvis) to the head top (0.531 m above), the head given by the
    example's extra capsule (the URDF's head is only a mesh)."""
    site = with_published_robots(REPO / "zones" / "humanoid-counter.yaml", tmp_path)
    robot = load_site_config(site).robots[0]
    chain = RobotModel(robot, site.parent).chain
    a, b = chain.capsules(np.zeros(29))
    radius = np.r_[chain.radius_m, chain.radius_m]
    z = np.r_[a[:, 2], b[:, 2]]
    assert (z - radius).min() <= -0.792 and (z + radius).max() >= 0.531
    head = chain.radius_m.size - 1  # the extra capsule is last: on the torso, at head height
    assert a[head, 2] > 0.3 and b[head, 2] + chain.radius_m[head] >= 0.531


def test_config_check_refuses_a_ros2_input_without_cyclonedds(tmp_path: Path) -> None:
    """Where the `cyclonedds` package cannot be imported the monitor refuses to start; config
    check says so first, naming the input (a package on the path that fails to import stands
    for a machine without it)."""
    site = with_published_robots(REPO / "zones" / "ur5e-cell.yaml", tmp_path / "site")
    broken = tmp_path / "broken" / "cyclonedds"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('cyclonedds is not installed')\n")
    env = {**os.environ, "PYTHONPATH": f"{broken.parent}{os.pathsep}{REPO}"}
    result = subprocess.run([sys.executable, "-m", "safetymon", "config", "check", str(site)],
                            capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert result.returncode == 2, result.stdout
    assert "robots[0].state_input.kind" in result.stderr
    assert "needs the Python package 'cyclonedds'" in result.stderr
    fine = subprocess.run([sys.executable, "-m", "safetymon", "config", "check", str(site)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert fine.returncode == 0, fine.stderr
