"""Canonical JSON and the SHA-256 hash chain rule of evidence records.

Canonical JSON: keys sorted, no whitespace, UTF-8 (no ``\\u`` escapes for non-ASCII), finite
floats only (NaN and infinities are refused), only JSON types (dict with str keys, list,
str, int, float, bool, None). Python's float repr is the shortest round-trip form, so
``canonical(json.loads(text)) == text`` for every canonical text.

Chain rule: each record's body is the canonical JSON of
``{"kind": ..., "payload": ..., "prev": <hash of the previous record>, "time_utc": ...}``
and its hash is ``sha256(body)`` in lower-case hex. The first record's ``prev`` is
``GENESIS_HASH`` (64 zeros).
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

GENESIS_HASH = "0" * 64
"""The ``prev`` of the first record of a chain."""


class CanonicalJSONError(ValueError):
    """A value cannot be written as canonical JSON (names the path and the value)."""


def _check(value: Any, path: str) -> None:
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CanonicalJSONError(f"{path or '(top level)'}: non-finite float {value!r}")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalJSONError(f"{path or '(top level)'}: non-string key {key!r}")
            _check(item, f"{path}.{key}" if path else key)
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]")
        return
    raise CanonicalJSONError(
        f"{path or '(top level)'}: {type(value).__name__} is not a JSON type (value {value!r})"
    )


def canonical_json(value: Any) -> str:
    """The canonical JSON text of ``value`` (raises CanonicalJSONError naming the field)."""
    _check(value, "")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_body(kind: str, time_utc: str, prev_hash: str, payload: dict[str, Any]) -> str:
    """The canonical body of one record (what its hash covers)."""
    return canonical_json(
        {"kind": kind, "payload": payload, "prev": prev_hash, "time_utc": time_utc}
    )


def body_hash(body: str) -> str:
    """SHA-256 (hex) of a record body's UTF-8 bytes."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def file_sha256(path: str | Any, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 (hex) of a file's contents, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()
