"""HMAC-SHA256 tags on robot-state lines (serial and other links without CURVE).

Wire form of an authenticated line (hw/ROBOT_STATE.md): ``TAG SP JSON``, where ``TAG`` is
the 64 lowercase or uppercase hex digits of ``HMAC-SHA256(key, JSON)`` over the JSON bytes
exactly as sent, and ``SP`` one space. The tag proves the line came from a holder of the
shared key; replays of earlier lines are refused by the store's ordering rules (sequence,
capture time, sessions), so a replay is a second sender there, never an accepted state.

Pure functions, no I/O.
"""

from __future__ import annotations

import hashlib
import hmac

TAG_HEX_DIGITS = 64
"""Length of the hex tag (SHA-256: 32 bytes)."""


class UnauthenticatedError(ValueError):
    """A line without a valid tag; ``detail`` says why (never echoes the expected tag)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def tag(key: bytes, payload: bytes) -> bytes:
    """The lowercase hex HMAC-SHA256 of ``payload`` under ``key`` (64 ASCII bytes)."""
    return hmac.new(key, payload, hashlib.sha256).hexdigest().encode("ascii")


def sign_line(key: bytes, payload: bytes) -> bytes:
    """``TAG SP payload``: one authenticated line (without its newline)."""
    return tag(key, payload) + b" " + payload


def verify_line(key: bytes, line: bytes) -> bytes:
    """The JSON payload of an authenticated line.

    Raises:
        UnauthenticatedError: no tag, a malformed tag, or a tag that does not match (compared
            in constant time).
    """
    if len(line) <= TAG_HEX_DIGITS + 1 or line[TAG_HEX_DIGITS : TAG_HEX_DIGITS + 1] != b" ":
        raise UnauthenticatedError(
            f"no HMAC tag: a line must be {TAG_HEX_DIGITS} hex digits, a space and the message"
        )
    given, payload = line[:TAG_HEX_DIGITS].lower(), line[TAG_HEX_DIGITS + 1 :]
    if not all(c in b"0123456789abcdef" for c in given):
        raise UnauthenticatedError("HMAC tag is not hex")
    if not hmac.compare_digest(given, tag(key, payload)):
        raise UnauthenticatedError(
            f"HMAC tag does not match the {len(payload)}-byte message (wrong key, or the "
            "message was changed on the way)"
        )
    return payload
