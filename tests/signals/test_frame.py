"""Safety frame codec: layout, round trip, spec test vectors, fuzzing."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from safetymon.signals.frame import (
    FRAME_SIZE,
    VERSION,
    ProtocolError,
    SafetyFrame,
    SafetyState,
    crc32,
    decode_frame,
    encode_frame,
    frame_to_json,
)
from safetymon.signals.reasons import Reason

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL_MD = ROOT / "hw" / "PROTOCOL.md"


def raw_frame(
    state: int = 2,
    conn: int = 1,
    seq: int = 0,
    t_ns: int = 1_000_000_000,
    speed: int = 0xFFFF,
    reasons: int = 0,
    *,
    version: int = 1,
    reserved: int = 0,
    magic: bytes = b"SM",
) -> bytes:
    """Build a frame field by field with a valid CRC (independent of the codec)."""
    body = struct.pack(
        "<2sBBIIQHHI", magic, version, state, conn, seq, t_ns, speed, reserved, reasons
    )
    return body + struct.pack("<I", zlib.crc32(body))


frames = st.builds(
    lambda state, conn, seq, t, scale, reasons: SafetyFrame(
        connection_id=conn,
        sequence=seq,
        sender_time_ns=t,
        state=state,
        speed_scale=0.0 if state is SafetyState.STOP else scale,
        reasons=reasons,
    ),
    st.sampled_from(SafetyState),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**64 - 1),
    st.floats(0.0, 1.0),
    st.integers(0, 2**32 - 1),
)


def test_layout_constants() -> None:
    assert FRAME_SIZE == 32
    assert VERSION == 1
    assert crc32(b"123456789") == 0xCBF43926  # CRC-32/ISO-HDLC check value


def test_encode_matches_independent_layout() -> None:
    frame = SafetyFrame(
        connection_id=0x12345678,
        sequence=0xFFFFFFFF,
        sender_time_ns=123_456_789_012_345,
        state=SafetyState.SLOW,
        speed_scale=0.5,
        reasons=Reason.SEPARATION_WARNING | Reason.WARNING_ZONE,
    )
    assert encode_frame(frame) == raw_frame(
        1, 0x12345678, 0xFFFFFFFF, 123_456_789_012_345, 32768, 0x14
    )


@given(frames)
def test_round_trip(frame: SafetyFrame) -> None:
    data = encode_frame(frame)
    assert len(data) == FRAME_SIZE
    assert decode_frame(data) == frame
    assert encode_frame(decode_frame(data)) == data


def test_stop_must_carry_zero_speed() -> None:
    with pytest.raises(ValidationError, match="STOP"):
        SafetyFrame(connection_id=1, sequence=0, sender_time_ns=0, state=0, speed_scale=0.5)
    with pytest.raises(ProtocolError, match="STOP frame carries speed_scale"):
        decode_frame(raw_frame(state=0, speed=1))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("connection_id", -1),
        ("connection_id", 2**32),
        ("sequence", 2**32),
        ("sender_time_ns", 2**64),
        ("speed_scale", 1.5),
        ("speed_scale", float("nan")),
        ("reasons", 2**32),
        ("state", 3),
    ],
)
def test_model_rejects_out_of_range(field: str, value: object) -> None:
    kwargs: dict[str, object] = dict(
        connection_id=1, sequence=0, sender_time_ns=0, state=SafetyState.RUN, speed_scale=1.0
    )
    kwargs[field] = value
    with pytest.raises(ValidationError):
        SafetyFrame(**kwargs)  # type: ignore[arg-type]


def test_model_is_frozen_and_strict() -> None:
    frame = SafetyFrame(connection_id=1, sequence=0, sender_time_ns=0, state=2, speed_scale=1.0)
    with pytest.raises(ValidationError):
        frame.sequence = 5  # type: ignore[misc]
    with pytest.raises(ValidationError):
        SafetyFrame(connection_id=1, sequence=0, sender_time_ns=0, state=2, speed_scale=1, x=1)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "length 0"),
        (raw_frame()[:31], "length 31"),
        (raw_frame() + b"\0", "length 33"),
        (raw_frame(state=3), "unknown state value 3"),
        (raw_frame(state=255), "unknown state value 255"),
        (raw_frame(version=2), "unsupported protocol version 2"),
        (raw_frame(reserved=1), "reserved field"),
        (raw_frame(magic=b"MS"), "bad magic"),
        (raw_frame()[:28] + b"\0\0\0\0", "CRC mismatch"),
    ],
)
def test_decode_rejects(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode_frame(data)


def test_decode_rejects_non_bytes() -> None:
    with pytest.raises(ProtocolError, match="must be bytes"):
        decode_frame("not bytes")  # type: ignore[arg-type]


@settings(max_examples=500)
@given(st.binary(max_size=80))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    try:
        frame = decode_frame(data)
    except ProtocolError:
        return
    assert encode_frame(frame) == data  # anything accepted is canonical


@settings(max_examples=500)
@given(frames, st.sets(st.integers(0, FRAME_SIZE * 8 - 1), max_size=5))
def test_fuzz_bit_flips(frame: SafetyFrame, bits: set[int]) -> None:
    data = bytearray(encode_frame(frame))
    for bit in bits:
        data[bit // 8] ^= 1 << (bit % 8)
    if not bits:
        assert decode_frame(bytes(data)) == frame
        return
    # CRC-32 has Hamming distance 6 at this length: every 1..5-bit error is detected.
    with pytest.raises(ProtocolError):
        decode_frame(bytes(data))


def test_frame_to_json() -> None:
    frame = decode_frame(raw_frame(state=1, speed=32768, reasons=0x14 | (1 << 31)))
    view = frame_to_json(frame)
    assert view["state"] == "SLOW"
    assert view["speed_scale_raw"] == 32768
    assert view["reason_names"] == ["SEPARATION_WARNING", "WARNING_ZONE", "BIT31"]
    assert bytes.fromhex(view["hex"]) == encode_frame(frame)


_ROW = re.compile(r"^\| (?P<id>[VX]\d+) \| [^|]+ \| `(?P<hex>[0-9a-f]+)` \| (?P<decoded>[^|]+) \|$")


def _vectors() -> list[tuple[str, bytes, str]]:
    rows = []
    for line in PROTOCOL_MD.read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line)
        if m:
            rows.append((m["id"], bytes.fromhex(m["hex"]), m["decoded"].strip()))
    return rows


def test_protocol_md_vectors() -> None:
    vectors = _vectors()
    assert {v[0] for v in vectors} >= {"V1", "V2", "V3", "V4", "X1", "X2", "X3", "X4", "X5"}
    for vid, data, decoded in vectors:
        if vid.startswith("X"):
            message = decoded.removeprefix("error: ")
            with pytest.raises(ProtocolError, match=message):
                decode_frame(data)
            continue
        frame = decode_frame(data)
        fields = dict(item.split("=") for item in decoded.split())
        assert frame.connection_id == int(fields["connection_id"]), vid
        assert frame.sequence == int(fields["sequence"]), vid
        assert frame.sender_time_ns == int(fields["sender_time_ns"]), vid
        assert frame.state.name == fields["state"], vid
        assert frame_to_json(frame)["speed_scale_raw"] == int(fields["speed"]), vid
        assert frame.reasons == int(fields["reasons"], 16), vid
        assert encode_frame(frame) == data, vid


def test_protocol_md_names_existing_tests() -> None:
    text = PROTOCOL_MD.read_text(encoding="utf-8")
    names = set(re.findall(r"`(test_[a-z0-9_]+)`", text))
    assert len(names) >= 16
    sources = "".join(
        p.read_text(encoding="utf-8") for p in (ROOT / "tests" / "signals").glob("test_*.py")
    )
    missing = sorted(n for n in names if f"def {n}(" not in sources)
    assert not missing, f"hw/PROTOCOL.md names tests that do not exist: {missing}"
