"""URDF forward kinematics compiled to fixed NumPy transforms (metres, radians).

`UrdfChain` loads a URDF with pytransform3d (parsing, limits, collision shapes) and then
evaluates link poses every state message. pytransform3d's general transform graph costs
1.7-5.7 ms per evaluation for a humanoid or a PR2 (`benchmarks/bench_robot.py`); a robot
description is a tree, so each link's pose is its parent's pose times the joint's fixed
origin times the joint's motion. `UrdfTree` precomputes the origins and axes once and
walks the tree from the base link in a fixed order.

URDF semantics (ROS REP 103 / the URDF spec): ``<origin xyz rpy>`` is the child joint frame
in the parent link frame, rpy the fixed-axis roll, pitch, yaw (R = Rz(yaw)·Ry(pitch)·Rx(roll));
``<axis xyz>`` (default x) is in the joint frame; revolute and continuous joints rotate about
it by q, prismatic joints translate along it by q; fixed (and, here, floating and planar)
joints do not move.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np
from numba import njit


def _floats(text: str | None, default: tuple[float, float, float]) -> np.ndarray:
    if not text:
        return np.asarray(default, dtype=np.float64)
    values = [float(v) for v in text.split()]
    if len(values) != 3:
        raise ValueError(f"expected 3 numbers, got {text!r}")
    return np.asarray(values, dtype=np.float64)


def rpy_matrix(rpy: np.ndarray) -> np.ndarray:
    """R = Rz(yaw)·Ry(pitch)·Rx(roll) for URDF's fixed-axis roll, pitch, yaw (radians)."""
    roll, pitch, yaw = rpy
    cr, sr, cp, sp, cy, sy = (np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch),
                              np.cos(yaw), np.sin(yaw))  # fmt: skip
    return np.array([
        [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
        [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
        [-sp, cp * sr, cp * cr],
    ])  # fmt: skip


def origin_transform(element: ET.Element | None) -> np.ndarray:
    """(4, 4) transform of an ``<origin>`` element (identity when absent)."""
    transform = np.eye(4)
    if element is not None:
        transform[:3, :3] = rpy_matrix(_floats(element.get("rpy"), (0.0, 0.0, 0.0)))
        transform[:3, 3] = _floats(element.get("xyz"), (0.0, 0.0, 0.0))
    return transform


@dataclass(frozen=True)
class _Joint:
    name: str
    kind: int  # FIXED, REVOLUTE (also continuous) or PRISMATIC
    parent: str
    child: str
    origin: np.ndarray  # (4, 4)
    axis: np.ndarray  # (3,) unit


FIXED, REVOLUTE, PRISMATIC = 0, 1, 2
_KINDS = {"revolute": REVOLUTE, "continuous": REVOLUTE, "prismatic": PRISMATIC}


@njit(cache=True, nogil=True)
def tree_poses(
    parent: np.ndarray, origin: np.ndarray, axis: np.ndarray, kind: np.ndarray, q: np.ndarray
) -> np.ndarray:
    """(J + 1, 4, 4) poses: row 0 the base link, row j + 1 joint j's child link.

    ``parent[j]`` is the row of joint j's parent link (always < j + 1: parents first);
    ``origin`` (J, 4, 4), ``axis`` (J, 3) unit, ``kind`` (J,) int64, ``q`` (J,) values.
    """
    count = parent.shape[0]
    poses = np.empty((count + 1, 4, 4))
    poses[0] = np.eye(4)
    motion = np.eye(4)
    for j in range(count):
        joint = poses[parent[j]] @ origin[j]
        if kind[j] == REVOLUTE:
            x, y, z = axis[j, 0], axis[j, 1], axis[j, 2]
            c, s = np.cos(q[j]), np.sin(q[j])
            t = 1.0 - c
            motion[0, 0] = t * x * x + c
            motion[0, 1] = t * x * y - s * z
            motion[0, 2] = t * x * z + s * y
            motion[1, 0] = t * x * y + s * z
            motion[1, 1] = t * y * y + c
            motion[1, 2] = t * y * z - s * x
            motion[2, 0] = t * x * z - s * y
            motion[2, 1] = t * y * z + s * x
            motion[2, 2] = t * z * z + c
            motion[0, 3] = 0.0
            motion[1, 3] = 0.0
            motion[2, 3] = 0.0
            joint = joint @ motion
        elif kind[j] == PRISMATIC:
            joint[:3, 3] += joint[:3, :3] @ (axis[j] * q[j])
        poses[j + 1] = joint
    return poses


class UrdfTree:
    """Link poses of a URDF robot in its base link's frame, from joint values.

    Args:
        root: the parsed ``<robot>`` element.
        base_link: the link whose frame the poses are in; it must be the tree's root.

    Raises:
        ValueError: the base link is not the root of the joint tree, or an origin or axis
            is malformed.
    """

    def __init__(self, root: ET.Element, base_link: str) -> None:
        joints: list[_Joint] = []
        for element in root.findall("joint"):
            parent, child = element.find("parent"), element.find("child")
            if parent is None or child is None:
                continue
            kind = _KINDS.get(element.get("type", "fixed"), FIXED)  # floating, planar: fixed
            axis_element = element.find("axis")
            axis = _floats(None if axis_element is None else axis_element.get("xyz"),
                           (1.0, 0.0, 0.0))  # fmt: skip
            norm = float(np.linalg.norm(axis))
            if kind != FIXED and not norm > 0:
                raise ValueError(f"joint {element.get('name')!r}: zero axis")
            joints.append(_Joint(element.get("name", ""), kind, parent.get("link", ""),
                                 child.get("link", ""), origin_transform(element.find("origin")),
                                 axis / norm if norm > 0 else axis))  # fmt: skip
        if any(joint.child == base_link for joint in joints):
            raise ValueError(f"base link {base_link!r} is not the root of the joint tree")
        by_parent: dict[str, list[_Joint]] = {}
        for joint in joints:
            by_parent.setdefault(joint.parent, []).append(joint)
        self.base_link = base_link
        order: list[_Joint] = []  # parents before children
        frontier = [base_link]
        while frontier:
            link = frontier.pop()
            for joint in by_parent.get(link, []):
                order.append(joint)
                frontier.append(joint.child)
        self.row = {base_link: 0, **{joint.child: index + 1 for index, joint in enumerate(order)}}
        """Link name → its row in `poses_array`."""
        self.joint_index = {joint.name: index for index, joint in enumerate(order)}
        """Joint name → its index in the values of `poses_array`."""
        self._parent = np.array([self.row[j.parent] for j in order], dtype=np.int64)
        self._origin = np.ascontiguousarray(np.array([j.origin for j in order]).reshape(-1, 4, 4))
        self._axis = np.ascontiguousarray(np.array([j.axis for j in order]).reshape(-1, 3))
        self._kind = np.array([j.kind for j in order], dtype=np.int64)

    def poses_array(self, values: np.ndarray) -> np.ndarray:
        """(links, 4, 4) poses in `row` order from (joints,) values in `joint_index` order."""
        return tree_poses(self._parent, self._origin, self._axis, self._kind,
                          np.ascontiguousarray(values, dtype=np.float64))  # fmt: skip
