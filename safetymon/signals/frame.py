"""The safety frame: one fixed-size binary message used on every transport (hw/PROTOCOL.md).

Layout (32 bytes, little-endian)::

    offset size field
    0      2    magic            b"SM" (0x53 0x4D)
    2      1    version          1
    3      1    state            0 STOP, 1 SLOW, 2 RUN (any other value: rejected = STOP)
    4      4    connection_id    u32, configured per monitor/controller pair
    8      4    sequence         u32, +1 per frame, wraps 0xFFFFFFFF -> 0
    12     8    sender_time_ns   u64, sender's monotonic clock in nanoseconds
    20     2    speed_scale      u16, permitted speed fraction in units of 1/65535 (STOP: 0)
    22     2    reserved         u16, must be 0
    24     4    reasons          u32, bit mask of safetymon.signals.reasons.Reason
    28     4    crc32            u32, CRC-32/ISO-HDLC (zlib.crc32) over bytes 0..27

Pure codec: no I/O, no threads; only ``struct``, ``zlib`` and Pydantic.

Example:
    >>> f = SafetyFrame(connection_id=7, sequence=1, sender_time_ns=10**9,
    ...                 state=SafetyState.RUN, speed_scale=1.0, reasons=0)
    >>> decode_frame(encode_frame(f)) == f
    True
"""

from __future__ import annotations

import struct
import zlib
from enum import IntEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from safetymon.signals.reasons import Reason

MAGIC = b"SM"
"""First two bytes of every frame."""
VERSION = 1
"""Protocol version carried in byte 2."""

_BODY = struct.Struct("<2sBBIIQHHI")
_CRC = struct.Struct("<I")
BODY_SIZE: int = _BODY.size
"""Bytes covered by the CRC (0..27)."""
FRAME_SIZE: int = _BODY.size + _CRC.size
"""Total frame size in bytes (32)."""

SPEED_SCALE_UNITS = 0xFFFF
"""Wire speed scale 65535 means 1.0 (full permitted speed)."""
U32_MAX = 0xFFFFFFFF
U64_MAX = 0xFFFFFFFFFFFFFFFF


class ProtocolError(ValueError):
    """A byte string is not a valid safety frame; the receiver must treat it as STOP."""


class SafetyState(IntEnum):
    """Permitted robot state; any value not listed here is treated as STOP."""

    STOP = 0
    SLOW = 1
    RUN = 2


def quantize_speed_scale(speed_scale: float) -> float:
    """Round a speed scale in [0, 1] to the wire grid of 1/65535 (lossless round trip)."""
    return round(speed_scale * SPEED_SCALE_UNITS) / SPEED_SCALE_UNITS


_STATE_VALUES = frozenset(int(s) for s in SafetyState)


class SafetyFrame(BaseModel):
    """One decoded safety frame.

    ``speed_scale`` is quantized to the 1/65535 wire grid on construction, so
    ``decode_frame(encode_frame(f)) == f`` holds exactly. A STOP frame must carry speed 0.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, strict=False)

    connection_id: int = Field(ge=0, le=U32_MAX, description="Connection id (u32).")
    sequence: int = Field(ge=0, le=U32_MAX, description="Sequence number (u32, wraps).")
    sender_time_ns: int = Field(ge=0, le=U64_MAX, description="Sender monotonic time, ns.")
    state: SafetyState = Field(description="Permitted state.")
    speed_scale: float = Field(ge=0.0, le=1.0, description="Permitted speed fraction 0..1.")
    reasons: int = Field(0, ge=0, le=U32_MAX, description="Reason bit mask (u32).")

    @field_validator("speed_scale")
    @classmethod
    def _quantize(cls, value: float) -> float:
        return quantize_speed_scale(value)

    @model_validator(mode="after")
    def _stop_carries_zero(self) -> SafetyFrame:
        if self.state is SafetyState.STOP and self.speed_scale != 0.0:
            raise ValueError(f"a STOP frame must carry speed_scale 0, got {self.speed_scale}")
        return self

    @property
    def version(self) -> int:
        """Protocol version of this frame (always :data:`VERSION`)."""
        return VERSION


def crc32(data: bytes) -> int:
    """CRC-32/ISO-HDLC (poly 0x04C11DB7 reflected, init and xorout 0xFFFFFFFF), as zlib."""
    return zlib.crc32(data) & U32_MAX


def encode_frame(frame: SafetyFrame) -> bytes:
    """Encode a frame into its :data:`FRAME_SIZE` bytes."""
    body = _BODY.pack(
        MAGIC,
        VERSION,
        int(frame.state),
        frame.connection_id,
        frame.sequence,
        frame.sender_time_ns,
        round(frame.speed_scale * SPEED_SCALE_UNITS),
        0,
        frame.reasons,
    )
    return body + _CRC.pack(crc32(body))


def decode_frame(data: bytes) -> SafetyFrame:
    """Decode and check one frame.

    Checks, in order: length, CRC, magic, version, reserved field, state, STOP speed.

    Raises:
        ProtocolError: for any byte string that is not a valid frame (never anything else).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError(f"frame must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) != FRAME_SIZE:
        raise ProtocolError(f"frame length {len(data)} bytes, expected {FRAME_SIZE}")
    (crc_received,) = _CRC.unpack_from(data, BODY_SIZE)
    crc_computed = crc32(data[:BODY_SIZE])
    if crc_received != crc_computed:
        raise ProtocolError(
            f"CRC mismatch: frame carries 0x{crc_received:08X}, computed 0x{crc_computed:08X}"
        )
    magic, version, state, conn, seq, t_ns, speed, reserved, reasons = _BODY.unpack_from(data)
    if magic != MAGIC:
        raise ProtocolError(f"bad magic {magic!r}, expected {MAGIC!r}")
    if version != VERSION:
        raise ProtocolError(f"unsupported protocol version {version}, expected {VERSION}")
    if reserved != 0:
        raise ProtocolError(f"reserved field is 0x{reserved:04X}, must be 0")
    if state not in _STATE_VALUES:
        raise ProtocolError(f"unknown state value {state} (treated as STOP)")
    if state == SafetyState.STOP and speed != 0:
        raise ProtocolError(f"STOP frame carries speed_scale {speed}/65535, must be 0")
    try:
        return SafetyFrame(
            connection_id=conn,
            sequence=seq,
            sender_time_ns=t_ns,
            state=SafetyState(state),
            speed_scale=speed / SPEED_SCALE_UNITS,
            reasons=reasons,
        )
    except ValidationError as exc:  # pragma: no cover - every field range is checked above
        raise ProtocolError(f"invalid frame: {exc}") from exc


def frame_to_json(frame: SafetyFrame) -> dict[str, Any]:
    """JSON-ready debugging view of a frame (hw/PROTOCOL.md, "JSON view")."""
    return {
        "version": VERSION,
        "connection_id": frame.connection_id,
        "sequence": frame.sequence,
        "sender_time_ns": frame.sender_time_ns,
        "state": frame.state.name,
        "speed_scale": frame.speed_scale,
        "speed_scale_raw": round(frame.speed_scale * SPEED_SCALE_UNITS),
        "reasons": frame.reasons,
        "reason_names": Reason(frame.reasons).names,
        "hex": encode_frame(frame).hex(),
    }
