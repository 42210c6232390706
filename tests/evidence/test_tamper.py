"""Tampering made with plain sqlite3 (the command-line shell) is detected and located."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from safetymon.evidence.signing import key_path, load_key_file, sign_head
from safetymon.evidence.verify import verify_store
from tests.evidence.helpers import populate


def sql(db: Path, statement: str) -> None:
    """Run SQL with the sqlite3 shell (the Python module where the shell is not installed)."""
    if shutil.which("sqlite3"):
        subprocess.run(["sqlite3", str(db), statement], check=True, capture_output=True)
    else:
        with sqlite3.connect(db) as conn:
            conn.executescript(statement)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    folder = tmp_path_factory.mktemp("pristine")
    hashes = populate(folder / "ev.db", episodes=9)
    return folder, hashes


@pytest.fixture
def db(pristine: tuple[Path, list[str]], tmp_path: Path) -> Path:
    folder, _ = pristine
    copy = tmp_path / "case"
    shutil.copytree(folder, copy)
    return copy / "ev.db"


def body_of(db: Path, seq: int) -> dict:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT body FROM records WHERE seq=?", (seq,)).fetchone()
    return json.loads(row[0])


def meta_value(db: Path, key: str) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()[0]


def test_untouched_store_verifies(db: Path, pristine: tuple[Path, list[str]]) -> None:
    result = verify_store(db)
    assert result.ok, result.problem
    assert result.records == len(pristine[1]) == 11
    assert result.head_hash == pristine[1][-1] and result.snapshots_checked == 5
    assert result.kinds == {"run_start": 1, "episode": 9, "run_stop": 1}


def test_edited_value_is_detected(db: Path) -> None:
    sql(db, "UPDATE records SET body = replace(body, '\"config_hash\":\"c', "
            "'\"config_hash\":\"d') WHERE seq = 4")  # fmt: skip
    problem = verify_store(db).problem
    assert (problem.seq, problem.what) == (4, "edited")
    assert "does not match its hash" in problem.detail


def test_edited_and_rehashed_record_is_detected_at_its_own_number(db: Path) -> None:
    body = body_of(db, 5)
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = text.replace('"kind":"stop"', '"kind":"near_miss"', 1)
    digest = hashlib.sha256(text.encode()).hexdigest()
    sql(db, f"UPDATE records SET body = '{text}', hash = '{digest}' WHERE seq = 5")
    problem = verify_store(db).problem
    assert (problem.seq, problem.what) == (5, "edited")
    assert "re-hashed" in problem.detail


def test_edited_index_column_is_detected(db: Path) -> None:
    sql(db, "UPDATE records SET kind = 'note' WHERE seq = 3")
    problem = verify_store(db).problem
    assert (problem.seq, problem.what) == (3, "edited") and "columns kind" in problem.detail


@pytest.mark.parametrize(
    ("where", "seq", "missing"),
    [("seq = 6", 7, "#6"), ("seq IN (3, 4, 5)", 6, "#3..#5"), ("seq = 1", 2, "#1")],
)
def test_deleted_records_are_detected(db: Path, where: str, seq: int, missing: str) -> None:
    sql(db, f"DELETE FROM records WHERE {where}")
    problem = verify_store(db).problem
    assert (problem.seq, problem.what) == (seq, "deleted")
    assert missing in problem.detail


def test_deleted_and_renumbered_record_is_detected(db: Path) -> None:
    sql(db, "DELETE FROM records WHERE seq = 4; UPDATE records SET seq = seq - 1 WHERE seq > 4; "
            "UPDATE meta SET value = '10' WHERE key = 'head_seq';")  # fmt: skip
    problem = verify_store(db).problem
    assert problem.seq == 3 and problem.what == "edited"  # #4 now holds the old #5


def test_reordered_records_are_detected(db: Path) -> None:
    sql(db, "UPDATE records SET seq = -1 WHERE seq = 4; UPDATE records SET seq = 4 WHERE seq = 5;"
            " UPDATE records SET seq = 5 WHERE seq = -1;")  # fmt: skip
    problem = verify_store(db).problem
    assert (problem.seq, problem.what) == (4, "reordered")
    assert "written after record #5" in problem.detail


def test_cut_tail_is_detected_and_rewritten_head_needs_the_anchor(
    db: Path, pristine: tuple[Path, list[str]]
) -> None:
    hashes = pristine[1]
    sql(db, "DELETE FROM records WHERE seq >= 10")
    problem = verify_store(db).problem
    assert problem.what == "truncated" and "last record is #9" in problem.detail
    # someone who also rewrites the head is not caught by the chain alone ...
    sql(db, f"UPDATE meta SET value = '9' WHERE key = 'head_seq'; "
            f"UPDATE meta SET value = '{hashes[8]}' WHERE key = 'head_hash';")  # fmt: skip
    # the head signature no longer matches (unless the store's private key re-signs it) ...
    problem = verify_store(db).problem
    assert (problem.seq, problem.what) == (9, "signature")
    store_id = meta_value(db, "store_id")
    signature = sign_head(load_key_file(key_path(db)), store_id, 9, hashes[8])
    sql(db, f"UPDATE meta SET value = '{signature}' WHERE key = 'head_signature';")
    assert verify_store(db).ok
    # ... but an anchor written down earlier is
    problem = verify_store(db, expect_head=hashes[-1]).problem
    assert problem.what == "anchor_missing" and hashes[-1] in problem.detail
    anchored = verify_store(db, expect_head=hashes[4])
    assert anchored.ok and anchored.anchor_seq == 5


def test_changed_and_missing_snapshots_are_detected(db: Path) -> None:
    payloads = [(seq, body_of(db, seq)["payload"]) for seq in range(1, 12)]
    snaps = [(seq, snap) for seq, payload in payloads for snap in payload.get("snapshots", [])]
    (seq_a, snap_a), (_, snap_b) = snaps[1], snaps[3]
    file_a = db.parent / snap_a["file"]
    data = bytearray(file_a.read_bytes())
    data[len(data) // 2] ^= 0xFF
    file_a.write_bytes(bytes(data))
    (db.parent / snap_b["file"]).unlink()
    problem = verify_store(db).problem
    assert (problem.seq, problem.what) == (seq_a, "snapshot_changed")
    file_a.unlink()
    problem = verify_store(db).problem
    assert (problem.seq, problem.what) == (seq_a, "snapshot_missing")
    assert verify_store(db, check_snapshots=False).ok


def test_corrupted_file_is_reported(db: Path) -> None:
    sql(db, "PRAGMA wal_checkpoint(TRUNCATE);")
    data = bytearray(db.read_bytes())
    page = 4096
    for offset in range(page + 100, min(len(data), 3 * page), 7):
        data[offset] ^= 0x5A
    db.write_bytes(bytes(data))
    problem = verify_store(db).problem
    assert problem is not None and problem.what in {"corrupt", "edited", "deleted"}
