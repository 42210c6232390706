"""Verification of the central copy: every store's chain and every head it accepted.

Per store, the records are walked in ``seq`` order with ``safetymon.evidence.verify.
check_record`` (the local verifier's own check), the store's head must be its last record,
and every accepted head must be signed by the store's registered key and name the hash of
the record it claims. Findings use the local verifier's names (``edited``, ``deleted``,
``reordered``, ``truncated``, ``signature``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import psycopg

from safetymon.evidence.canonical import GENESIS_HASH
from safetymon.evidence.reader import StoredRecord
from safetymon.evidence.signing import fingerprint, head_signature_ok
from safetymon.evidence.verify import Problem, check_record


@dataclass
class CentralStoreResult:
    """The outcome for one store of the central copy."""

    store_id: str
    public_key: str
    records: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    heads_checked: int = 0
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        """True when nothing was found wrong."""
        return self.problem is None

    def summary(self) -> str:
        """One line (two with a problem)."""
        line = (
            f"store {self.store_id}: {'OK' if self.ok else 'FAILED'}: {self.records} records, "
            f"head #{self.head_seq} {self.head_hash}, {self.heads_checked} signed heads valid "
            f"(key fingerprint {fingerprint(self.public_key)})"
        )
        return line + (f"\n  problem: {self.problem}" if self.problem else "")


def walk_store(
    conn: psycopg.Connection, result: CentralStoreResult, page: int = 5000
) -> Iterator[StoredRecord]:
    """Every record of ``result.store_id`` in ``seq`` order (``page`` rows per query), checked
    as it goes by passing through the generator.

    The first problem found goes to ``result.problem`` and checking stops there; the records
    after it are still yielded, unchecked (a reader such as the plan report reads them all).
    ``result`` counts the records checked; its head and the heads left over (``truncated``)
    are set once the walk ends without a problem. Consume it to the end (``verify_centre``
    stops reading at the first problem instead).
    """
    store = result.store_id
    heads = {
        int(s): (str(h), str(sig))
        for s, h, sig in conn.execute(
            "SELECT seq, hash, signature FROM fleet_heads WHERE store_id = %s", (store,)
        )
    }

    def locate(digest: str) -> int | None:
        row = conn.execute(
            "SELECT seq FROM fleet_records WHERE store_id = %s AND hash = %s LIMIT 1",
            (store, digest),
        ).fetchone()
        return None if row is None else int(row[0])

    prev_seq, prev_hash, after = 0, GENESIS_HASH, 0
    while True:
        rows = conn.execute(
            "SELECT seq, kind, time_utc, body, hash FROM fleet_records WHERE store_id = %s"
            " AND seq > %s ORDER BY seq LIMIT %s",
            (store, after, page),
        ).fetchall()
        if not rows:
            break
        for row in rows:
            rec = StoredRecord(int(row[0]), *map(str, row[1:]))
            after = rec.seq
            if result.problem is None:
                result.problem = _check(result, rec, prev_seq, prev_hash, heads, locate)
                if result.problem is None:
                    prev_seq, prev_hash = rec.seq, rec.hash
            yield rec
    if result.problem is not None:
        return
    result.head_seq, result.head_hash = prev_seq, prev_hash
    if heads:
        missing = min(heads)
        result.problem = Problem(
            missing, "truncated",
            f"the centre accepted head #{missing} but holds records only up to #{prev_seq}",
        )  # fmt: skip


def _check(
    result: CentralStoreResult,
    rec: StoredRecord,
    prev_seq: int,
    prev_hash: str,
    heads: dict[int, tuple[str, str]],
    locate: Callable[[str], int | None],
) -> Problem | None:
    """Check one record (chain, and its signed head if one was accepted at it); count it."""
    problem, _ = check_record(rec, prev_seq, prev_hash, locate)
    if problem is not None:
        return problem
    signed = heads.pop(rec.seq, None)
    if signed is not None:
        ok = signed[0] == rec.hash and head_signature_ok(
            result.public_key, result.store_id, rec.seq, signed[0], signed[1]
        )
        if not ok:
            return Problem(
                rec.seq, "signature",
                f"accepted head #{rec.seq} {signed[0]} is not the record's hash or "
                "not signed by the store's registered key",
            )  # fmt: skip
        result.heads_checked += 1
    result.records += 1
    result.kinds[rec.kind] += 1
    return None


def check_accepted_head(result: CentralStoreResult, head_seq: int, head_hash: str) -> None:
    """After a walk without a problem: the store's accepted head must be its last record."""
    if result.ok and (result.head_seq, result.head_hash) != (head_seq, head_hash):
        result.problem = Problem(
            result.head_seq + 1, "truncated",
            f"the store's accepted head is #{head_seq} {head_hash} but the last record "
            f"held is #{result.head_seq} {result.head_hash}",
        )  # fmt: skip


def verify_centre(
    conn: psycopg.Connection, *, store_id: str | None = None, page: int = 5000
) -> list[CentralStoreResult]:
    """Verify every store (or one ``store_id``) of the central copy, in store id order."""
    rows = conn.execute(
        "SELECT store_id, public_key, head_seq, head_hash FROM fleet_stores"
        + (" WHERE store_id = %s" if store_id else "")
        + " ORDER BY store_id",
        (store_id,) if store_id else None,
    ).fetchall()
    results = []
    for sid, public, head_seq, head_hash in rows:
        result = CentralStoreResult(str(sid), str(public))
        walk = walk_store(conn, result, page)
        for _ in walk:
            if result.problem is not None:
                walk.close()  # the first problem decides: read no further
                break
        check_accepted_head(result, int(head_seq), str(head_hash))
        results.append(result)
    return results
