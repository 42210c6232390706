"""The central PostgreSQL copy as an evidence source of the plan report.

Implements ``safetymon.evidence.sources.EvidenceSource`` over ``fleet_stores`` and
``fleet_records``: every store (or one), its records in ``seq`` order (paged), its chain and
signed heads checked by ``verify_centre`` (the centre's own verification); the plan report
reads both in one walk (``verified_records``). Snapshots are not
shipped (their SHA-256 is inside each episode record), so ``snapshot`` gives None.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from safetymon.evidence.reader import StoredRecord
from safetymon.evidence.signing import fingerprint
from safetymon.evidence.sources import ChainStatus
from safetymon.fleet.centre.verify import (
    CentralStoreResult,
    check_accepted_head,
    verify_centre,
    walk_store,
)
from safetymon.fleet.connect import CentreConnectionError, connect, describe
from safetymon.fleet.schema import SCHEMA_VERSION, applied_versions


class CentreSource:
    """Read access to the centre (``store_id``: only that store).

    Raises:
        CentreConnectionError: the centre cannot be reached, holds no fleet schema, or does
            not hold ``store_id``.
    """

    def __init__(self, url: str, *, store_id: str | None = None, page_rows: int = 5000) -> None:
        self.label = describe(url)
        self.page_rows = page_rows
        self._conn = connect(url)
        try:
            if SCHEMA_VERSION not in applied_versions(self._conn):
                raise CentreConnectionError(f"{self.label} holds no safetymon fleet schema")
            rows = self._conn.execute(
                "SELECT store_id FROM fleet_stores ORDER BY store_id"
            ).fetchall()
            self._ids = [str(r[0]) for r in rows if store_id is None or r[0] == store_id]
            if store_id is not None and not self._ids:
                raise CentreConnectionError(f"{self.label}: no such store {store_id!r}")
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def store_ids(self) -> list[str]:
        """The stores held (store id order)."""
        return list(self._ids)

    def records(self, store_id: str) -> Iterator[StoredRecord]:
        """The store's records in ``seq`` order, ``page_rows`` at a time."""
        after = 0
        while True:
            rows = self._conn.execute(
                "SELECT seq, kind, time_utc, body, hash FROM fleet_records WHERE store_id = %s"
                " AND seq > %s ORDER BY seq LIMIT %s",
                (store_id, after, self.page_rows),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield StoredRecord(int(row[0]), *map(str, row[1:]))
            after = int(rows[-1][0])

    def chain_status(self, store_id: str) -> ChainStatus:
        """``verify_centre`` for the store: chain, accepted heads and their signatures."""
        (result,) = verify_centre(self._conn, store_id=store_id, page=self.page_rows)
        return self._status(result)

    def verified_records(
        self, store_id: str, on_status: Callable[[ChainStatus], None]
    ) -> Iterator[StoredRecord]:
        """The store's records in ``seq`` order, verified on the way (one read, not two):
        the same records as ``records`` and, once the last is read, ``on_status`` gets what
        ``chain_status`` gives. Checking stops at the first problem; reading does not."""
        row = self._conn.execute(
            "SELECT public_key, head_seq, head_hash FROM fleet_stores WHERE store_id = %s",
            (store_id,),
        ).fetchone()
        if row is None:
            raise KeyError(f"{self.label}: no such store {store_id!r}")
        result = CentralStoreResult(store_id, str(row[0]))
        yield from walk_store(self._conn, result, self.page_rows)
        check_accepted_head(result, int(row[1]), str(row[2]))
        on_status(self._status(result))

    def _status(self, result: CentralStoreResult) -> ChainStatus:
        if result.ok:
            signature = f"valid ({result.heads_checked} signed heads)"
        elif result.problem is not None and result.problem.what == "signature":
            signature = "invalid"
        else:
            signature = "not checked (the chain failed first)"
        return ChainStatus(
            store_id=result.store_id,
            location=self.label,
            ok=result.ok,
            problem=None if result.problem is None else str(result.problem),
            records=result.records,
            head_seq=result.head_seq,
            head_hash=result.head_hash,
            signature=signature,
            key_fingerprint=fingerprint(result.public_key),
        )

    def snapshot(self, store_id: str, file: str) -> bytes | None:
        """None: snapshot files stay in the cell (their SHA-256 is in the records)."""
        return None
