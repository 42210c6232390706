"""Forward kinematics and capsules on published robot descriptions (issue 13, item 3).

The URDFs are in ../shared/data/robots (read its SOURCES.md: the figures below are the ones
measured there from the XML and the published meshes); none is copied into this project.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from safetymon.config.robots import UrdfGeometry
from safetymon.robot.kinematics import KinematicsError, UrdfChain
from tests.conftest import SHARED_DATA

ROBOTS = SHARED_DATA / "robots"


def chain(relative: str, radius_m: float = 0.05, **geometry: object) -> UrdfChain:
    """The URDF at ``ROBOTS / relative`` with the default capsules."""
    config = UrdfGeometry.model_validate({"kind": "urdf", "path": str(ROBOTS / relative),
                                          **geometry})  # fmt: skip
    return UrdfChain(config, radius_m, Path("/"))


def extents(model: UrdfChain, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lowest, highest) corner of the capsules' union, metres in the base link's frame."""
    a, b = model.capsules(q)
    points = np.r_[a, b]
    radius = np.r_[model.radius_m, model.radius_m][:, None]
    return (points - radius).min(axis=0), (points + radius).max(axis=0)


@pytest.mark.parametrize(
    ("relative", "actuated"),
    [
        ("unitree_g1/g1_29dof_rev_1_0.urdf", 29),
        ("unitree_g1/g1_23dof_rev_1_0.urdf", 23),
        ("unitree_h1/h1.urdf", 19),
        ("universal_robots/ur5e.urdf", 6),
        ("universal_robots/ur10e.urdf", 6),
        ("panda/panda.urdf", 8),  # panda_finger_joint2 mimics panda_finger_joint1
        ("pr2/pr2.urdf", 20),  # 10 mimic joints of the gripper linkages left out
        ("jackal/jackal.urdf", 4),
    ],
)
def test_every_description_loads_with_its_actuated_joints(relative: str, actuated: int) -> None:
    model = chain(relative)
    assert model.joint_count == actuated
    a, b = model.capsules(model.clamp_inside(np.zeros(actuated)))
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(b))


@pytest.mark.parametrize(
    ("relative", "frame", "expected"),
    [
        ("universal_robots/ur5e.urdf", "tool0", (0.817, 0.233, 0.063)),  # arm stretched out
        ("universal_robots/ur10e.urdf", "tool0", (1.184, 0.291, 0.061)),
        ("panda/panda.urdf", "panda_link8", (0.107, 0.0, 0.925)),  # straight up
        ("unitree_g1/g1_29dof_rev_1_0.urdf", "left_rubber_hand", (0.241, 0.152, 0.095)),
    ],
)
def test_zero_pose_matches_the_published_kinematics(
    relative: str, frame: str, expected: tuple[float, float, float]
) -> None:
    """The G1's elbows are bent 90 degrees at zero: its hand is forward, not down. The
    Panda's figure was measured with pytransform3d, which clamps panda_joint4 = 0 to its
    limit -0.0698 rad: so is the pose here (at the true zero the flange is at x 0.088)."""
    model = chain(relative)
    q = model.clamp_inside(np.zeros(model.joint_count))
    position = model.transform(q, frame)[:3, 3]
    assert position == pytest.approx(expected, abs=0.001)
    assert model.transform(q, frame, graph=True)[:3, 3] == pytest.approx(expected, abs=0.001)


@pytest.mark.parametrize("relative", [
    "unitree_g1/g1_29dof_rev_1_0.urdf", "unitree_h1/h1.urdf", "universal_robots/ur5e.urdf",
    "panda/panda.urdf", "pr2/pr2.urdf", "jackal/jackal.urdf",
])  # fmt: skip
def test_the_compiled_tree_agrees_with_pytransform3d_everywhere(relative: str) -> None:
    """Every capsule frame at 20 random in-limit poses (continuous joints within +-pi):
    the compiled tree (`urdf_tree.UrdfTree`) against pytransform3d's transform graph.
    pytransform3d clamps every joint to its limits, mimic joints too; the PR2's gripper
    mimics with multiplier -1 leave their own limits [0, 0.548] (the tree follows the
    mimic exactly, as ROS's robot_state_publisher does), so their leaders stay at 0 here."""
    model = chain(relative)
    rng = np.random.default_rng(3)
    lower = np.where(np.isfinite(model.lower), model.lower, -np.pi)
    upper = np.where(np.isfinite(model.upper), model.upper, np.pi)
    negative_mimic_leaders = {leader for leader, multiplier, _ in model._mimic.values()
                              if multiplier < 0}  # fmt: skip
    for _ in range(20):
        q = rng.uniform(lower, upper)
        for index, name in enumerate(model.names):
            if name in negative_mimic_leaders:
                q[index] = 0.0
        graph = {frame: model.transform(q, frame, graph=True) for frame in model._frames}
        for frame in model._frames:
            assert model.transform(q, frame) == pytest.approx(graph[frame], abs=1e-9), frame
        a, b = model.capsules(q)
        for k, (a_frame, a_point, b_frame, b_point) in enumerate(model._ends):
            expected_a = graph[a_frame][:3, :3] @ np.asarray(a_point) + graph[a_frame][:3, 3]
            expected_b = graph[b_frame][:3, :3] @ np.asarray(b_point) + graph[b_frame][:3, 3]
            assert a[k] == pytest.approx(expected_a, abs=1e-9)
            assert b[k] == pytest.approx(expected_b, abs=1e-9)


def test_panda_zero_pose_is_out_of_limits_and_refused_but_the_model_loads() -> None:
    """panda_joint4 = 0 is outside [-3.0718, -0.0698]: a state at zero is refused by name;
    the model itself is built at the nearest pose inside the limits."""
    model = chain("panda/panda.urdf")
    with pytest.raises(KinematicsError, match="panda_joint4"):
        model.check(np.zeros(8))
    inside = model.clamp_inside(np.zeros(8))
    model.check(inside)
    assert inside[3] == pytest.approx(-0.0698)


def test_mimic_joints_follow_their_leader() -> None:
    model = chain("panda/panda.urdf")
    q = model.clamp_inside(np.zeros(8))
    q[7] = 0.03  # panda_finger_joint1; finger_joint2 mimics it (multiplier 1)
    left = model.transform(q, "panda_leftfinger")[:3, 3]
    right = model.transform(q, "panda_rightfinger")[:3, 3]
    assert np.linalg.norm(left - right) == pytest.approx(0.06, abs=1e-9)
    with pytest.raises(ValueError, match="follow other joints"):
        chain("panda/panda.urdf", joint_names=["panda_joint1", "panda_finger_joint2"])


def test_h1_capsules_from_its_collision_primitives_cover_them() -> None:
    """The H1 has only primitive collision shapes: z -1.036 .. +0.694 m, y +-0.262 m
    (visual). Joint-to-joint capsules alone (no primitives) stop short of the soles."""
    model = chain("unitree_h1/h1.urdf")
    assert model.mesh_shapes == 0
    low, high = extents(model, np.zeros(model.joint_count))
    assert low[2] <= -1.036 and high[2] >= 0.694
    assert low[1] <= -0.262 and high[1] >= 0.262
    skeleton = chain("unitree_h1/h1.urdf", collision_primitives=False)
    assert extents(skeleton, np.zeros(19))[0][2] > -1.036


def test_jackal_wheels_and_chassis_are_sized_from_the_urdf() -> None:
    model = chain("jackal/jackal.urdf")
    assert sorted(model.radius_m.round(3))[-5:-1] == [0.098] * 4  # the wheels' cylinders
    low, high = extents(model, np.zeros(4))
    assert low[2] <= -0.0635  # the ground, below base_link
    assert high[0] - low[0] >= 0.458 and high[1] - low[1] >= 0.416  # the footprint


def test_g1_capsules_reach_its_soles_and_width() -> None:
    """Sole at z -0.792 (foot collision spheres), width +-0.182 m. Its head is only a mesh
    (head_link sits at the pelvis): the example site adds a head capsule
    (`test_example_sites`)."""
    model = chain("unitree_g1/g1_29dof_rev_1_0.urdf")
    assert model.mesh_shapes == 24
    low, high = extents(model, np.zeros(29))
    assert low[2] <= -0.792
    assert low[1] <= -0.182 and high[1] >= 0.182
