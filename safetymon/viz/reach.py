"""An honest upper bound of a robot's reach from its configured geometry.

The bound is the largest distance (metres) from the robot's base origin that any part of
its link capsules can have, whatever the joint positions: the sum of all link offsets (a
chain point cannot be farther from the base than the path of links leading to it), plus
the largest capsule radius. Its horizontal part bounds the floor reach around ``base_pose``.
A robot whose capsules arrive in its state messages (geometry ``capsules``) has no bound
here: the reach is unknown until it moves.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from safetymon.config.robots import CapsulesGeometry, DhGeometry, RobotConfig, UrdfGeometry


@dataclass(frozen=True)
class Reach:
    """A robot's reach bound.

    Attributes:
        radius_m: upper bound of the distance of any capsule point from the base origin
            (metres), or None when the configuration does not give one.
        basis: how the bound was found (or why there is none), for the legend.
    """

    radius_m: float | None
    basis: str


def _norm(point: tuple[float, ...]) -> float:
    return math.sqrt(sum(value * value for value in point))


def dh_reach(geometry: DhGeometry, default_radius_m: float) -> Reach:
    """Sum of |a| + |d| over the DH rows (prismatic: |d| + the larger |limit|) + radius."""
    frame_bound = [0.0]  # bound of frame i's origin distance from the base
    radii = [default_radius_m]
    for index, row in enumerate(geometry.joints):
        d = abs(row.d_m)
        if row.type == "prismatic":
            if row.min is None or row.max is None:
                return Reach(None, f"reach unknown: prismatic DH row {index + 1} has no limits")
            d += max(abs(row.min), abs(row.max))
        frame_bound.append(frame_bound[-1] + abs(row.a_m) + d)
        if row.radius_m is not None:
            radii.append(row.radius_m)
    bound = frame_bound[-1] + max(radii)
    for capsule in geometry.extra_capsules:
        base = frame_bound[int(capsule.frame)]
        bound = max(bound, base + max(_norm(capsule.a), _norm(capsule.b)) + capsule.radius_m)
    return Reach(bound, "sum of DH link lengths + radius")


def _urdf_offsets(root: ET.Element) -> tuple[float, str]:
    """Sum of joint origin offsets and prismatic travel (metres), or a reason it is unknown."""
    total = 0.0
    for joint in root.findall("joint"):
        name = joint.get("name")
        origin = joint.find("origin")
        if origin is not None:
            text = origin.get("xyz", "0 0 0")
            xyz = tuple(float(value) for value in text.split())
            if len(xyz) != 3 or not all(math.isfinite(value) for value in xyz):
                raise ValueError(f"joint {name!r} has a malformed origin xyz {text!r}")
            total += _norm(xyz)
        if joint.get("type") == "prismatic":
            limit = joint.find("limit")
            if limit is None or limit.get("lower") is None or limit.get("upper") is None:
                return 0.0, f"reach unknown: prismatic joint {name!r} has no limits"
            travel = max(abs(float(limit.get("lower", "0"))), abs(float(limit.get("upper", "0"))))
            if not math.isfinite(travel):
                raise ValueError(f"joint {name!r} has a non-finite limit")
            total += travel
    return total, ""


def urdf_reach(geometry: UrdfGeometry, default_radius_m: float, base_dir: Path) -> Reach:
    """Sum of all URDF joint origin offsets (prismatic: + the larger |limit|) + radius.

    Raises:
        ValueError: the URDF file cannot be read or parsed (the message names the path).
    """
    path = Path(geometry.path)
    path = path if path.is_absolute() else Path(base_dir) / path
    try:
        root = ET.fromstring(path.read_text(encoding="utf-8"))
    except (OSError, ET.ParseError) as error:
        raise ValueError(f"geometry.path: cannot read URDF {str(path)!r}: {error}") from None
    try:
        total, unknown = _urdf_offsets(root)
    except ValueError as error:
        raise ValueError(f"geometry.path: URDF {str(path)!r}: {error}") from None
    if unknown:
        return Reach(None, unknown)
    if geometry.capsules:
        extra = max(max(_norm(c.a), _norm(c.b)) + c.radius_m for c in geometry.capsules)
    else:
        extra = default_radius_m
    return Reach(total + extra, "sum of URDF joint offsets + radius")


def robot_reach(robot: RobotConfig, base_dir: Path) -> Reach:
    """The reach bound of one robot (metres from its base origin), or None with the reason.

    Raises:
        ValueError: a URDF file cannot be read (the message names the path).
    """
    geometry = robot.geometry
    if isinstance(geometry, CapsulesGeometry):
        return Reach(None, "reach unknown: link capsules come in the state messages")
    if isinstance(geometry, DhGeometry):
        return dh_reach(geometry, robot.link_radius_m)
    return urdf_reach(geometry, robot.link_radius_m, base_dir)
