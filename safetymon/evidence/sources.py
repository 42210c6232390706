"""Where the plan report reads evidence from: a small reader interface and its SQLite form.

The report needs, per store: its records in ``seq`` order, the status of its chain and
signature, and the bytes of an episode's snapshot. ``EvidenceSource`` is that interface;
``SqliteSource`` reads one local store (read-only). The central PostgreSQL copy (many stores,
``safetymon/fleet/``) implements the same methods and plugs in unchanged; it also offers
``verified_records(store_id, on_status)`` (records and chain status in one walk), which the
report uses when a source has it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from safetymon.evidence.canonical import file_sha256
from safetymon.evidence.reader import StoredRecord, iter_records, open_readonly, read_meta
from safetymon.evidence.signing import fingerprint
from safetymon.evidence.verify import verify_store


@dataclass(frozen=True)
class ChainStatus:
    """Verification of one store: chain, head, signature.

    ``signature``: ``valid``, ``invalid`` or ``unsigned`` (a store made before signing), or
    ``not checked ...`` when the chain failed before the signature was reached.
    """

    store_id: str
    location: str
    ok: bool
    problem: str | None
    records: int
    head_seq: int
    head_hash: str
    signature: str
    key_fingerprint: str | None = None
    snapshots_checked: int = 0
    first_time_utc: str | None = None
    last_time_utc: str | None = None
    file_sha256: str | None = None


class EvidenceSource(Protocol):
    """Read access to one or more evidence stores (SQLite file, or the central copy)."""

    label: str
    """What the reader reads (a file path or a database URL without password)."""

    def store_ids(self) -> list[str]:
        """The stores held, in a stable order."""
        ...

    def records(self, store_id: str) -> Iterator[StoredRecord]:
        """The store's records in ``seq`` order (streamed)."""
        ...

    def chain_status(self, store_id: str) -> ChainStatus:
        """Verify the store's chain and head signature."""
        ...

    def snapshot(self, store_id: str, file: str) -> bytes | None:
        """The bytes of a snapshot (``file`` as recorded in the episode), None if not held."""
        ...


class SqliteSource:
    """One local SQLite evidence store, read-only (``ReadError`` if it is not one)."""

    def __init__(self, path: str | Path, *, expect_head: str | None = None) -> None:
        self.path = Path(path)
        self.label = str(self.path)
        self.expect_head = expect_head
        conn = open_readonly(self.path)
        try:
            meta = read_meta(conn)
        finally:
            conn.close()
        self._store_id = meta.get("store_id") or self.path.name
        self._public_key = meta.get("public_key")

    def store_ids(self) -> list[str]:
        """The one store of the file."""
        return [self._store_id]

    def records(self, store_id: str) -> Iterator[StoredRecord]:
        """Every record in ``seq`` order."""
        self._check(store_id)
        conn = open_readonly(self.path)
        try:
            yield from iter_records(conn)
        finally:
            conn.close()

    def chain_status(self, store_id: str) -> ChainStatus:
        """``verify_store`` with snapshots, plus the file's SHA-256 at report time."""
        self._check(store_id)
        result = verify_store(self.path, expect_head=self.expect_head)
        signature = result.signature
        public = result.public_key or self._public_key
        if result.public_key is None and self._public_key is not None:
            signature = "not checked (the chain failed first)"
        return ChainStatus(
            store_id=store_id,
            location=self.label,
            ok=result.ok,
            problem=None if result.problem is None else str(result.problem),
            records=result.records,
            head_seq=result.head_seq,
            head_hash=result.head_hash,
            signature=signature,
            key_fingerprint=fingerprint(public) if public else None,
            snapshots_checked=result.snapshots_checked,
            first_time_utc=result.first_time_utc,
            last_time_utc=result.last_time_utc,
            file_sha256=file_sha256(self.path),
        )

    def snapshot(self, store_id: str, file: str) -> bytes | None:
        """The JPEG beside the database (``file`` relative to its folder), None if absent."""
        self._check(store_id)
        root = self.path.parent.resolve()
        path = (root / file).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return None  # never read outside the store's folder
        try:
            return path.read_bytes()
        except OSError:
            return None

    def _check(self, store_id: str) -> None:
        if store_id != self._store_id:
            raise KeyError(f"{self.label} holds store {self._store_id}, not {store_id}")
