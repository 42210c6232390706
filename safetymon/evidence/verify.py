"""Verification of an evidence database: the hash chain, the numbering, the head and snapshots.

What it proves: every record is exactly as written, none was removed from the middle, none
was moved, the last record is the head the store recorded, and every snapshot file is the
one whose SHA-256 was recorded. What it cannot prove on its own: someone with write access
can rebuild the whole chain (or cut the tail and rewrite the head). Against that, write the
head hash down elsewhere (``safetymon verify`` prints it) and check later with
``expect_head``: an anchored hash must still be in the chain.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetymon.evidence.canonical import GENESIS_HASH, body_hash, file_sha256
from safetymon.evidence.reader import iter_records, open_readonly, read_meta
from safetymon.evidence.records import EPISODE
from safetymon.evidence.schema import SCHEMA_VERSION
from safetymon.evidence.signing import (
    StoreKeyError,
    fingerprint,
    head_signature_ok,
    key_path,
    load_key_file,
    public_key_hex,
)

_BODY_KEYS = {"kind", "payload", "prev", "time_utc"}
_dumps = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


@dataclass(frozen=True)
class Problem:
    """The first thing found wrong.

    ``what``: ``edited``, ``deleted``, ``reordered``, ``truncated``, ``snapshot_changed``,
    ``snapshot_missing``, ``anchor_missing``, ``corrupt``, ``schema``, ``signature`` (the
    head's signature does not verify with the store's public key), ``key_replaced`` (the
    key file or the recorded public key is not the expected one).
    """

    seq: int | None
    what: str
    detail: str

    def __str__(self) -> str:
        where = f"record #{self.seq}" if self.seq is not None else "database"
        return f"{where}: {self.what}: {self.detail}"


@dataclass
class VerifyResult:
    """Outcome of ``verify_store``."""

    path: Path
    records: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    first_time_utc: str | None = None
    last_time_utc: str | None = None
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    first_hash: str | None = None
    snapshots_checked: int = 0
    schema_version: int | None = None
    store_id: str | None = None
    anchor_seq: int | None = None
    public_key: str | None = None
    signature: str = "unsigned"
    """``unsigned`` (a store made before signing), ``valid`` or ``invalid``."""
    key_added_at_seq: int | None = None
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        """True when nothing was found wrong."""
        return self.problem is None

    def _signature_line(self) -> str:
        if self.public_key is None:
            return "unsigned (a store made before signing; no Ed25519 key)"
        since = f", signed from record #{self.key_added_at_seq}" if self.key_added_at_seq else ""
        return (
            f"{self.signature} (Ed25519 key {self.public_key}, fingerprint "
            f"{fingerprint(self.public_key)}{since})"
        )

    def summary(self) -> str:
        """A few human-readable lines."""
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.kinds.items())) or "none"
        lines = [
            f"{self.path}: {'OK' if self.ok else 'FAILED'}",
            f"records: {self.records} ({kinds})",
            f"time: {self.first_time_utc or '-'} .. {self.last_time_utc or '-'}",
            f"snapshots checked: {self.snapshots_checked}",
            f"store id: {self.store_id}  schema version: {self.schema_version}",
            f"head: #{self.head_seq} {self.head_hash}",
            f"signature: {self._signature_line()}",
        ]
        if self.anchor_seq is not None:
            lines.append(f"expected head found at record #{self.anchor_seq}")
        if self.problem:
            lines.append(f"problem: {self.problem}")
        return "\n".join(lines)


def _hash_location(conn: sqlite3.Connection, digest: str) -> int | None:
    row = conn.execute("SELECT seq FROM records WHERE hash = ? LIMIT 1", (digest,)).fetchone()
    return None if row is None else int(row[0])


def _check_snapshots(payload: Any, db_dir: Path, result: VerifyResult) -> tuple[str, str] | None:
    for snap in payload.get("snapshots", []) if isinstance(payload, dict) else []:
        path = db_dir / str(snap.get("file", ""))
        if not path.is_file():
            return "snapshot_missing", f"camera {snap.get('camera_id')!r}: {path} is missing"
        digest = file_sha256(path)
        result.snapshots_checked += 1
        if digest != snap.get("sha256"):
            return (
                "snapshot_changed",
                f"camera {snap.get('camera_id')!r}: {path} has SHA-256 {digest}, "
                f"recorded {snap.get('sha256')}",
            )
    return None


def verify_store(
    path: str | Path,
    *,
    expect_head: str | None = None,
    check_snapshots: bool = True,
    integrity_check: bool = True,
    expect_key: str | None = None,
) -> VerifyResult:
    """Recompute the chain and snapshot hashes; the result names the first problem.

    Signed stores: the head signature must verify with the recorded public key, the key file
    beside the store (when readable) must hold that key, and ``expect_key`` (a public key or
    its fingerprint written down earlier) must match it. Unsigned stores verify as before.

    Raises ``ReadError`` when the file is missing or not a safetymon store at all.
    """
    path = Path(path)
    result = VerifyResult(path)
    conn = open_readonly(path)
    try:
        _verify(conn, path, result, expect_head, check_snapshots, integrity_check)
        if result.ok:
            _check_signature(read_meta(conn), path, result, expect_key)
    except sqlite3.DatabaseError as error:
        result.problem = Problem(None, "corrupt", f"SQLite error while reading: {error}")
    finally:
        conn.close()
    return result


def _verify(
    conn: sqlite3.Connection,
    path: Path,
    result: VerifyResult,
    expect_head: str | None,
    check_snapshots: bool,
    integrity_check: bool,
) -> None:
    if integrity_check:
        status = [row[0] for row in conn.execute("PRAGMA quick_check")]
        if status != ["ok"]:
            result.problem = Problem(None, "corrupt", "; ".join(map(str, status[:5])))
            return
    meta = read_meta(conn)
    result.store_id = meta.get("store_id")
    try:
        result.schema_version = int(meta.get("schema_version", ""))
    except ValueError:
        result.problem = Problem(None, "schema", f"schema_version {meta.get('schema_version')!r}")
        return
    if result.schema_version > SCHEMA_VERSION:
        result.problem = Problem(
            None, "schema", f"version {result.schema_version} is newer than {SCHEMA_VERSION}"
        )
        return
    db_dir = path.parent
    prev_seq, prev_hash = 0, GENESIS_HASH
    for rec in iter_records(conn):
        problem, body = _check_record(conn, rec, prev_seq, prev_hash)
        if problem is None and check_snapshots and rec.kind == EPISODE:
            found = _check_snapshots(body.get("payload"), db_dir, result)
            if found:
                problem = Problem(rec.seq, *found)
        if problem is not None:
            result.problem = problem
            return
        result.records += 1
        result.kinds[rec.kind] += 1
        result.first_time_utc = result.first_time_utc or rec.time_utc
        result.last_time_utc = rec.time_utc
        result.first_hash = result.first_hash or rec.hash
        if expect_head is not None and rec.hash == expect_head:
            result.anchor_seq = rec.seq
        prev_seq, prev_hash = rec.seq, rec.hash
    result.head_seq, result.head_hash = prev_seq, prev_hash
    meta_head = (meta.get("head_seq"), meta.get("head_hash"))
    if meta_head != (str(prev_seq), prev_hash):
        result.problem = Problem(
            prev_seq + 1 if meta_head[0] and meta_head[0].isdigit() else None,
            "truncated",
            f"the store recorded head #{meta_head[0]} {meta_head[1]} but the last record is "
            f"#{prev_seq} {prev_hash}: records after #{prev_seq} were deleted "
            "(or meta was edited)",
        )
        return
    if expect_head is not None and result.anchor_seq is None:
        result.problem = Problem(
            None,
            "anchor_missing",
            f"expected head {expect_head} is not in the chain: the chain was rebuilt or cut "
            "back before that record",
        )


def _check_signature(
    meta: dict[str, str], path: Path, result: VerifyResult, expect_key: str | None
) -> None:
    """Head signature, key file and expected key of a signed store (see ``signing``)."""
    public = meta.get("public_key")
    if public is None:
        if expect_key is not None:
            result.problem = Problem(
                None, "key_replaced", f"expected key {expect_key} but the store is unsigned"
            )
        return
    result.public_key = public
    added = meta.get("key_added_at_seq")
    result.key_added_at_seq = int(added) if added and added.isdigit() else None
    ok = head_signature_ok(
        public, str(result.store_id), result.head_seq, result.head_hash,
        meta.get("head_signature", ""),
    )  # fmt: skip
    result.signature = "valid" if ok else "invalid"
    if not ok:
        result.problem = Problem(
            result.head_seq or None,
            "signature",
            f"the signature of head #{result.head_seq} {result.head_hash} does not verify with "
            f"the store's public key {public}: signed by another key, or the head was rewritten",
        )
        return
    if expect_key is not None and expect_key not in (public, fingerprint(public)):
        result.problem = Problem(
            None,
            "key_replaced",
            f"the store's public key is {public} (fingerprint {fingerprint(public)}), "
            f"expected {expect_key}: the key was replaced",
        )
        return
    try:
        held = public_key_hex(load_key_file(key_path(path)))
    except StoreKeyError:
        return  # the key file may be unreadable to the verifying account: not evidence
    if held != public:
        result.problem = Problem(
            None,
            "key_replaced",
            f"the key file {key_path(path)} holds public key {held}, the store records {public}",
        )


def check_record(
    rec: Any, prev_seq: int, prev_hash: str, locate: Callable[[str], int | None]
) -> tuple[Problem | None, dict[str, Any]]:
    """The first problem of record ``rec`` after (``prev_seq``, ``prev_hash``), and its body.

    ``rec`` has ``seq``, ``kind``, ``time_utc``, ``body`` and ``hash``; ``locate(hash)`` gives
    the seq of the record with that hash, or None (used to tell reordering from deletion).
    The centre checks shipped records with the same function.
    """
    return _check_record(locate, rec, prev_seq, prev_hash)


def _check_record(
    conn: sqlite3.Connection | Callable[[str], int | None],
    rec: Any,
    prev_seq: int,
    prev_hash: str,
) -> tuple[Problem | None, dict[str, Any]]:
    """The record's first problem (or None) and its parsed body."""
    seq = rec.seq
    try:
        body = json.loads(rec.body)
        canonical = isinstance(body, dict) and body.keys() == _BODY_KEYS
        # json.loads yields only JSON types, so the fast encoder gives the canonical text
        # (allow_nan=False refuses a NaN/Infinity literal that json.loads accepted)
        canonical = canonical and _dumps(body) == rec.body
    except (ValueError, TypeError):
        body, canonical = None, False
    if not canonical or not isinstance(body, dict):
        return Problem(seq, "edited", "body is not the canonical JSON of a record"), {}
    return _check_chain(conn, rec, body, prev_seq, prev_hash), body


def _check_chain(
    conn: sqlite3.Connection | Callable[[str], int | None],
    rec: Any,
    body: dict[str, Any],
    prev_seq: int,
    prev_hash: str,
) -> Problem | None:
    """Hash, index columns and the link to the previous record."""
    seq = rec.seq
    if body_hash(rec.body) != rec.hash:
        return Problem(seq, "edited", "content does not match its hash")
    if (body["kind"], body["time_utc"]) != (rec.kind, rec.time_utc):
        return Problem(
            seq,
            "edited",
            f"columns kind/time_utc ({rec.kind!r}, {rec.time_utc!r}) differ from the hashed "
            f"body ({body['kind']!r}, {body['time_utc']!r})",
        )
    if body["prev"] == prev_hash:
        if seq != prev_seq + 1:
            return Problem(seq, "edited", f"renumbered: expected #{prev_seq + 1}")
        return None
    if isinstance(conn, sqlite3.Connection):
        moved = _hash_location(conn, str(body["prev"]))
    else:
        moved = conn(str(body["prev"]))
    if moved is not None and moved != prev_seq:
        return Problem(
            seq,
            "reordered",
            f"it was written after record #{moved} but now follows "
            + (f"record #{prev_seq}" if prev_seq else "the start of the chain"),
        )
    if seq != prev_seq + 1:
        missing = f"#{prev_seq + 1}" + (f"..#{seq - 1}" if seq - 1 > prev_seq + 1 else "")
        return Problem(seq, "deleted", f"record(s) {missing} before it are missing")
    if prev_seq == 0:
        return Problem(seq, "deleted", "the records before it (start of the chain) are missing")
    return Problem(
        prev_seq,
        "edited",
        f"it was changed and re-hashed: record #{seq} was chained to {body['prev']}, "
        f"but #{prev_seq} now hashes to {prev_hash}",
    )
