"""The cell side of shipping: send a store's records to the centre, resumably and idempotently.

``ship_store`` reads the SQLite store read-only (the monitor may keep appending), asks the
centre what it has accepted of this store, and

1. audits the prefix the centre holds: the local records ``1..H`` (H = the centre's head)
   must still verify (``safetymon.evidence.verify.check_record``) and end in the accepted
   head hash; if not, the first divergent record is found by comparing the local hashes
   with the centre's, and the centre records and raises the refusal (``truncated``: the
   cell no longer has a record the centre accepted; ``rewritten``: a record has another
   hash than the accepted one; ``edited``, ``deleted``, ``reordered``: the local record no
   longer verifies);
2. sends the records after H in batches of ``batch_rows``, each with the Ed25519-signed
   head of its last record (key file ``<db>.key``), and the centre checks and commits each
   batch in one transaction.

The centre is the source of truth for what was accepted: a shipper killed or cut off at any
point simply runs again and resumes after the centre's head; a batch that was committed but
not acknowledged is re-sent and accepted again as an identical copy (no duplicates).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psycopg

from safetymon.evidence.canonical import GENESIS_HASH
from safetymon.evidence.reader import StoredRecord, iter_records, open_readonly, read_meta
from safetymon.evidence.signing import (
    StoreKeyError,
    key_path,
    load_key_file,
    public_key_hex,
    sign_head,
)
from safetymon.evidence.verify import check_record
from safetymon.fleet.centre.ingest import Centre, Refusal
from safetymon.fleet.models import Accepted, Batch, ShippedRecord, SignedHead, StoreState

T = TypeVar("T")


class ShipError(Exception):
    """Shipping stopped (the message names the store, how far the centre holds it and why).

    Records already acknowledged by the centre stay accepted; run the shipper again to
    resume.
    """


@dataclass
class ShipReport:
    """What one shipping run did (seconds: wall time of the run)."""

    store_id: str
    centre_head_before: int
    head_seq: int
    batches: int = 0
    new_records: int = 0
    seconds: float = 0.0


def _locator(conn: sqlite3.Connection) -> Callable[[str], int | None]:
    def locate(digest: str) -> int | None:
        row = conn.execute("SELECT seq FROM records WHERE hash = ? LIMIT 1", (digest,)).fetchone()
        return None if row is None else int(row[0])

    return locate


def _first_local_problem(
    conn: sqlite3.Connection, head_seq: int
) -> tuple[Refusal | None, tuple[int, str]]:
    """The first record ``<= head_seq`` that no longer verifies locally, and the last
    (seq, hash) walked."""
    prev_seq, prev_hash = 0, GENESIS_HASH
    locate = _locator(conn)
    for rec in iter_records(conn):
        if rec.seq > head_seq:
            break
        problem, _ = check_record(rec, prev_seq, prev_hash, locate)
        if problem is not None:
            seq = problem.seq if problem.seq is not None else rec.seq
            return Refusal("", seq, problem.what, f"the cell's record: {problem.detail}"), (
                prev_seq, prev_hash)  # fmt: skip
        prev_seq, prev_hash = rec.seq, rec.hash
    return None, (prev_seq, prev_hash)


def _first_hash_difference(
    conn: sqlite3.Connection, centre: Centre, state: StoreState
) -> Refusal | None:
    """Compare local (seq, hash) with the centre's copies 1..head: the first difference."""
    local: Iterator[StoredRecord] = iter(iter_records(conn))
    for seq, held in centre.hashes(state.store_id, 1, state.head_seq):
        rec = next(local, None)
        if rec is None or rec.seq > seq:
            what = "truncated" if rec is None else "deleted"
            return Refusal(
                state.store_id, seq, what,
                f"the centre accepted record #{seq} ({held}) but the cell no longer has it "
                f"(the cell's chain ends at #{seq - 1})" if rec is None else
                f"the centre accepted record #{seq} ({held}) but the cell no longer has it",
            )  # fmt: skip
        if rec.hash != held:
            return Refusal(
                state.store_id, seq, "rewritten",
                f"the cell's record #{seq} hashes to {rec.hash}, the centre accepted {held}: "
                "the cell's history was replaced (a rebuild with recomputed hashes)",
            )  # fmt: skip
    return None


def audit_prefix(conn: sqlite3.Connection, centre: Centre, state: StoreState) -> Refusal | None:
    """The first divergence between the local store and what the centre accepted, if any."""
    problem, last = _first_local_problem(conn, state.head_seq)
    if problem is None and last == (state.head_seq, state.head_hash):
        return None
    difference = _first_hash_difference(conn, centre, state)
    candidates = [r for r in (problem, difference) if r is not None and r.seq is not None]
    if not candidates:
        return Refusal(
            state.store_id, last[0] + 1, "diverged",
            f"the cell's chain ends at #{last[0]} {last[1]}, the centre accepted "
            f"#{state.head_seq} {state.head_hash}",
        )  # fmt: skip
    first = min(candidates, key=lambda r: r.seq or 0)
    return Refusal(state.store_id, first.seq, first.reason, first.detail)


def head_still_held(conn: sqlite3.Connection, state: StoreState) -> bool:
    """Cheap check: the local record at the centre's head still has the accepted hash (a
    full ``audit_prefix`` re-verifies every record up to it)."""
    if state.head_seq == 0:
        return True
    row = conn.execute("SELECT hash FROM records WHERE seq = ?", (state.head_seq,)).fetchone()
    return row is not None and str(row[0]) == state.head_hash


def _batches(
    conn: sqlite3.Connection, start: int, batch_rows: int
) -> Iterator[list[ShippedRecord]]:
    batch: list[ShippedRecord] = []
    for rec in iter_records(conn, batch_rows=max(batch_rows, 1000)):
        if rec.seq < start:
            continue
        batch.append(ShippedRecord(seq=rec.seq, kind=rec.kind, time_utc=rec.time_utc,
                                   body=rec.body, hash=rec.hash))  # fmt: skip
        if len(batch) >= batch_rows:
            yield batch
            batch = []
    if batch:
        yield batch


def ship_store(
    db_path: str | Path,
    centre: Centre,
    *,
    batch_rows: int = 500,
    on_batch: Callable[[Accepted], None] | None = None,
    full_audit: bool = True,
) -> ShipReport:
    """Ship every record the centre does not hold yet; raises ShipError or RefusedError.

    ``full_audit`` False (continuous shipping between full audits) re-verifies the held
    prefix only when the local record at the centre's head no longer has the accepted hash.
    """
    started = time.monotonic()
    db_path = Path(db_path)
    conn = open_readonly(db_path)
    try:
        meta = read_meta(conn)
        store_id, public = meta.get("store_id", ""), meta.get("public_key")
        if public is None:
            raise ShipError(
                f"{db_path}: store {store_id} is unsigned (made before signing): give it a "
                f"key with `safetymon evidence keygen --db {db_path}` before shipping"
            )
        try:
            key = load_key_file(key_path(db_path))
        except StoreKeyError as error:
            raise ShipError(f"store {store_id}: cannot sign batch heads: {error}") from None
        if public_key_hex(key) != public:
            raise ShipError(
                f"store {store_id}: the key file {key_path(db_path)} holds public key "
                f"{public_key_hex(key)}, the store records {public}"
            )
        state = _call(store_id, 0, lambda: centre.state(store_id))
        held = state.head_seq if state else 0
        report = ShipReport(store_id, held, held)
        if state is not None and state.public_key != public:
            raise centre.refuse(Refusal(
                store_id, None, "key_changed",
                f"the store's key is now {public}, the centre registered {state.public_key} "
                f"(it accepted records up to #{state.head_seq} under that key): the key was "
                "replaced",
            ))  # fmt: skip
        if state is not None and (full_audit or not head_still_held(conn, state)):
            refusal = _call(store_id, state.head_seq, lambda: audit_prefix(conn, centre, state))
            if refusal is not None:
                raise centre.refuse(refusal)
        for records in _batches(conn, report.centre_head_before + 1, batch_rows):
            last = records[-1]
            head = SignedHead(store_id=store_id, seq=last.seq, hash=last.hash,
                              signature=sign_head(key, store_id, last.seq, last.hash))  # fmt: skip
            batch = Batch(store_id=store_id, public_key=public, head=head, records=records)
            accepted = _call(store_id, report.head_seq, lambda b=batch: centre.ingest(b))
            report.batches += 1
            report.new_records += accepted.new_records
            report.head_seq = accepted.head_seq
            if on_batch is not None:
                on_batch(accepted)
        report.seconds = time.monotonic() - started
        return report
    finally:
        conn.close()


def _call(store_id: str, acked: int, action: Callable[[], T]) -> T:
    """Run a centre call, turning a database failure into a ShipError that says how far the
    centre holds the store."""
    try:
        return action()
    except (psycopg.errors.DiskFull, psycopg.errors.OutOfMemory) as error:
        raise ShipError(
            f"store {store_id}: the centre is out of space ({str(error).strip()}); the batch "
            f"was not stored, the centre holds records up to #{acked} as acknowledged; free "
            "space there and run the shipper again to resume"
        ) from None
    except psycopg.OperationalError as error:
        raise ShipError(
            f"store {store_id}: lost the centre connection ({str(error).strip()}); the centre "
            f"holds records up to #{acked} as acknowledged; run the shipper again to resume"
        ) from None
    except psycopg.Error as error:
        raise ShipError(
            f"store {store_id}: the centre failed the request after #{acked} "
            f"({type(error).__name__}: {str(error).strip()}); nothing of it was accepted"
        ) from None
