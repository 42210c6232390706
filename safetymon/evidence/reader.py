"""Read-only access to an evidence database, streamed in batches (bounded memory)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ReadError(Exception):
    """The database cannot be read (missing, not SQLite, not a safetymon store)."""


@dataclass(frozen=True)
class StoredRecord:
    """One row of ``records`` as stored (``body`` is the hashed canonical JSON)."""

    seq: int
    kind: str
    time_utc: str
    body: str
    hash: str

    def parsed(self) -> dict[str, Any]:
        """The body as a dict (kind, payload, prev, time_utc)."""
        return json.loads(self.body)


def open_readonly(path: str | Path) -> sqlite3.Connection:
    """Open the database read-only (raises ReadError if it is missing or unusable)."""
    path = Path(path)
    if not path.is_file():
        raise ReadError(f"{path}: no such file")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.Error as error:
        raise ReadError(f"{path}: cannot read as SQLite: {error}") from None
    if not {"meta", "records"} <= tables:
        conn.close()
        raise ReadError(f"{path}: not a safetymon evidence database (tables {sorted(tables)})")
    return conn


def read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    """The ``meta`` table as a dict."""
    return {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM meta")}


def _window(
    since: str | None, until: str | None, kinds: Sequence[str] | None
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if since:
        clauses.append("time_utc >= ?")
        params.append(since)
    if until:
        clauses.append("time_utc < ?")
        params.append(until)
    if kinds:
        clauses.append(f"kind IN ({', '.join('?' * len(kinds))})")
        params.extend(kinds)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def count_records(
    conn: sqlite3.Connection,
    *,
    since: str | None = None,
    until: str | None = None,
    kinds: Sequence[str] | None = None,
) -> int:
    """Number of records in the window (``since`` inclusive, ``until`` exclusive, UTC text)."""
    where, params = _window(since, until, kinds)
    return int(conn.execute(f"SELECT COUNT(*) FROM records{where}", params).fetchone()[0])


def iter_records(
    conn: sqlite3.Connection,
    *,
    since: str | None = None,
    until: str | None = None,
    kinds: Sequence[str] | None = None,
    batch_rows: int = 5000,
) -> Iterator[StoredRecord]:
    """Records in ``seq`` order, fetched ``batch_rows`` at a time."""
    where, params = _window(since, until, kinds)
    cursor = conn.execute(
        f"SELECT seq, kind, time_utc, body, hash FROM records{where} ORDER BY seq", params
    )
    while rows := cursor.fetchmany(batch_rows):
        for row in rows:
            yield StoredRecord(*row)
