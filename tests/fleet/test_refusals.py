"""A cell whose history no longer extends what the centre accepted is refused, naming the
store, the first divergent record and the reason; the centre's records stay as they were."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from safetymon.evidence.signing import (
    create_key_file,
    key_path,
    load_key_file,
    public_key_hex,
    sign_head,
)
from safetymon.evidence.verify import verify_store
from safetymon.fleet.centre.ingest import Centre, RefusedError
from safetymon.fleet.models import Batch, ShippedRecord, SignedHead
from safetymon.fleet.schema import migrate
from tests.fleet.helpers import (
    centre_records,
    local_records,
    make_store,
    meta,
    rebuild_from,
    set_head,
    ship,
)


def sql(db: Path, statement: str) -> None:
    """Tamper with the sqlite3 shell (the Python module where the shell is missing)."""
    if shutil.which("sqlite3"):
        subprocess.run(["sqlite3", str(db), statement], check=True, capture_output=True)
    else:
        with sqlite3.connect(db) as conn:
            conn.executescript(statement)


@pytest.fixture
def shipped(tmp_path: Path, centre_url: str) -> tuple[Path, str, list]:
    """A 40-record store shipped to the centre: (db, store id, the centre's records)."""
    db = tmp_path / "cell.db"
    store_id = make_store(db, 40)
    done = ship(db, centre_url, "--batch-rows", "10")
    assert done.returncode == 0, done.stderr
    return db, store_id, centre_records(centre_url, store_id)


def _refusals(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT store_id, first_divergent_seq, reason FROM fleet_refusals ORDER BY id"
        ).fetchall()


def _tamper_edit(db: Path) -> None:
    sql(db, "UPDATE records SET body = replace(body, '\"record 3\"', '\"record 3!\"') "
            "WHERE seq = 4")  # fmt: skip


def _tamper_truncate(db: Path) -> None:
    sql(db, "DELETE FROM records WHERE seq >= 31")
    with sqlite3.connect(db) as conn:  # and make the local store consistent again
        digest = conn.execute("SELECT hash FROM records WHERE seq = 30").fetchone()[0]
        set_head(conn, db, 30, digest)


def _tamper_rebuild(db: Path) -> None:
    rebuild_from(db, 12, {"text": "nothing happened"})


@pytest.mark.parametrize(
    ("tamper", "seq", "reason", "local_ok"),
    [
        (_tamper_edit, 4, "edited", False),
        (_tamper_truncate, 31, "truncated", True),
        (_tamper_rebuild, 12, "rewritten", True),
    ],
    ids=["edit", "truncate", "rebuild"],
)
def test_tampered_cell_is_refused_and_the_centre_unchanged(
    shipped: tuple[Path, str, list], centre_url: str, tamper, seq: int, reason: str,
    local_ok: bool,
) -> None:  # fmt: skip
    db, store_id, before = shipped
    tamper(db)
    assert verify_store(db).ok is local_ok  # truncation and rebuild fool the cell alone
    done = ship(db, centre_url)
    assert done.returncode == 1
    assert f"centre refused store {store_id} at record #{seq}: {reason}:" in done.stderr
    assert centre_records(centre_url, store_id) == before
    assert _refusals(centre_url) == [(store_id, seq, reason)]
    assert ship(db, centre_url).returncode == 1  # and it stays refused


def test_rebuilt_cell_that_kept_recording_is_refused_at_the_first_rewritten_record(
    shipped: tuple[Path, str, list], centre_url: str
) -> None:
    db, store_id, before = shipped
    rebuild_from(db, 25, {"text": "edited"})
    make_store(db, 10, first=40)  # new records chained to the rebuilt history
    done = ship(db, centre_url)
    assert done.returncode == 1
    assert f"store {store_id} at record #25: rewritten" in done.stderr
    assert centre_records(centre_url, store_id) == before


def test_store_with_another_key_is_refused(
    shipped: tuple[Path, str, list], centre_url: str
) -> None:
    db, store_id, before = shipped
    old_public = meta(db)["public_key"]
    key_path(db).unlink()  # root on the cell replaces the key and re-signs everything
    new = create_key_file(key_path(db))
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'public_key'", (public_key_hex(new),))
        set_head(conn, db, 40, meta(db)["head_hash"])
    assert verify_store(db).ok  # consistent locally ...
    assert verify_store(db, expect_key=old_public).problem.what == "key_replaced"  # ... not
    done = ship(db, centre_url)  # even with nothing new to ship
    assert done.returncode == 1
    assert f"centre refused store {store_id} at the store: key_changed" in done.stderr
    make_store(db, 5, first=40)
    done = ship(db, centre_url)
    assert done.returncode == 1 and "key_changed" in done.stderr
    assert centre_records(centre_url, store_id) == before
    assert _refusals(centre_url) == [(store_id, None, "key_changed")] * 2


def _batch(db: Path, records: list, key: Ed25519PrivateKey, public: str) -> Batch:
    store_id = meta(db)["store_id"]
    shipped = [ShippedRecord(seq=s, kind="note", time_utc="t", body=b, hash=h)
               for s, h, b in records]  # fmt: skip
    last = shipped[-1]
    head = SignedHead(store_id=store_id, seq=last.seq, hash=last.hash,
                      signature=sign_head(key, store_id, last.seq, last.hash))  # fmt: skip
    return Batch(store_id=store_id, public_key=public, head=head, records=shipped)


def test_forged_signature_and_bad_records_are_refused_at_ingest(
    shipped: tuple[Path, str, list], centre_url: str
) -> None:
    db, store_id, before = shipped
    make_store(db, 5, first=40)
    new = local_records(db)[40:]
    public = meta(db)["public_key"]
    with psycopg.connect(centre_url, autocommit=True) as conn:
        migrate(conn)
        centre = Centre(conn)
        cases = {
            "signature": _batch(db, new, Ed25519PrivateKey.generate(), public),  # forged
            "diverged": _batch(db, [(40, "f" * 64, new[0][2])], _key(db), public),
            "gap": _batch(db, new[1:], _key(db), public),
            "edited": _batch(db, [(41, new[0][1], new[0][2].replace("record 40", "record 4")),
                                  *new[1:]], _key(db), public),
        }  # fmt: skip
        for reason, batch in cases.items():
            with pytest.raises(RefusedError) as refused:
                centre.ingest(batch)
            assert refused.value.refusal.reason == reason, refused.value
            assert refused.value.refusal.store_id == store_id
    assert centre_records(centre_url, store_id) == before


def _key(db: Path) -> Ed25519PrivateKey:
    return load_key_file(key_path(db))
