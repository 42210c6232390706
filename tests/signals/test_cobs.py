"""COBS framing: known vectors, round trips, and the streaming decoder's resynchronisation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safetymon.signals.cobs import (
    CobsError,
    CobsStreamDecoder,
    decode,
    encode,
    encode_packet,
    max_encoded_len,
)

# Wire form (with the trailing 0x00) of the examples in Wikipedia's "Consistent Overhead Byte
# Stuffing" article, which follow Cheshire & Baker's paper.
VECTORS: list[tuple[bytes, bytes]] = [
    (b"\x00", b"\x01\x01\x00"),
    (b"\x00\x00", b"\x01\x01\x01\x00"),
    (b"\x00\x11\x00", b"\x01\x02\x11\x01\x00"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33\x00"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44\x00"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01\x00"),
    (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255)) + b"\x00"),
    (b"\x00" + bytes(range(1, 255)), b"\x01\xff" + bytes(range(1, 255)) + b"\x00"),
    (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff\x00"),
    (bytes(range(2, 256)) + b"\x00", b"\xff" + bytes(range(2, 256)) + b"\x01\x01\x00"),
    (bytes(range(3, 256)) + b"\x00\x01", b"\xfe" + bytes(range(3, 256)) + b"\x02\x01\x00"),
]


@pytest.mark.parametrize(("payload", "wire"), VECTORS)
def test_known_vectors(payload: bytes, wire: bytes) -> None:
    assert encode_packet(payload) == wire
    assert decode(wire[:-1]) == payload
    assert CobsStreamDecoder().feed(wire) == [payload]


@pytest.mark.parametrize(
    "bad",
    [b"", b"\x05ab", b"\x02a\x00", b"\x03\x11", b"\xff" + b"\x01" * 10],
    ids=["empty", "truncated", "zero-inside", "short-block", "long-code-truncated"],
)
def test_decode_rejects_invalid(bad: bytes) -> None:
    with pytest.raises(CobsError):
        decode(bad)
    assert issubclass(CobsError, ValueError)


def test_max_encoded_len() -> None:
    assert max_encoded_len(0) == 1
    assert max_encoded_len(254) == 255
    assert max_encoded_len(255) == 257
    with pytest.raises(ValueError):
        max_encoded_len(-1)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=700))
def test_round_trip(payload: bytes) -> None:
    enc = encode(payload)
    assert 0 not in enc
    assert len(enc) <= max_encoded_len(len(payload))
    assert decode(enc) == payload


@settings(max_examples=200, deadline=None)
@given(
    payloads=st.lists(st.binary(min_size=1, max_size=80), min_size=1, max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=20),
)
def test_stream_over_random_splits(payloads: list[bytes], cuts: list[int]) -> None:
    wire = b"".join(encode_packet(p) for p in payloads)
    points = sorted({c % (len(wire) + 1) for c in cuts})
    dec = CobsStreamDecoder()
    out: list[bytes] = []
    prev = 0
    for p in [*points, len(wire)]:
        out += dec.feed(wire[prev:p])
        prev = p
    assert out == payloads
    assert dec.errors == 0 and dec.overflows == 0 and dec.pending == 0


@settings(max_examples=200, deadline=None)
@given(
    garbage=st.binary(max_size=300),
    payloads=st.lists(st.binary(min_size=1, max_size=60), min_size=1, max_size=5),
    split=st.integers(min_value=0, max_value=10_000),
)
def test_stream_resynchronises_after_garbage(
    garbage: bytes, payloads: list[bytes], split: int
) -> None:
    """Whatever precedes the first delimiter may yield junk; every packet after it is exact."""
    dec = CobsStreamDecoder(max_packet_len=128)
    wire = garbage + b"\x00" + b"".join(encode_packet(p) for p in payloads)
    k = split % (len(wire) + 1)
    out = dec.feed(wire[:k]) + dec.feed(wire[k:])
    # Garbage yields at most one packet per delimiter it contains (+1 for the forced one).
    junk = out[: len(out) - len(payloads)]
    assert len(junk) <= garbage.count(0) + 1
    assert out[len(junk) :] == payloads


def test_garbage_without_delimiter_is_bounded_and_dropped() -> None:
    dec = CobsStreamDecoder(max_packet_len=16)
    assert dec.feed(b"\x07" * 1000) == []
    assert dec.overflows == 1
    assert dec.pending == 0
    assert dec.feed(b"\x00" + encode_packet(b"ok")) == [b"ok"]


def test_invalid_packet_counted_then_next_packet_decoded() -> None:
    dec = CobsStreamDecoder()
    assert dec.feed(b"\x09abc\x00" + encode_packet(b"\x00x")) == [b"\x00x"]
    assert dec.errors == 1
    assert dec.packets == 1


def test_consecutive_delimiters_are_ignored() -> None:
    dec = CobsStreamDecoder()
    assert dec.feed(b"\x00\x00\x00" + encode_packet(b"a") + b"\x00") == [b"a"]
    assert dec.errors == 0


def test_reset_drops_partial_packet() -> None:
    dec = CobsStreamDecoder()
    wire = encode_packet(b"hello")
    assert dec.feed(wire[:3]) == []
    dec.reset()
    assert dec.pending == 0
    assert dec.feed(wire) == [b"hello"]
