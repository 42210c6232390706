"""Reading the central copy as a record source: one store's records, as a cell's own
``safetymon.evidence.reader`` gives them, so export (and anything else that takes
``StoredRecord``) works on the centre unchanged.

Records are paged by ``seq`` (primary key order, bounded memory); ``since`` inclusive and
``until`` exclusive compare the UTC text of ``time_utc`` as the cell's reader does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import psycopg

from safetymon.evidence.reader import StoredRecord


def store_ids(conn: psycopg.Connection) -> list[str]:
    """Every store the centre holds, in id order."""
    return [str(r[0]) for r in conn.execute("SELECT store_id FROM fleet_stores ORDER BY 1")]


def _window(
    store_id: str, since: str | None, until: str | None, kinds: Sequence[str] | None
) -> tuple[str, list[Any]]:
    clauses, params = ["store_id = %s"], [store_id]
    if since:
        clauses.append("time_utc >= %s")
        params.append(since)
    if until:
        clauses.append("time_utc < %s")
        params.append(until)
    if kinds:
        clauses.append("kind = ANY(%s)")
        params.append(list(kinds))
    return " AND ".join(clauses), params


def count_central(
    conn: psycopg.Connection,
    store_id: str,
    *,
    since: str | None = None,
    until: str | None = None,
    kinds: Sequence[str] | None = None,
) -> int:
    """Number of the store's records in the window."""
    where, params = _window(store_id, since, until, kinds)
    return int(conn.execute(f"SELECT count(*) FROM fleet_records WHERE {where}", params)
               .fetchone()[0])  # fmt: skip


def iter_central(
    conn: psycopg.Connection,
    store_id: str,
    *,
    since: str | None = None,
    until: str | None = None,
    kinds: Sequence[str] | None = None,
    page: int = 5000,
) -> Iterator[StoredRecord]:
    """The store's records in the window, in ``seq`` order, ``page`` rows per query."""
    where, params = _window(store_id, since, until, kinds)
    after = 0
    while True:
        rows = conn.execute(
            f"SELECT seq, kind, time_utc, body, hash FROM fleet_records WHERE {where}"
            " AND seq > %s ORDER BY seq LIMIT %s",
            [*params, after, page],
        ).fetchall()
        if not rows:
            return
        for row in rows:
            yield StoredRecord(int(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]))
        after = int(rows[-1][0])
