"""COBS byte framing for the serial link (Cheshire & Baker, 1999).

On the wire every safety frame travels as ``COBS(frame bytes) + b"\\x00"``: COBS removes every
zero byte from the frame, so the single ``0x00`` that follows is an unambiguous delimiter. A
receiver that starts mid-stream, or sees garbage, resynchronises at the next ``0x00``; whatever
it decoded before that is rejected by the frame's own CRC (hw/PROTOCOL.md), never trusted here.

The byte stuffing itself is the ``cobs`` package from PyPI (C extension, pure-Python fallback);
this module adds the delimiter and a bounded streaming decoder.

Example:
    >>> wire = encode_packet(b"\\x11\\x00\\x22")
    >>> wire
    b'\\x02\\x11\\x02"\\x00'
    >>> CobsStreamDecoder().feed(wire[:2] + wire[2:])
    [b'\\x11\\x00"']
"""

from __future__ import annotations

from cobs import cobs as _cobs

DELIMITER = b"\x00"
"""The packet delimiter, the only zero byte on the wire."""

DEFAULT_MAX_PACKET_LEN = 1024
"""Default bound on one encoded packet, bytes (delimiter excluded)."""


class CobsError(ValueError):
    """A packet is not valid COBS (a zero byte inside, or a length code past its end)."""


def max_encoded_len(payload_len: int) -> int:
    """Largest COBS encoding of a ``payload_len``-byte payload, bytes, delimiter excluded."""
    if payload_len < 0:
        raise ValueError("payload_len must be >= 0")
    return payload_len + max(1, (payload_len + 253) // 254)


def encode(payload: bytes) -> bytes:
    """COBS-encode ``payload`` (no delimiter added); the result contains no zero byte."""
    return bytes(_cobs.encode(bytes(payload)))


def decode(encoded: bytes) -> bytes:
    """Decode one COBS packet given without its delimiter.

    Raises:
        CobsError: ``encoded`` is empty, contains a zero byte, or is truncated.
    """
    if not encoded:
        raise CobsError("empty COBS packet")
    try:
        return bytes(_cobs.decode(bytes(encoded)))
    except _cobs.DecodeError as exc:
        raise CobsError(str(exc)) from None


def encode_packet(payload: bytes) -> bytes:
    """Wire form of one payload: ``COBS(payload) + b"\\x00"``."""
    return encode(payload) + DELIMITER


class CobsStreamDecoder:
    """Split a byte stream at ``0x00`` delimiters and COBS-decode each packet.

    Never raises on bad input: an invalid packet is dropped and counted in ``errors``; bytes
    beyond ``max_packet_len`` without a delimiter are dropped (``overflows``) until the next
    delimiter, which resynchronises. Empty packets (consecutive delimiters) are ignored, so a
    sender may emit a lone ``0x00`` to flush a receiver. Not thread-safe: one reader per decoder.

    Args:
        max_packet_len: bound on one encoded packet, bytes (delimiter excluded); bounds memory.
    """

    def __init__(self, max_packet_len: int = DEFAULT_MAX_PACKET_LEN) -> None:
        if max_packet_len < 1:
            raise ValueError("max_packet_len must be >= 1")
        self.max_packet_len = max_packet_len
        self.errors = 0
        """Packets dropped because they were not valid COBS."""
        self.overflows = 0
        """Packets dropped because they exceeded ``max_packet_len``."""
        self.packets = 0
        """Packets decoded successfully."""
        self._buf = bytearray()
        self._discarding = False

    @property
    def pending(self) -> int:
        """Bytes buffered since the last delimiter, not yet a complete packet."""
        return len(self._buf)

    def reset(self) -> None:
        """Drop any partial packet (e.g. after reopening the port); counters are kept."""
        self._buf.clear()
        self._discarding = False

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the payloads of every packet they complete, in order."""
        out: list[bytes] = []
        start = 0
        n = len(data)
        while start < n:
            end = data.find(0, start)
            chunk = data[start:] if end < 0 else data[start:end]
            if not self._discarding:
                if len(self._buf) + len(chunk) > self.max_packet_len:
                    self._buf.clear()
                    self._discarding = True
                    self.overflows += 1
                else:
                    self._buf += chunk
            if end < 0:
                break
            if not self._discarding and self._buf:
                try:
                    out.append(decode(self._buf))
                    self.packets += 1
                except CobsError:
                    self.errors += 1
            self._buf.clear()
            self._discarding = False
            start = end + 1
        return out
