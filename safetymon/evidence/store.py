"""The evidence store: an append-only SQLite file whose records form a SHA-256 hash chain.

SQLite runs in WAL mode with ``synchronous=FULL``: ``append`` returns only after the record
and the new chain head are committed and synced, so a crash (or power loss, as far as the
disk honours flushes) never loses a record whose append returned. Every failure raises
``StoreError`` naming what failed; the caller (``EvidenceWriter`` or the monitor) turns it
into a fault, which by default is a STOP cause.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from safetymon.evidence.canonical import (
    GENESIS_HASH,
    CanonicalJSONError,
    body_hash,
    record_body,
)
from safetymon.evidence.records import (
    EPISODE,
    KIND_PATTERN,
    RUN_START,
    RUN_STOP,
    UTC_PATTERN,
    Episode,
    RunStart,
    RunStop,
    utc_now,
)
from safetymon.evidence.schema import SchemaError, migrate
from safetymon.evidence.signing import StoreKeyError
from safetymon.evidence.store_keys import StoreSigner, open_signer

Synchronous = Literal["FULL", "NORMAL", "OFF"]
_SYNC_VALUES = {"OFF": 0, "NORMAL": 1, "FULL": 2}
_KIND = re.compile(KIND_PATTERN)
_UTC = re.compile(UTC_PATTERN)


class StoreError(Exception):
    """The evidence store cannot open or record (the message says which file and why)."""


@dataclass(frozen=True)
class AppendResult:
    """A record that is durable: its number, chain hash and wall time."""

    seq: int
    hash: str
    time_utc: str


Payload = Mapping[str, Any] | BaseModel


def payload_dict(payload: Payload) -> dict[str, Any]:
    """A payload as a plain JSON dict (Pydantic models in their JSON form)."""
    if isinstance(payload, BaseModel):
        return payload.model_dump(mode="json")
    return dict(payload)


class EvidenceStore:
    """Appends chained records to one SQLite file (one writer; safe to hand to one thread)."""

    def __init__(
        self, conn: sqlite3.Connection, path: Path, signer: StoreSigner | None = None
    ) -> None:
        """Use ``EvidenceStore.open``."""
        self._conn = conn
        self.path = path
        self.signer = signer
        """Signs the head on every append (None: an older, unsigned store)."""
        self._lock = threading.Lock()
        self._head: tuple[int, str] | None = None
        self._head = self._read_head()

    @classmethod
    def open(cls, path: str | Path, *, synchronous: Synchronous = "FULL") -> EvidenceStore:
        """Open (creating or migrating) the store; raises StoreError if it cannot be used."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(path), isolation_level=None, check_same_thread=False, timeout=10.0
            )
        except (OSError, sqlite3.Error) as error:
            raise StoreError(f"{path}: cannot open evidence database: {error}") from None
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{path}: cannot switch to WAL journal mode (got {mode!r})")
            conn.execute(f"PRAGMA synchronous={synchronous}")
            value = conn.execute("PRAGMA synchronous").fetchone()[0]
            if value != _SYNC_VALUES[synchronous]:
                raise StoreError(f"{path}: synchronous={synchronous} not accepted (got {value})")
            old_version = migrate(conn)
            signer = open_signer(conn, path, created=old_version == 0)
            return cls(conn, path, signer)
        except StoreKeyError as error:
            conn.close()
            raise StoreError(f"{path}: signing key: {error}") from None
        except StoreError:
            conn.close()
            raise
        except (sqlite3.Error, SchemaError, ValueError) as error:
            conn.close()
            raise StoreError(f"{path}: cannot use evidence database: {error}") from None

    def _read_head(self) -> tuple[int, str]:
        """The chain head, checked against ``meta`` and the last record's own hash."""
        conn = self._conn
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        last = conn.execute(
            "SELECT seq, body, hash FROM records ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        seq, digest = (0, GENESIS_HASH) if last is None else (int(last[0]), str(last[2]))
        if last is not None and body_hash(last[1]) != digest:
            raise StoreError(
                f"{self.path}: last record #{seq} does not match its hash; "
                "run `safetymon verify` (refusing to extend a broken chain)"
            )
        if (str(seq), digest) != (meta.get("head_seq"), meta.get("head_hash")):
            raise StoreError(
                f"{self.path}: chain head mismatch: meta says #{meta.get('head_seq')} "
                f"{meta.get('head_hash')}, last record is #{seq} {digest}; "
                "run `safetymon verify` (refusing to extend a broken chain)"
            )
        return seq, digest

    @property
    def head(self) -> tuple[int, str]:
        """(number, hash) of the last record; (0, GENESIS_HASH) when empty."""
        with self._lock:
            if self._head is None:
                self._head = self._read_head()
            return self._head

    def append(self, kind: str, payload: Payload, *, time_utc: str | None = None) -> AppendResult:
        """Append one record; returns once it is durable. Raises StoreError (or ValueError
        for a payload that is not canonical JSON, naming the field)."""
        return self.append_many([(kind, payload, time_utc)])[0]

    def record(self, kind: str, payload: Payload) -> AppendResult:
        """Append a record of any kind (e.g. ``config_change`` with old/new config hashes)."""
        return self.append(kind, payload)

    def append_episode(self, episode: Episode) -> AppendResult:
        """Append an episode record (snapshots already written, see ``snapshots``)."""
        return self.append(EPISODE, episode)

    def record_run_start(self, run: RunStart) -> AppendResult:
        """Append a monitor run start record."""
        return self.append(RUN_START, run)

    def record_run_stop(self, run: RunStop) -> AppendResult:
        """Append a monitor run stop record."""
        return self.append(RUN_STOP, run)

    def append_many(self, items: Iterable[tuple[str, Payload, str | None]]) -> list[AppendResult]:
        """Append several records in one transaction (all or none); durable on return."""
        prepared: list[tuple[str, str, str, str]] = []
        with self._lock:
            if self._head is None:
                self._head = self._read_head()
            seq, prev = self._head
            for kind, payload, time_utc in items:
                if not _KIND.fullmatch(kind):
                    raise ValueError(f"record kind {kind!r} does not match {KIND_PATTERN}")
                time_utc = time_utc or utc_now()
                if not _UTC.fullmatch(time_utc):
                    raise ValueError(
                        f"record time_utc {time_utc!r} is not YYYY-MM-DDTHH:MM:SS.ffffffZ"
                    )
                try:
                    body = record_body(kind, time_utc, prev, payload_dict(payload))
                except CanonicalJSONError as error:
                    raise ValueError(f"{kind} record payload: {error}") from None
                prev = body_hash(body)
                prepared.append((kind, time_utc, body, prev))
            if not prepared:
                return []
            first = seq + 1
            rows = [(first + i, *row) for i, row in enumerate(prepared)]
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.executemany(
                    "INSERT INTO records (seq, kind, time_utc, body, hash) VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
                head_rows = [(str(rows[-1][0]), "head_seq"), (rows[-1][4], "head_hash")]
                if self.signer is not None:
                    head_rows.append((self.signer.sign(rows[-1][0], rows[-1][4]), "head_signature"))
                self._conn.executemany("UPDATE meta SET value = ? WHERE key = ?", head_rows)
                self._conn.execute("COMMIT")
            except sqlite3.Error as error:
                self._head = None  # re-read from the file before the next append
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                raise StoreError(
                    f"{self.path}: cannot append record #{first} ({prepared[0][0]}): {error}"
                ) from None
            self._head = (rows[-1][0], rows[-1][4])
            return [AppendResult(row[0], row[4], row[2]) for row in rows]

    def close(self) -> None:
        """Close the database (checkpoints the WAL)."""
        with self._lock:
            self._conn.close()
