"""Animated 3-D people for the simulated cell: capsule limbs with a walking gait.

A person is a pose (floor position, heading, gait phase and stride) plus an appearance
(height and clothing colours). ``body(pose)`` turns it into 3-D primitives in the floor
frame (metres, x east, y north, z up): capsules for legs, torso, arms and neck, spheres for
the head and hands, and flat-soled prisms for the feet, so a renderer can project them and
the stance foot's sole lies exactly on the floor (z = 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BGR = tuple[int, int, int]

#: Body proportions of a 1.785 m reference person (metres), scaled by height.
_REFERENCE_HEIGHT_M = 1.785
_ANKLE_M = 0.08
_THIGH_M = 0.45
_SHIN_M = 0.43
_HIP_HALF_WIDTH_M = 0.09
_SHOULDER_HALF_WIDTH_M = 0.19
_TORSO_M = 0.46
_UPPER_ARM_M = 0.29
_FOREARM_M = 0.27
_HEAD_RADIUS_M = 0.105
_FOOT_BACK_M = 0.06
_FOOT_FRONT_M = 0.19
_FOOT_HALF_WIDTH_M = 0.045
_FOOT_HEIGHT_M = 0.07
#: Largest thigh swing (radians) at full stride.
_SWING_RAD = 0.32

_SHIRTS: tuple[BGR, ...] = (
    (40, 60, 200), (170, 90, 30), (60, 150, 60), (30, 170, 230), (150, 60, 140), (200, 200, 200),
)  # fmt: skip
_TROUSERS: tuple[BGR, ...] = ((70, 50, 40), (40, 40, 40), (110, 90, 60), (60, 70, 80))
_SKINS: tuple[BGR, ...] = ((140, 170, 215), (90, 125, 175), (60, 85, 125), (120, 160, 205))
_HAIRS: tuple[BGR, ...] = ((20, 25, 30), (30, 60, 100), (140, 160, 180), (25, 30, 45))


@dataclass(frozen=True)
class Appearance:
    """How one person looks: height in metres and BGR colours of clothes, skin and hair."""

    height_m: float
    shirt: BGR
    trousers: BGR
    skin: BGR
    hair: BGR
    shoes: BGR = (30, 30, 35)

    @classmethod
    def varied(cls, index: int) -> Appearance:
        """A deterministic, distinct look for the ``index``-th person of a scene."""
        return cls(
            height_m=1.62 + 0.07 * ((index * 5) % 4),
            shirt=_SHIRTS[index % len(_SHIRTS)],
            trousers=_TROUSERS[(index * 3 + 1) % len(_TROUSERS)],
            skin=_SKINS[(index * 7 + 2) % len(_SKINS)],
            hair=_HAIRS[(index * 5 + 1) % len(_HAIRS)],
        )


@dataclass(frozen=True)
class PersonPose:
    """One person at one instant, with ground truth (floor frame, metres).

    Attributes:
        track_id: the scripted person's id (ground truth, not a tracker's id).
        xy: (2,) floor position of the body centre (the midpoint of the feet), metres.
        velocity: (2,) floor velocity, m/s.
        heading_rad: direction the person faces, radians counter-clockwise from +x (east).
        gait_phase_rad: walking cycle phase, radians (one step per pi).
        stride: 0 standing .. 1 full walking stride.
        appearance: height and colours.
    """

    track_id: int
    xy: np.ndarray
    velocity: np.ndarray
    heading_rad: float
    gait_phase_rad: float
    stride: float
    appearance: Appearance


@dataclass(frozen=True)
class Capsule:
    """A 3-D segment a→b (floor frame, metres) swept by a sphere of ``radius_m``.

    ``a == b`` is a sphere. ``part`` names the body part (for tests and debugging).
    """

    a: np.ndarray
    b: np.ndarray
    radius_m: float
    colour: BGR
    part: str


@dataclass(frozen=True)
class Prism:
    """A vertical prism: a convex floor polygon (K, 2) extruded from z0_m to z1_m (metres)."""

    polygon: np.ndarray
    z0_m: float
    z1_m: float
    colour: BGR
    part: str


@dataclass(frozen=True)
class Body:
    """A posed person's 3-D primitives in the floor frame."""

    capsules: tuple[Capsule, ...]
    feet: tuple[Prism, Prism]


def _leg(
    hip: np.ndarray, forward: np.ndarray, swing: float, knee_bend: float, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Knee and ankle of a leg: thigh ``swing`` rad forward of vertical, shin bent back."""
    down = np.array([0.0, 0.0, -1.0])
    ahead = np.array([forward[0], forward[1], 0.0])
    knee = hip + _THIGH_M * scale * (math.sin(swing) * ahead + math.cos(swing) * down)
    shin = swing - knee_bend
    ankle = knee + _SHIN_M * scale * (math.sin(shin) * ahead + math.cos(shin) * down)
    return knee, ankle


def _sole(ankle_xy: np.ndarray, forward: np.ndarray, scale: float) -> np.ndarray:
    """(4, 2) sole rectangle of a foot whose ankle is above ``ankle_xy``, metres."""
    side = np.array([-forward[1], forward[0]])
    back, front = -_FOOT_BACK_M * scale, _FOOT_FRONT_M * scale
    half = _FOOT_HALF_WIDTH_M * scale
    return np.array(
        [
            ankle_xy + back * forward - half * side,
            ankle_xy + front * forward - half * side,
            ankle_xy + front * forward + half * side,
            ankle_xy + back * forward + half * side,
        ]
    )


def body(pose: PersonPose) -> Body:
    """The 3-D primitives of a posed person (floor frame, metres).

    The body centre's floor projection is ``pose.xy``; the lower foot's sole is at z = 0.
    """
    look = pose.appearance
    scale = look.height_m / _REFERENCE_HEIGHT_M
    forward = np.array([math.cos(pose.heading_rad), math.sin(pose.heading_rad)])
    side = np.array([-forward[1], forward[0]])  # to the person's left
    stride = min(max(pose.stride, 0.0), 1.0)
    phase = pose.gait_phase_rad

    swings = (_SWING_RAD * stride * math.sin(phase), -_SWING_RAD * stride * math.sin(phase))
    bends = tuple(
        0.05 + 0.35 * stride * max(0.0, math.cos(phase + offset)) for offset in (0.0, math.pi)
    )
    # pose the legs from a hip at the origin height, then lift the body so the lower
    # ankle sits at ankle height (the stance foot on the floor)
    centre = np.array([pose.xy[0], pose.xy[1], 0.0])
    hips = [centre + sign * _HIP_HALF_WIDTH_M * scale * np.append(side, 0.0) for sign in (1, -1)]
    legs = [
        _leg(hip, forward, swing, bend, scale)
        for hip, swing, bend in zip(hips, swings, bends, strict=True)
    ]
    lift = _ANKLE_M * scale - min(ankle[2] for _, ankle in legs)
    up = np.array([0.0, 0.0, lift])
    hips = [hip + up for hip in hips]
    legs = [(knee + up, ankle + up) for knee, ankle in legs]

    pelvis = centre + up
    chest = pelvis + np.array([0.0, 0.0, _TORSO_M * scale])
    lateral = np.append(side, 0.0)
    ahead = np.append(forward, 0.0)
    shoulders = [chest + sign * _SHOULDER_HALF_WIDTH_M * scale * lateral for sign in (1, -1)]
    neck_top = chest + np.array([0.0, 0.0, 0.14 * scale])
    head = chest + np.array([0.0, 0.0, 0.25 * scale])
    hair = head + np.array([0.0, 0.0, 0.02 * scale]) - 0.025 * scale * ahead

    capsules: list[Capsule] = []
    for name, hip, (knee, ankle) in zip(("left", "right"), hips, legs, strict=True):
        capsules.append(Capsule(hip, knee, 0.075 * scale, look.trousers, f"{name}_thigh"))
        capsules.append(Capsule(knee, ankle, 0.058 * scale, look.trousers, f"{name}_shin"))
    for offset in (1, -1):
        shift = offset * 0.065 * scale * lateral
        capsules.append(Capsule(pelvis + shift, chest + shift, 0.115 * scale, look.shirt, "torso"))
    capsules.append(Capsule(chest, neck_top, 0.05 * scale, look.skin, "neck"))
    for name, shoulder, swing in zip(("left", "right"), shoulders, swings[::-1], strict=True):
        arm_swing = 0.9 * swing  # arms swing against the leg of the same side
        down = np.array([0.0, 0.0, -1.0])
        elbow = shoulder + _UPPER_ARM_M * scale * (
            math.sin(arm_swing) * ahead + math.cos(arm_swing) * down
        )
        fore = arm_swing + 0.25 + 0.3 * stride
        hand = elbow + _FOREARM_M * scale * (math.sin(fore) * ahead + math.cos(fore) * down)
        capsules.append(Capsule(shoulder, elbow, 0.048 * scale, look.shirt, f"{name}_upper_arm"))
        capsules.append(Capsule(elbow, hand, 0.04 * scale, look.skin, f"{name}_forearm"))
        capsules.append(Capsule(hand, hand, 0.045 * scale, look.skin, f"{name}_hand"))
    capsules.append(Capsule(hair, hair, _HEAD_RADIUS_M * scale, look.hair, "hair"))
    capsules.append(Capsule(head, head, _HEAD_RADIUS_M * 0.97 * scale, look.skin, "head"))

    feet = tuple(
        Prism(
            _sole(ankle[:2], forward, scale),
            float(ankle[2] - _ANKLE_M * scale),
            float(ankle[2] - _ANKLE_M * scale + _FOOT_HEIGHT_M * scale),
            look.shoes,
            f"{name}_foot",
        )
        for name, (_, ankle) in zip(("left", "right"), legs, strict=True)
    )
    return Body(tuple(capsules), (feet[0], feet[1]))
