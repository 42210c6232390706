"""Forward kinematics against hand-computed positions: planar 2R, UR5-like 6R, URDF."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from safetymon.config.robots import DhGeometry, UrdfGeometry
from safetymon.robot.kinematics import DhChain, KinematicsError, UrdfChain
from tests.robot.helpers import UR5_ROWS, dh_to_urdf

PLANAR_URDF = """<?xml version="1.0"?>
<robot name="planar2r">
  <link name="base_link"/>
  <link name="upper"/>
  <link name="fore"/>
  <link name="tool"/>
  <joint name="shoulder" type="revolute">
    <parent link="base_link"/><child link="upper"/>
    <origin xyz="0 0 0.3" rpy="0 0 0"/><axis xyz="0 0 1"/>
    <limit lower="-2.0" upper="2.0" effort="10" velocity="2"/>
  </joint>
  <joint name="elbow" type="continuous">
    <parent link="upper"/><child link="fore"/>
    <origin xyz="0.6 0 0" rpy="0 0 0"/><axis xyz="0 0 1"/>
  </joint>
  <joint name="flange" type="fixed">
    <parent link="fore"/><child link="tool"/>
    <origin xyz="0.4 0 0" rpy="0 0 0"/>
  </joint>
</robot>
"""


def planar_dh(**extra: object) -> DhChain:
    geometry = DhGeometry.model_validate(
        {"kind": "dh", "joints": [{"a_m": 0.6}, {"a_m": 0.4, "radius_m": 0.05}], **extra}
    )
    return DhChain(geometry, 0.1)


def test_planar_2r_matches_hand_computation() -> None:
    chain = planar_dh()
    q1, q2 = math.radians(30), math.radians(45)
    a, b = chain.capsules(np.array([q1, q2]))
    elbow = [0.6 * math.cos(q1), 0.6 * math.sin(q1), 0.0]
    tip = [elbow[0] + 0.4 * math.cos(q1 + q2), elbow[1] + 0.4 * math.sin(q1 + q2), 0.0]
    np.testing.assert_allclose(a, [[0, 0, 0], elbow], atol=1e-12)
    np.testing.assert_allclose(b, [elbow, tip], atol=1e-12)
    np.testing.assert_allclose(chain.radius_m, [0.1, 0.05])


def test_modified_convention_gives_the_same_planar_arm() -> None:
    modified = DhChain(
        DhGeometry.model_validate(
            {
                "kind": "dh",
                "convention": "modified",
                "joints": [{}, {"a_m": 0.6}],
                "extra_capsules": [
                    {"frame": "2", "a": [0, 0, 0], "b": [0.4, 0, 0], "radius_m": 0.05}
                ],
            }
        ),
        0.1,
    )
    q = np.array([0.3, -1.1])
    a, b = modified.capsules(q)
    a_std, b_std = planar_dh().capsules(q)
    np.testing.assert_allclose(np.vstack([a, b]), np.vstack([a_std, b_std]), atol=1e-12)


def test_ur5_zero_pose_flange() -> None:
    chain = DhChain(DhGeometry.model_validate({"kind": "dh", "joints": UR5_ROWS}), 0.06)
    transforms, _ = chain.frames(np.zeros(6))
    np.testing.assert_allclose(transforms[-1][:3, 3], [-0.81725, -0.19145, -0.005491], atol=1e-9)
    assert chain.radius_m.shape == (6,)  # d1, a2, a3, d4, d5, d6: one segment each


def test_ur5_upright_pose_by_hand() -> None:
    # shoulder lift -90°: upper arm and forearm point straight up (worked out in the docs)
    chain = DhChain(DhGeometry.model_validate({"kind": "dh", "joints": UR5_ROWS}), 0.06)
    transforms, _ = chain.frames(np.array([0.0, -math.pi / 2, 0.0, 0.0, 0.0, 0.0]))
    shoulder_z = 0.089159
    np.testing.assert_allclose(transforms[2][:3, 3], [0, 0, shoulder_z + 0.425], atol=1e-9)
    np.testing.assert_allclose(transforms[3][:3, 3], [0, 0, shoulder_z + 0.81725], atol=1e-9)
    np.testing.assert_allclose(
        transforms[6][:3, 3], [-0.09465, -0.19145, shoulder_z + 0.81725], atol=1e-9
    )


def test_prismatic_joint_moves_along_z() -> None:
    chain = DhChain(
        DhGeometry.model_validate(
            {"kind": "dh", "joints": [{"type": "prismatic", "min": 0.0, "max": 0.5}, {"a_m": 0.3}]}
        ),
        0.1,
    )
    _, b = chain.capsules(np.array([0.25, 0.0]))
    np.testing.assert_allclose(b[0], [0, 0, 0.25])
    np.testing.assert_allclose(b[1], [0.3, 0, 0.25])
    with pytest.raises(KinematicsError, match=r"joint 1 = 0.6 outside its limits \[0, 0.5\]"):
        chain.check(np.array([0.6, 0.0]))
    with pytest.raises(KinematicsError, match="expected 2 joint positions, got 1"):
        chain.check(np.array([0.1]))


@pytest.fixture
def planar_urdf(tmp_path: Path) -> Path:
    path = tmp_path / "planar.urdf"
    path.write_text(PLANAR_URDF)
    return path


def test_urdf_chain_matches_dh(planar_urdf: Path) -> None:
    chain = UrdfChain(UrdfGeometry(kind="urdf", path=planar_urdf.name), 0.07, planar_urdf.parent)
    assert chain.names == ["shoulder", "elbow"]
    q = np.array([0.4, -0.9])
    a, b = chain.capsules(q)
    a_dh, b_dh = planar_dh().capsules(q)
    lift = np.array([0.0, 0.0, 0.3])
    # capsules per joint: base→upper (0.3 m post), upper→fore, fore→tool
    np.testing.assert_allclose(a[1:], a_dh + lift, atol=1e-12)
    np.testing.assert_allclose(b[1:], b_dh + lift, atol=1e-12)
    np.testing.assert_allclose(a[0], [0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(chain.radius_m, [0.07] * 3)


def test_urdf_limits_checked_not_clipped(planar_urdf: Path) -> None:
    chain = UrdfChain(UrdfGeometry(kind="urdf", path=str(planar_urdf)), 0.07, Path("/"))
    with pytest.raises(KinematicsError, match=r"joint shoulder = 2\.5 outside"):
        chain.check(np.array([2.5, 0.0]))
    chain.check(np.array([1.9, 100.0]))  # the elbow is continuous


def test_urdf_explicit_capsules(planar_urdf: Path) -> None:
    geometry = UrdfGeometry(
        kind="urdf",
        path=str(planar_urdf),
        capsules=[{"frame": "fore", "a": [0, 0, 0], "b": [0.5, 0, 0], "radius_m": 0.04}],
    )
    chain = UrdfChain(geometry, 0.07, Path("/"))
    a, b = chain.capsules(np.array([math.pi / 2, 0.0]))
    np.testing.assert_allclose(a, [[0, 0.6, 0.3]], atol=1e-12)
    np.testing.assert_allclose(b, [[0, 1.1, 0.3]], atol=1e-12)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"path": "missing.urdf"}, "cannot read URDF"),
        ({"base_link": "nowhere"}, "base_link"),
        ({"joint_names": ["flange"]}, "joint_names"),
        (
            {"capsules": [{"frame": "x", "a": [0, 0, 0], "b": [0, 0, 1], "radius_m": 0.1}]},
            "no link",
        ),
    ],
)
def test_urdf_config_errors_refuse_to_start(planar_urdf: Path, change: dict, message: str) -> None:
    geometry = UrdfGeometry.model_validate({"kind": "urdf", "path": planar_urdf.name, **change})
    with pytest.raises(ValueError, match=message):
        UrdfChain(geometry, 0.07, planar_urdf.parent)


def test_broken_urdf_xml(tmp_path: Path) -> None:
    (tmp_path / "bad.urdf").write_text("<robot><link name='a'>")
    with pytest.raises(ValueError, match="cannot read URDF"):
        UrdfChain(UrdfGeometry(kind="urdf", path="bad.urdf"), 0.07, tmp_path)


def test_ur5_urdf_and_dh_agree(tmp_path: Path) -> None:
    (tmp_path / "ur5.urdf").write_text(dh_to_urdf(UR5_ROWS))
    links = [f"link{i}" for i in range(7)]
    capsules = [
        {"frame": link, "a": [0, 0, 0], "b": [0, 0, 0.05], "radius_m": 0.05} for link in links
    ]
    urdf = UrdfChain(UrdfGeometry(kind="urdf", path="ur5.urdf", capsules=capsules), 0.05, tmp_path)
    dh = DhChain(DhGeometry.model_validate({"kind": "dh", "joints": UR5_ROWS}), 0.05)
    rng = np.random.default_rng(5)
    for q in rng.uniform(-math.pi, math.pi, size=(20, 6)):
        a, b = urdf.capsules(q)
        transforms, _ = dh.frames(q)
        np.testing.assert_allclose(a, transforms[:, :3, 3], atol=1e-9)
        np.testing.assert_allclose(b, transforms[:, :3, 3] + 0.05 * transforms[:, :3, 2], atol=1e-9)
