"""Shared builders for the robot tests: robot configs and wire messages."""

from __future__ import annotations

import json
import math
from typing import Any

from safetymon.config.robots import RobotConfig

UR5_ROWS: list[dict[str, float]] = [
    {"d_m": 0.089159, "alpha_rad": math.pi / 2},
    {"a_m": -0.425},
    {"a_m": -0.39225},
    {"d_m": 0.10915, "alpha_rad": math.pi / 2},
    {"d_m": 0.09465, "alpha_rad": -math.pi / 2},
    {"d_m": 0.0823},
]


def robot(**overrides: Any) -> RobotConfig:
    """A robot config (capsules geometry, receiver clock) with ``overrides`` applied."""
    data: dict[str, Any] = {
        "id": "arm1",
        "max_speed_mps": 1.0,
        "stopping": {"deceleration_mps2": 4.0},
        "link_radius_m": 0.08,
        "max_state_age_s": 0.1,
    }
    data.update(overrides)
    return RobotConfig.model_validate(data)


def links_message(
    sequence: int, capture_time_s: float, robot_id: str = "arm1", **extra: Any
) -> dict[str, Any]:
    """A capsules message: an upright 0.8 m link and a 0.5 m forearm along x (base frame)."""
    message: dict[str, Any] = {
        "schema": "safetymon.robot_state/1",
        "robot_id": robot_id,
        "sequence": sequence,
        "capture_time_s": capture_time_s,
        "links": {
            "a": [[0.0, 0.0, 0.0], [0.0, 0.0, 0.8]],
            "b": [[0.0, 0.0, 0.8], [0.5, 0.0, 0.8]],
            "vel_a": [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
            "vel_b": [[0.0, 0.0, 0.0], [0.0, 0.5, 0.0]],
        },
    }
    message.update(extra)
    return message


def encode(message: dict[str, Any]) -> bytes:
    """Wire form of a message dict."""
    return json.dumps(message).encode()


def dh_to_urdf(rows: list[dict[str, float]], name: str = "dh_arm") -> str:
    """A URDF equivalent to standard-DH revolute rows (no limits: continuous joints).

    Row i becomes a continuous joint about z of link i-1 (θ), then a fixed joint with
    origin xyz = (a, 0, d), rpy = (α, 0, 0): Rz(θ)·Tz(d)·Tx(a)·Rx(α).
    """
    parts = [f'<robot name="{name}">', '<link name="link0"/>']
    for i, row in enumerate(rows, start=1):
        a, d, alpha = row.get("a_m", 0.0), row.get("d_m", 0.0), row.get("alpha_rad", 0.0)
        parts += [
            f'<link name="rot{i}"/>',
            f'<link name="link{i}"/>',
            f'<joint name="q{i}" type="continuous"><parent link="link{i - 1}"/>'
            f'<child link="rot{i}"/><axis xyz="0 0 1"/></joint>',
            f'<joint name="fix{i}" type="fixed"><parent link="rot{i}"/><child link="link{i}"/>'
            f'<origin xyz="{a!r} 0 {d!r}" rpy="{alpha!r} 0 0"/></joint>',
        ]
    parts.append("</robot>")
    return "\n".join(parts)
