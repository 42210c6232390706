"""The robot state message (JSON, schema ``safetymon.robot_state/1``), see hw/ROBOT_STATE.md.

One message = the state of one robot at one capture time. Positions in metres, angles in
radians, velocities in m/s or rad/s. ``links`` endpoints are in the robot's base frame;
``base`` is the base frame's pose in the floor frame (metres, z up). Parsing rejects
non-finite numbers (``NaN``, ``Infinity``, overflowing literals) before any other check so
that they are counted as their own kind of rejection.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, ValidationError, model_validator

from safetymon.config.base import StrictModel
from safetymon.config.zones import IDENTIFIER_PATTERN

SCHEMA_V1 = "safetymon.robot_state/1"
MAX_MESSAGE_BYTES = 65_536

# strict: "7" is not a number; a JSON array may still fill a tuple (its floats stay strict)
Vector3 = Annotated[tuple[float, float, float], Field(strict=False)]


class _MessageModel(StrictModel):
    """Message models: unknown fields, non-finite floats and type coercion are refused."""

    model_config = ConfigDict(
        extra="forbid", allow_inf_nan=False, validate_default=True, strict=True
    )


class BaseState(_MessageModel):
    """Pose (and optionally velocity) of the robot base in the floor frame."""

    x_m: float = Field(description="Base origin x on the floor, metres.")
    y_m: float = Field(description="Base origin y on the floor, metres.")
    yaw_rad: float = Field(description="Rotation about the floor z axis, radians.")
    z_m: float = Field(0.0, description="Base origin height, metres.")
    vx_mps: float | None = Field(None, description="Base velocity x (floor frame), m/s.")
    vy_mps: float | None = Field(None, description="Base velocity y (floor frame), m/s.")
    yaw_rate_radps: float | None = Field(None, description="Yaw rate, rad/s.")

    @model_validator(mode="after")
    def _all_or_no_velocity(self) -> BaseState:
        given = [v is not None for v in (self.vx_mps, self.vy_mps, self.yaw_rate_radps)]
        if any(given) and not all(given):
            raise ValueError("give all of vx_mps, vy_mps, yaw_rate_radps or none")
        return self

    @property
    def has_velocity(self) -> bool:
        """Whether the base velocity is given."""
        return self.vx_mps is not None


class JointState(_MessageModel):
    """Joint positions (rad or m) and optional velocities (rad/s or m/s), configured order."""

    positions: list[float] = Field(min_length=1, max_length=64)
    velocities: list[float] | None = Field(None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _same_length(self) -> JointState:
        if self.velocities is not None and len(self.velocities) != len(self.positions):
            raise ValueError(
                f"velocities has {len(self.velocities)} values, positions {len(self.positions)}"
            )
        return self


class LinkState(_MessageModel):
    """Link capsules given directly: axis endpoints in the base frame, metres.

    ``vel_a``/``vel_b`` are endpoint velocities in the base frame (m/s, relative to the
    base); ``radius_m`` overrides the robot's configured radius per link.
    """

    a: list[Vector3] = Field(min_length=1, max_length=256)
    b: list[Vector3] = Field(min_length=1, max_length=256)
    radius_m: list[float] | None = None
    vel_a: list[Vector3] | None = None
    vel_b: list[Vector3] | None = None

    @model_validator(mode="after")
    def _same_length(self) -> LinkState:
        count = len(self.a)
        for name in ("b", "radius_m", "vel_a", "vel_b"):
            value = getattr(self, name)
            if value is not None and len(value) != count:
                raise ValueError(f"{name} has {len(value)} entries, a has {count}")
        if (self.vel_a is None) != (self.vel_b is None):
            raise ValueError("give both vel_a and vel_b or neither")
        if self.radius_m is not None and any(r <= 0 for r in self.radius_m):
            raise ValueError(f"radius_m must be > 0, got {self.radius_m}")
        return self


class RobotStateMessage(_MessageModel):
    """State of one robot at ``capture_time_s``; exactly one of ``joints`` / ``links``."""

    schema_: Literal["safetymon.robot_state/1"] = Field(alias="schema")
    robot_id: str = Field(pattern=IDENTIFIER_PATTERN)
    session: str | None = Field(
        None,
        pattern=IDENTIFIER_PATTERN,
        description=(
            "One run of the sender, chosen anew at each start (a random id, a boot counter). "
            "When it changes, sequence and capture_time_s start afresh; the old session's "
            "messages are then refused."
        ),
    )
    sequence: int = Field(
        ge=0, lt=2**63, description="Strictly increasing per robot (and session)."
    )
    capture_time_s: float = Field(
        description="When the state was measured, sender's monotonic clock, seconds."
    )
    base: BaseState | None = Field(None, description="Base pose (default: configured pose).")
    joints: JointState | None = None
    links: LinkState | None = None

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        validate_default=True,
        strict=True,
        populate_by_name=True,
    )

    @model_validator(mode="after")
    def _one_geometry(self) -> RobotStateMessage:
        if (self.joints is None) == (self.links is None):
            raise ValueError("give exactly one of joints or links")
        return self

    def to_json(self) -> bytes:
        """Encode as compact UTF-8 JSON (the wire form)."""
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()


class NonFiniteError(ValueError):
    """A JSON number that is NaN, infinite, or overflows a float."""


class OversizeNumberError(ValueError):
    """An integer literal too long to be a field of a robot state."""


class MessageError(ValueError):
    """A message that cannot be used; ``kind`` is a ``Rejection`` value name."""

    def __init__(self, kind: str, detail: str) -> None:
        """Store the rejection kind and a detail naming the field and value."""
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NonFiniteError(f"non-finite number {text}")
    return value


def _no_constant(text: str) -> float:
    raise NonFiniteError(f"non-finite number {text}")


MAX_INTEGER_DIGITS = 20
"""Longest integer literal accepted (a u64 has 20 digits); longer ones are malformed, never
converted (Python refuses 4,300+ digits with a ValueError, and slowly before that)."""


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INTEGER_DIGITS:
        raise OversizeNumberError(f"integer of {digits} digits (at most {MAX_INTEGER_DIGITS})")
    return int(text)



def parse_message(raw: bytes | str) -> RobotStateMessage:
    """Decode and validate one wire message.

    Raises:
        MessageError: kind ``malformed`` (not UTF-8 JSON, too large, nested too deeply, or
            an integer of more than ``MAX_INTEGER_DIGITS`` digits), ``non_finite``
            (NaN/Infinity/overflow anywhere) or ``schema`` (detail names field and value).
    """
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MessageError("malformed", f"message of {len(raw)} bytes > {MAX_MESSAGE_BYTES}")
    try:
        data = json.loads(
            raw, parse_float=_finite_float, parse_int=_bounded_int, parse_constant=_no_constant
        )
    except NonFiniteError as error:
        raise MessageError("non_finite", str(error)) from None
    except OversizeNumberError as error:
        raise MessageError("malformed", str(error)) from None
    except RecursionError:
        raise MessageError("malformed", "JSON nested too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MessageError("malformed", f"not JSON: {error}") from None
    if not isinstance(data, dict):
        raise MessageError("malformed", f"expected a JSON object, got {type(data).__name__}")
    try:
        return RobotStateMessage.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "message"
        value = json.dumps(first.get("input"), default=str)[:80]
        raise MessageError("schema", f"{where}: {first['msg']} (value: {value})") from None
