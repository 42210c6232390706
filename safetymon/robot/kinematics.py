"""Forward kinematics of serial chains: link capsules in the robot base frame.

Two chain models share one interface (``KinematicChain``):

- ``DhChain``: Denavit-Hartenberg rows (standard or modified), plain NumPy (a 4x4 product
  per row needs no library).
- ``UrdfChain``: a URDF file, evaluated with pytransform3d's ``UrdfTransformManager``
  (which silently clips joint values to their limits, so limits are checked here first).

Units: metres and radians (prismatic joints: metres). Capsules are (a, b) axis endpoints in
the robot base frame; the caller moves them to the floor frame.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Protocol

import numpy as np

from safetymon.config.robots import DhGeometry, UrdfGeometry
from safetymon.robot.urdf_tree import UrdfTree


class KinematicsError(ValueError):
    """Joint values that the chain cannot evaluate (count, limits, non-finite)."""


class KinematicChain(Protocol):
    """A chain mapping joint positions to link capsules in the base frame."""

    joint_count: int
    radius_m: np.ndarray  # (L,) capsule radii, metres
    lower: np.ndarray  # (J,) lower joint limits, rad or m (-inf: none)
    upper: np.ndarray  # (J,) upper joint limits, rad or m (+inf: none)

    def capsules(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(L, 3) capsule endpoints a and b in the base frame, metres."""
        ...

    def check(self, q: np.ndarray) -> None:
        """Raise ``KinematicsError`` naming the joint if ``q`` cannot be evaluated."""
        ...

    def clamp_inside(self, q: np.ndarray) -> np.ndarray:
        """``q`` clipped to the joint limits (used for finite-difference probes only)."""
        ...


def _check_limits(q: np.ndarray, names: list[str], lower: np.ndarray, upper: np.ndarray) -> None:
    if q.shape != lower.shape:
        raise KinematicsError(f"expected {lower.shape[0]} joint positions, got {q.shape[0]}")
    if not np.all(np.isfinite(q)):
        raise KinematicsError("joint positions must be finite")
    bad = np.flatnonzero((q < lower) | (q > upper))
    if bad.size:
        i = int(bad[0])
        raise KinematicsError(
            f"joint {names[i]} = {q[i]:.6g} outside its limits [{lower[i]:.6g}, {upper[i]:.6g}]"
        )


class DhChain:
    """Forward kinematics of a DH chain (plain NumPy).

    Frames 0 (base) .. n (flange). Per row the chain runs along two segments: standard DH
    z_{i-1} by d then x_i by a; modified DH x_{i-1} by a then z_i by d. Each segment whose
    length is statically zero (fixed d or a of 0) is left out; the rest are capsules with the
    row's radius. ``extra_capsules`` are attached to their frame.
    """

    def __init__(self, geometry: DhGeometry, default_radius_m: float) -> None:
        """Compile the rows into arrays."""
        rows = geometry.joints
        self.modified = geometry.convention == "modified"
        self.joint_count = len(rows)
        self.names = [f"{i + 1}" for i in range(len(rows))]
        self._a = np.array([r.a_m for r in rows])
        self._alpha = np.array([r.alpha_rad for r in rows])
        self._d = np.array([r.d_m for r in rows])
        self._theta = np.array([r.theta_rad for r in rows])
        self._prismatic = np.array([r.type == "prismatic" for r in rows])
        self.lower = np.array([-math.inf if r.min is None else r.min for r in rows])
        self.upper = np.array([math.inf if r.max is None else r.max for r in rows])
        # points: P[0] = o_0, P[2i+1] = corner of row i, P[2i+2] = o_{i+1}
        segments: list[tuple[int, int]] = []
        radii: list[float] = []
        for i, row in enumerate(rows):
            radius = row.radius_m or default_radius_m
            first = row.a_m if self.modified else row.d_m
            second = row.d_m if self.modified else row.a_m
            first_varies = row.type == "prismatic" and not self.modified
            second_varies = row.type == "prismatic" and self.modified
            if first != 0.0 or first_varies:
                segments.append((2 * i, 2 * i + 1))
                radii.append(radius)
            if second != 0.0 or second_varies:
                segments.append((2 * i + 1, 2 * i + 2))
                radii.append(radius)
        self._seg = np.array(segments, dtype=np.int64).reshape(-1, 2)
        self._extra = geometry.extra_capsules
        radii.extend(c.radius_m for c in self._extra)
        self.radius_m = np.array(radii, dtype=np.float64)
        if self.radius_m.size == 0:
            raise ValueError("the DH chain has no link of non-zero length and no extra capsule")

    def check(self, q: np.ndarray) -> None:
        """Raise ``KinematicsError`` for a wrong count, non-finite or out-of-limit value."""
        _check_limits(q, self.names, self.lower, self.upper)

    def clamp_inside(self, q: np.ndarray) -> np.ndarray:
        """``q`` clipped to the limits."""
        return np.clip(q, self.lower, self.upper)

    def frames(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Frame transforms (n+1, 4, 4) base→frame i, and chain points (2n+1, 3), metres."""
        n = self.joint_count
        theta = self._theta + np.where(self._prismatic, 0.0, q)
        d = self._d + np.where(self._prismatic, q, 0.0)
        ct, st = np.cos(theta), np.sin(theta)
        ca, sa = np.cos(self._alpha), np.sin(self._alpha)
        transforms = np.empty((n + 1, 4, 4))
        transforms[0] = np.eye(4)
        points = np.empty((2 * n + 1, 3))
        points[0] = 0.0
        for i in range(n):
            a = self._a[i]
            if self.modified:  # Rx(alpha) Tx(a) Rz(theta) Tz(d)
                step = np.array(
                    [
                        [ct[i], -st[i], 0.0, a],
                        [st[i] * ca[i], ct[i] * ca[i], -sa[i], -sa[i] * d[i]],
                        [st[i] * sa[i], ct[i] * sa[i], ca[i], ca[i] * d[i]],
                        [0.0, 0.0, 0.0, 1.0],
                    ]
                )
                corner = transforms[i] @ np.array([a, 0.0, 0.0, 1.0])
            else:  # Rz(theta) Tz(d) Tx(a) Rx(alpha)
                step = np.array(
                    [
                        [ct[i], -st[i] * ca[i], st[i] * sa[i], a * ct[i]],
                        [st[i], ct[i] * ca[i], -ct[i] * sa[i], a * st[i]],
                        [0.0, sa[i], ca[i], d[i]],
                        [0.0, 0.0, 0.0, 1.0],
                    ]
                )
                corner = transforms[i] @ np.array([0.0, 0.0, d[i], 1.0])
            transforms[i + 1] = transforms[i] @ step
            points[2 * i + 1] = corner[:3]
            points[2 * i + 2] = transforms[i + 1][:3, 3]
        return transforms, points

    def capsules(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(L, 3) capsule endpoints a, b in the base frame, metres."""
        transforms, points = self.frames(np.asarray(q, dtype=np.float64))
        a = points[self._seg[:, 0]]
        b = points[self._seg[:, 1]]
        if self._extra:
            a = np.vstack([a, *(_apply(transforms[int(c.frame)], c.a) for c in self._extra)])
            b = np.vstack([b, *(_apply(transforms[int(c.frame)], c.b) for c in self._extra)])
        return a, b


def _apply(transform: np.ndarray, point: tuple[float, ...]) -> np.ndarray:
    return transform[:3, :3] @ np.asarray(point) + transform[:3, 3]


Capsule = tuple[str, tuple[float, ...], str, tuple[float, ...], float]
"""(frame of a, a in that frame, frame of b, b in that frame, radius m)."""


def collision_capsules(tm: object) -> tuple[list[Capsule], int]:
    """A capsule around each sphere, cylinder and box ``<collision>`` of a loaded URDF, and
    how many mesh shapes were left out (pytransform3d's collision objects; their frames
    ``collision:<link>/<i>`` carry the shape's origin).

    Sphere: a point of its radius. Cylinder (axis z of its frame): its axis, its radius.
    Box: the axis of its longest side, from face to face, with the radius of its
    cross-section's half diagonal (the capsule contains the box).
    """
    capsules: list[Capsule] = []
    meshes = 0
    for shape in getattr(tm, "collision_objects", []):
        kind, frame = type(shape).__name__, str(shape.frame)
        if kind == "Sphere":
            capsules.append((frame, (0.0, 0.0, 0.0), frame, (0.0, 0.0, 0.0), float(shape.radius)))
        elif kind == "Cylinder":
            half = float(shape.length) / 2.0
            capsules.append((frame, (0.0, 0.0, -half), frame, (0.0, 0.0, half),
                             float(shape.radius)))  # fmt: skip
        elif kind == "Box":
            size = np.asarray(shape.size, dtype=np.float64)
            axis = int(np.argmax(size))
            others = np.delete(size, axis) / 2.0
            end = np.zeros(3)
            end[axis] = size[axis] / 2.0
            capsules.append((frame, tuple(-end), frame, tuple(end), float(np.hypot(*others))))
        else:
            meshes += 1
    return capsules, meshes


def _mimics(root: ET.Element) -> dict[str, tuple[str, float, float]]:
    """``<mimic>`` joints: name -> (leader, multiplier, offset)."""
    found = {}
    for joint in root.findall("joint"):
        mimic = joint.find("mimic")
        if mimic is not None:
            found[joint.get("name", "")] = (
                mimic.get("joint", ""),
                float(mimic.get("multiplier", "1")),
                float(mimic.get("offset", "0")),
            )
    return found


class UrdfChain:
    """Forward kinematics of a URDF model with pytransform3d (meshes are not loaded).

    Default capsules: one per joint (file order), parent link origin → child link origin,
    with the robot's default radius (zero-length ones are kept as spheres), plus one per
    sphere, cylinder or box collision shape (`collision_capsules`), plus ``extra_capsules``.
    ``<mimic>`` joints are set from their leaders and are not part of ``names``.
    """

    def __init__(self, geometry: UrdfGeometry, default_radius_m: float, base_dir: Path) -> None:
        """Load and check the URDF.

        Raises:
            ValueError: unreadable file, XML error, unknown base link / joint / capsule link.
        """
        try:  # import cost only when a URDF robot is configured
            from pytransform3d.urdf import UrdfTransformManager
        except ImportError as error:
            raise ValueError(f"geometry kind urdf needs pytransform3d: {error}") from None

        path = Path(geometry.path)
        path = path if path.is_absolute() else base_dir / path
        try:
            text = path.read_text(encoding="utf-8")
            root = ET.fromstring(text)
        except (OSError, ET.ParseError) as error:
            raise ValueError(f"geometry.path: cannot read URDF {str(path)!r}: {error}") from None
        joints = [
            (j.get("name", ""), j.get("type", ""), j.find("parent"), j.find("child"))
            for j in root.findall("joint")
        ]
        edges = [
            (name, kind, p.get("link", ""), c.get("link", ""))
            for name, kind, p, c in joints
            if p is not None and c is not None
        ]
        children = {child for *_, child in edges}
        links = [link.get("name", "") for link in root.findall("link")]
        roots = [link for link in links if link not in children]
        base = geometry.base_link or (roots[0] if len(roots) == 1 else None)
        if base is None or base not in links:
            raise ValueError(
                f"geometry.base_link: {geometry.base_link!r} is not one root link of {links}"
            )
        self._mimic = _mimics(root)
        movable = [n for n, kind, *_ in edges if kind in ("revolute", "continuous", "prismatic")]
        actuated = [name for name in movable if name not in self._mimic]
        self.names = list(geometry.joint_names) if geometry.joint_names else actuated
        mimics = [name for name in self.names if name in self._mimic]
        if mimics:
            raise ValueError(
                f"geometry.joint_names: {mimics} follow other joints (<mimic>): leave them out"
            )
        unknown = [name for name in self.names if name not in movable]
        if unknown or not self.names:
            raise ValueError(f"geometry.joint_names: {unknown or self.names} not in {actuated}")
        self._tm = UrdfTransformManager(strict_check=True, check=False)
        try:
            self._tm.load_urdf(text)
        except Exception as error:  # pytransform3d raises its own UrdfException and others
            raise ValueError(f"geometry.path: URDF {str(path)!r} not usable: {error}") from None
        limits = [self._tm.get_joint_limits(name) for name in self.names]
        self.lower = np.array([lo for lo, _ in limits], dtype=np.float64)
        self.upper = np.array([hi for _, hi in limits], dtype=np.float64)
        self.joint_count = len(self.names)
        self._base = base
        for field, listed in (("capsules", geometry.capsules),
                              ("extra_capsules", geometry.extra_capsules)):  # fmt: skip
            for capsule in listed:
                if capsule.frame not in links:
                    raise ValueError(f"geometry.{field}: no link named {capsule.frame!r}")
        zero = (0.0, 0.0, 0.0)
        ends: list[Capsule]
        self.mesh_shapes = 0
        """Mesh collision shapes left out (their links keep the joint-to-joint capsule)."""
        if geometry.capsules:
            ends = [(c.frame, c.a, c.frame, c.b, c.radius_m) for c in geometry.capsules]
        else:
            ends = [(parent, zero, child, zero, default_radius_m) for *_, parent, child in edges]
            if geometry.collision_primitives:
                shapes, self.mesh_shapes = collision_capsules(self._tm)
                ends += shapes
        ends += [(c.frame, c.a, c.frame, c.b, c.radius_m) for c in geometry.extra_capsules]
        if not ends:
            raise ValueError("geometry: the URDF has no joint and no capsules are given")
        self._ends = [(a_frame, a, b_frame, b) for a_frame, a, b_frame, b, _ in ends]
        self.radius_m = np.array([r for *_, r in ends], dtype=np.float64)
        self._frames = sorted({f for a_frame, _, b_frame, _ in self._ends
                               for f in (a_frame, b_frame)})  # fmt: skip
        self._tree: UrdfTree | None = None
        try:  # the compiled tree (fast); pytransform3d's graph where the base is not the root
            self._compile(UrdfTree(root, base), links)
        except (ValueError, KeyError):
            self._tree = None
        self.capsules(self.clamp_inside(np.zeros(self.joint_count)))  # fails now, not later

    def check(self, q: np.ndarray) -> None:
        """Raise ``KinematicsError`` for a wrong count, non-finite or out-of-limit value."""
        _check_limits(q, self.names, self.lower, self.upper)

    def clamp_inside(self, q: np.ndarray) -> np.ndarray:
        """``q`` clipped to the limits."""
        return np.clip(q, self.lower, self.upper)

    @property
    def capsule_frames(self) -> list[str]:
        """The frame each capsule's first end is fixed to, in `capsules` order: a link name,
        or ``collision:<link>/<i>`` for a capsule around a collision shape (a renderer
        colours the robot's parts by it)."""
        return [a_frame for a_frame, _, _, _ in self._ends]

    def _compile(self, tree: UrdfTree, links: list[str]) -> None:
        """Index arrays for `UrdfTree.poses_array`: joint values, mimics, capsule frames
        (a collision frame is its link's pose times the shape's fixed origin)."""
        self._name_rows = np.array([tree.joint_index[n] for n in self.names], dtype=np.int64)
        position = {name: index for index, name in enumerate(self.names)}
        mimics = [(tree.joint_index[m], position[leader], multiplier, offset)
                  for m, (leader, multiplier, offset) in self._mimic.items()
                  if leader in position and m in tree.joint_index]  # fmt: skip
        self._mimic_rows = np.array([m[0] for m in mimics], dtype=np.int64)
        self._mimic_leaders = np.array([m[1] for m in mimics], dtype=np.int64)
        self._mimic_scale = np.array([m[2] for m in mimics], dtype=np.float64)
        self._mimic_offset = np.array([m[3] for m in mimics], dtype=np.float64)
        rows, offsets = [], []
        for frame in self._frames:
            link = frame if frame in links else frame.split(":", 1)[-1].rsplit("/", 1)[0]
            rows.append(tree.row[link])
            offsets.append(np.eye(4) if link == frame else self._tm.get_transform(frame, link))
        self._frame_rows = np.array(rows, dtype=np.int64)
        self._frame_offsets = np.array(offsets, dtype=np.float64).reshape(-1, 4, 4)
        index = {frame: k for k, frame in enumerate(self._frames)}
        self._a_frames = np.array([index[f] for f, _, _, _ in self._ends], dtype=np.int64)
        self._b_frames = np.array([index[f] for _, _, f, _ in self._ends], dtype=np.int64)
        self._a_points = np.array([p for _, p, _, _ in self._ends], dtype=np.float64)
        self._b_points = np.array([p for _, _, _, p in self._ends], dtype=np.float64)
        self._tree = tree

    def _tree_values(self, q: np.ndarray) -> np.ndarray:
        """The tree's joint values: ``q`` and the mimic joints from their leaders."""
        assert self._tree is not None
        values = np.zeros(len(self._tree.joint_index))
        q = np.asarray(q, dtype=np.float64)
        values[self._name_rows] = q
        values[self._mimic_rows] = q[self._mimic_leaders] * self._mimic_scale + self._mimic_offset
        return values

    def _values(self, q: np.ndarray) -> dict[str, float]:
        """Joint name → value, the mimic joints set from their leaders."""
        values = dict(zip(self.names, np.asarray(q, dtype=np.float64).tolist(), strict=True))
        for name, (leader, multiplier, offset) in self._mimic.items():
            if leader in values:
                values[name] = values[leader] * multiplier + offset
        return values

    def _set(self, q: np.ndarray) -> None:
        for name, value in self._values(q).items():
            self._tm.set_joint(name, value)

    def transform(self, q: np.ndarray, frame: str, *, graph: bool = False) -> np.ndarray:
        """(4, 4) pose of ``frame`` (a link or a pytransform3d frame) in the base link's
        frame at joint positions ``q`` (``graph``: through pytransform3d's transform graph
        instead of the compiled tree, e.g. to check one against the other)."""
        if self._tree is not None and not graph:
            poses = self._tree.poses_array(self._tree_values(q))
            if frame in self._tree.row:
                return poses[self._tree.row[frame]]
            link = frame.split(":", 1)[-1].rsplit("/", 1)[0]
            return poses[self._tree.row[link]] @ self._tm.get_transform(frame, link)
        self._set(q)
        return self._tm.get_transform(frame, self._base)

    def capsules(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(L, 3) capsule endpoints a, b in the base link's frame, metres."""
        if self._tree is not None:
            poses = self._tree.poses_array(self._tree_values(q))
            frames = poses[self._frame_rows] @ self._frame_offsets  # (F, 4, 4)
            fa, fb = frames[self._a_frames], frames[self._b_frames]
            a = np.einsum("lij,lj->li", fa[:, :3, :3], self._a_points) + fa[:, :3, 3]
            b = np.einsum("lij,lj->li", fb[:, :3, :3], self._b_points) + fb[:, :3, 3]
            return a, b
        self._set(q)
        cache = {frame: self._tm.get_transform(frame, self._base) for frame in self._frames}
        a = np.array([_apply(cache[frame], point) for frame, point, _, _ in self._ends])
        b = np.array([_apply(cache[frame], point) for _, _, frame, point in self._ends])
        return a, b


def build_chain(
    geometry: DhGeometry | UrdfGeometry, default_radius_m: float, base_dir: Path
) -> KinematicChain:
    """The chain model for a ``dh`` or ``urdf`` geometry config."""
    if isinstance(geometry, DhGeometry):
        return DhChain(geometry, default_radius_m)
    return UrdfChain(geometry, default_radius_m, base_dir)
