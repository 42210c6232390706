"""The evidence database schema and its migrations (SQLite, versioned in ``meta``).

``records``: one row per record; ``seq`` counts from 1 without gaps; ``body`` is the
canonical JSON the chain hash covers (see ``canonical``); ``kind`` and ``time_utc`` repeat
the body's fields for queries (verify checks they agree). ``meta``: ``schema_version``,
``store_id`` (random, set at creation), ``head_seq`` and ``head_hash`` (the last record,
updated in the same transaction as each append, so a cut-off tail is noticed).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable

SCHEMA_VERSION = 3
"""The version this code writes; older databases are migrated when opened for writing."""


def _v1(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute(
        "CREATE TABLE records ("
        " seq INTEGER PRIMARY KEY,"
        " kind TEXT NOT NULL,"
        " time_utc TEXT NOT NULL,"
        " body TEXT NOT NULL,"
        " hash TEXT NOT NULL)"
    )
    conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)",
        [
            ("store_id", uuid.uuid4().hex),
            ("head_seq", "0"),
            ("head_hash", "0" * 64),
        ],
    )


def _v2(conn: sqlite3.Connection) -> None:
    """Indexes for export/report time windows and per-kind queries."""
    conn.execute("CREATE INDEX records_time ON records (time_utc)")
    conn.execute("CREATE INDEX records_kind_time ON records (kind, time_utc)")


def _v3(conn: sqlite3.Connection) -> None:
    """Signed heads (``meta.public_key``, ``head_signature``; see ``store_keys``).

    No table changes: the version only stops older safetymon from appending to a signed store
    without re-signing its head. Older stores stay unsigned (no key is added here).
    """


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _v1, 2: _v2, 3: _v3}
"""Migration to version N (from N - 1); version 0 is an empty file."""


class SchemaError(Exception):
    """The database has a schema this code cannot use."""


def schema_version(conn: sqlite3.Connection) -> int:
    """The database's schema version (0: empty, no safetymon tables)."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "meta" not in tables:
        if tables:
            raise SchemaError(f"not a safetymon evidence database (tables: {sorted(tables)})")
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        raise SchemaError("meta table has no schema_version")
    try:
        return int(row[0])
    except ValueError:
        raise SchemaError(f"meta.schema_version is not an integer: {row[0]!r}") from None


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the schema up to ``target``, one transaction per step; returns the old version.

    The connection must be in autocommit mode (``isolation_level=None``).
    """
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise SchemaError(
            f"schema version {current} is newer than this safetymon supports "
            f"({SCHEMA_VERSION}); upgrade safetymon"
        )
    for version in range(current + 1, target + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[version](conn)
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(version),),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return current
