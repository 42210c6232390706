"""The centre's ingest: one shipped batch is checked and stored in one PostgreSQL transaction.

Checks, in order (the first failure refuses the whole batch; nothing is changed):

1. ``key_changed``: the batch's public key is not the one registered for the store (the
   first accepted batch registers it: trust on first use).
2. ``signature``: the batch's signed head does not verify with the registered key.
3. ``gap``: the batch starts after the record following the centre's head.
4. ``diverged``: a record the centre already holds is re-sent with other bytes (body or
   hash); at-least-once delivery is made idempotent by (store id, seq) only for identical
   copies.
5. any finding of the local verifier (``edited``, ``reordered``, ``deleted``): each new
   record's body must be canonical, hash to its hash and link to the previous record,
   checked with ``safetymon.evidence.verify.check_record`` (the same code as
   ``safetymon verify``); the first new record must link to the centre's head.

A refusal is recorded in ``fleet_refusals`` (in its own transaction) and raised as
``RefusedError`` naming the store, the first divergent record and the reason.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import psycopg

from safetymon.evidence.canonical import GENESIS_HASH
from safetymon.evidence.signing import head_signature_ok
from safetymon.evidence.verify import check_record
from safetymon.fleet.models import Accepted, Batch, ShippedRecord, StoreState


@dataclass(frozen=True)
class Refusal:
    """Why the centre refuses a store's batch: the first divergent record and the reason."""

    store_id: str
    seq: int | None
    reason: str
    detail: str

    def __str__(self) -> str:
        where = f"record #{self.seq}" if self.seq is not None else "the store"
        return f"centre refused store {self.store_id} at {where}: {self.reason}: {self.detail}"


class RefusedError(Exception):
    """The centre refused a batch (``refusal`` says which store, record and why)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(str(refusal))
        self.refusal = refusal


def check_batch(
    batch: Batch, state: StoreState | None, held: Mapping[int, tuple[str, str]]
) -> Refusal | None:
    """The first reason to refuse ``batch`` given what the centre holds (pure, no I/O).

    ``state``: the centre's row for the store (None: not registered yet). ``held``: seq ->
    (body, hash) of the centre's copies of the batch's records it already holds.
    """
    store = batch.store_id
    registered = state.public_key if state else batch.public_key
    head_seq = state.head_seq if state else 0
    head_hash = state.head_hash if state else GENESIS_HASH
    first = batch.records[0].seq
    if batch.public_key != registered:
        return Refusal(
            store, first, "key_changed",
            f"the batch is from public key {batch.public_key}, the store registered "
            f"{registered}: another key (a replaced or re-created store key)",
        )  # fmt: skip
    head = batch.head
    if not head_signature_ok(registered, store, head.seq, head.hash, head.signature):
        return Refusal(
            store, head.seq, "signature",
            f"the signed head #{head.seq} {head.hash} does not verify with the store's "
            f"registered public key {registered}",
        )  # fmt: skip
    if first > head_seq + 1:
        return Refusal(
            store, head_seq + 1, "gap",
            f"the batch starts at #{first} but the centre holds up to #{head_seq}",
        )  # fmt: skip
    prev_seq, prev_hash = first - 1, (head_hash if first - 1 == head_seq else "")
    by_hash = {r.hash: r.seq for r in batch.records}
    for rec in batch.records:
        if rec.seq <= head_seq:
            copy = held.get(rec.seq)
            if copy != (rec.body, rec.hash):
                what = "missing at the centre" if copy is None else (
                    "its hash" if copy[1] != rec.hash else "its body")
                return Refusal(
                    store, rec.seq, "diverged",
                    f"the cell re-sent record #{rec.seq} with other bytes than the copy the "
                    f"centre accepted ({what} differs): the cell's history was rewritten",
                )  # fmt: skip
            prev_seq, prev_hash = rec.seq, rec.hash
            continue
        problem, _ = check_record(rec, prev_seq, prev_hash, by_hash.get)
        if problem is not None:
            seq = problem.seq if problem.seq is not None else rec.seq
            detail = problem.detail
            if rec.seq == head_seq + 1 and problem.seq == head_seq and head_seq > 0:
                detail = (
                    f"record #{rec.seq} does not extend the centre's accepted head "
                    f"#{head_seq} {head_hash}: the cell's chain was rebuilt"
                )
                return Refusal(store, rec.seq, "diverged", detail)
            return Refusal(store, seq, problem.what, detail)
        prev_seq, prev_hash = rec.seq, rec.hash
    return None


class Centre:
    """The central database as seen by a shipper (one connection, autocommit mode)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        """Wrap an autocommit connection whose schema is migrated (``schema.migrate``)."""
        self.conn = conn

    def state(self, store_id: str) -> StoreState | None:
        """The centre's row for ``store_id`` (None when it was never accepted)."""
        row = self.conn.execute(
            "SELECT store_id, public_key, head_seq, head_hash FROM fleet_stores"
            " WHERE store_id = %s",
            (store_id,),
        ).fetchone()
        if row is None:
            return None
        return StoreState(store_id=row[0], public_key=row[1], head_seq=row[2], head_hash=row[3])

    def hashes(self, store_id: str, first: int, last: int) -> Iterator[tuple[int, str]]:
        """(seq, hash) of the held records ``first``..``last``, in seq order, streamed."""
        page = 10_000
        for start in range(first, last + 1, page):
            rows = self.conn.execute(
                "SELECT seq, hash FROM fleet_records WHERE store_id = %s AND seq BETWEEN %s"
                " AND %s ORDER BY seq",
                (store_id, start, min(last, start + page - 1)),
            ).fetchall()
            yield from ((int(s), str(h)) for s, h in rows)

    def refuse(self, refusal: Refusal) -> RefusedError:
        """Record ``refusal`` in ``fleet_refusals`` (best effort) and return the exception."""
        try:
            with self.conn.transaction():
                self.conn.execute(
                    "INSERT INTO fleet_refusals (store_id, first_divergent_seq, reason, detail)"
                    " VALUES (%s, %s, %s, %s)",
                    (refusal.store_id, refusal.seq, refusal.reason, refusal.detail),
                )
        except psycopg.Error:
            pass  # the refusal itself is what matters; the connection error surfaces later
        return RefusedError(refusal)

    def ingest(self, batch: Batch) -> Accepted:
        """Check and store ``batch`` in one transaction; raises RefusedError (nothing changed)."""
        store = batch.store_id
        refusal: Refusal | None = None
        with self.conn.transaction():
            conn = self.conn
            conn.execute(
                "INSERT INTO fleet_stores (store_id, public_key) VALUES (%s, %s)"
                " ON CONFLICT (store_id) DO NOTHING",
                (store, batch.public_key),
            )
            row = conn.execute(
                "SELECT store_id, public_key, head_seq, head_hash FROM fleet_stores"
                " WHERE store_id = %s FOR UPDATE",
                (store,),
            ).fetchone()
            state = StoreState(store_id=row[0], public_key=row[1], head_seq=row[2],
                               head_hash=row[3])  # fmt: skip
            first, last = batch.records[0].seq, batch.records[-1].seq
            held = {
                int(s): (str(b), str(h))
                for s, b, h in conn.execute(
                    "SELECT seq, body, hash FROM fleet_records WHERE store_id = %s"
                    " AND seq BETWEEN %s AND %s",
                    (store, first, min(last, state.head_seq)),
                )
            }
            refusal = check_batch(batch, state, held)
            if refusal is None:
                new = [r for r in batch.records if r.seq > state.head_seq]
                if new:
                    self._insert(store, new)
                conn.execute(
                    "INSERT INTO fleet_heads (store_id, seq, hash, signature)"
                    " VALUES (%s, %s, %s, %s) ON CONFLICT (store_id, seq) DO NOTHING",
                    (store, batch.head.seq, batch.head.hash, batch.head.signature),
                )
                if last > state.head_seq:
                    conn.execute(
                        "UPDATE fleet_stores SET head_seq = %s, head_hash = %s"
                        " WHERE store_id = %s",
                        (last, batch.head.hash, store),
                    )
                accepted = Accepted(
                    store_id=store, first_seq=first, head_seq=last, new_records=len(new)
                )
            else:
                raise psycopg.Rollback()  # nothing changes, not even this batch's registration
        if refusal is not None:
            raise self.refuse(refusal)
        return accepted

    def _insert(self, store: str, records: list[ShippedRecord]) -> None:
        """COPY the records into a session temp table, then one INSERT ... ON CONFLICT."""
        conn = self.conn
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS fleet_incoming (seq bigint, kind text,"
            " time_utc text, body text, hash text) ON COMMIT DELETE ROWS"
        )
        with conn.cursor() as cur:
            with cur.copy(
                "COPY fleet_incoming (seq, kind, time_utc, body, hash) FROM STDIN"
            ) as copy:
                for r in records:
                    copy.write_row((r.seq, r.kind, r.time_utc, r.body, r.hash))
            cur.execute(
                "INSERT INTO fleet_records (store_id, seq, kind, time_utc, body, hash)"
                " SELECT %s, seq, kind, time_utc, body, hash FROM fleet_incoming ORDER BY seq"
                " ON CONFLICT (store_id, seq) DO NOTHING",
                (store,),
            )
