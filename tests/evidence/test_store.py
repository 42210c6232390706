"""EvidenceStore on real SQLite files: durability settings, schema, refusals and full disks."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from safetymon.evidence.canonical import GENESIS_HASH, canonical_json
from safetymon.evidence.schema import SCHEMA_VERSION, migrate
from safetymon.evidence.store import EvidenceStore, StoreError
from safetymon.evidence.verify import verify_store
from tests.conftest import REPO


def test_append_is_chained_durable_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "ev.db"
    store = EvidenceStore.open(path)
    assert store.head == (0, GENESIS_HASH)
    first = store.append("test", {"n": 1, "name": "zoné ü"})
    second = store.record("config_change", {"old": "a" * 64, "new": "b" * 64})
    assert (first.seq, second.seq) == (1, 2)
    conn = store._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.close()
    store = EvidenceStore.open(path)
    assert store.head == (2, second.hash)
    third = store.append("test", {"n": 3})
    store.close()
    rows = sqlite3.connect(path).execute("SELECT seq, body, hash FROM records").fetchall()
    bodies = [json.loads(body) for _, body, _ in rows]
    assert [b["prev"] for b in bodies] == [GENESIS_HASH, first.hash, second.hash]
    assert [h for *_, h in rows] == [first.hash, second.hash, third.hash]
    assert rows[0][1] == canonical_json(bodies[0]) and "zoné ü" in rows[0][1]
    assert verify_store(path).ok


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"x": float("nan")}, "payload.x: non-finite float nan"),
        ({"a": [1, float("inf")]}, "payload.a[1]: non-finite float inf"),
        ({"a": {1: 2}}, "payload.a: non-string key 1"),
        ({"a": {1, 2}}, "payload.a: set is not a JSON type"),
    ],
)
def test_payloads_that_are_not_canonical_json_are_refused(
    tmp_path: Path, payload: dict, field: str
) -> None:
    store = EvidenceStore.open(tmp_path / "ev.db")
    with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
        store.append("test", payload)
    with pytest.raises(ValueError, match="kind 'Bad Kind'"):
        store.append("Bad Kind", {})
    with pytest.raises(ValueError, match="time_utc '2026-05-01 08:00'"):
        store.append("test", {}, time_utc="2026-05-01 08:00")
    assert store.head == (0, GENESIS_HASH)  # nothing was written


def test_version_1_database_is_migrated_and_keeps_verifying(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=1)
    conn.close()
    store = EvidenceStore.open(path)
    store.append("test", {"n": 1})
    store.close()
    conn = sqlite3.connect(path)
    version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert int(version) == SCHEMA_VERSION == 3 and "records_time" in indexes
    assert verify_store(path).ok


def test_newer_schema_foreign_and_corrupt_files_are_refused(tmp_path: Path) -> None:
    newer = tmp_path / "newer.db"
    EvidenceStore.open(newer).close()
    with sqlite3.connect(newer) as conn:
        conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(StoreError, match="schema version 99 is newer"):
        EvidenceStore.open(newer)
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE other (x)")
    with pytest.raises(StoreError, match="not a safetymon evidence database"):
        EvidenceStore.open(foreign)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(os.urandom(8192))
    with pytest.raises(StoreError, match=r"garbage\.db"):
        EvidenceStore.open(garbage)


def test_broken_head_refuses_to_extend_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "ev.db"
    store = EvidenceStore.open(path)
    for n in range(3):
        store.append("test", {"n": n})
    store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM records WHERE seq = 3")
    with pytest.raises(StoreError, match="chain head mismatch"):
        EvidenceStore.open(path)


def _can_mount() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0 and sys.platform == "linux"


@contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A small tmpfs mounted at ``where`` (root only); skips when mounting is not permitted."""
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_read_only_location_is_refused_at_open(tmp_path: Path) -> None:
    if _can_mount():  # root ignores file modes: use a read-only mount
        with tmpfs(tmp_path / "mnt", "4m") as mount:
            EvidenceStore.open(mount / "ev.db").close()
            subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
            with pytest.raises(StoreError, match=r"ev\.db"):
                EvidenceStore.open(mount / "ev.db")
            with pytest.raises(StoreError, match=r"new\.db"):
                EvidenceStore.open(mount / "new.db")
    else:
        folder = tmp_path / "ro"
        folder.mkdir()
        EvidenceStore.open(folder / "ev.db").close()
        for file in folder.iterdir():
            file.chmod(0o444)
        folder.chmod(0o555)
        try:
            with pytest.raises(StoreError, match=r"ev\.db"):
                EvidenceStore.open(folder / "ev.db")
        finally:
            folder.chmod(0o755)


_FILL = textwrap.dedent(
    """
    import resource, signal, sys
    from safetymon.evidence.store import EvidenceStore, StoreError
    limit = int(sys.argv[2])
    if limit:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of a signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    store = EvidenceStore.open(sys.argv[1])
    for n in range(100000):
        try:
            done = store.append("filler", {"n": n, "pad": "x" * 4000})
        except StoreError as error:
            print("FAULT", error, flush=True)
            sys.exit(3)
        print("OK", done.seq, done.hash, flush=True)
    """
)


def _fill_until_fault(db: Path, limit_bytes: int) -> tuple[list[tuple[int, str]], str]:
    done = subprocess.run(
        [sys.executable, "-c", _FILL, str(db), str(limit_bytes)],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 3, (done.returncode, done.stdout[-500:], done.stderr[-2000:])
    appended = [(int(s), h) for tag, s, h in (ln.split() for ln in done.stdout.splitlines()
                if ln.startswith("OK "))]  # fmt: skip
    fault = done.stdout.splitlines()[-1]
    return appended, fault


def _durable(db: Path, appended: list[tuple[int, str]]) -> None:
    result = verify_store(db)
    assert result.ok, result.problem
    rows = dict(sqlite3.connect(f"file:{db}?mode=ro", uri=True).execute(
        "SELECT seq, hash FROM records").fetchall())  # fmt: skip
    assert appended and all(rows.get(seq) == digest for seq, digest in appended)


def test_full_disk_by_file_size_limit_is_reported_and_chain_survives(tmp_path: Path) -> None:
    db = tmp_path / "ev.db"
    appended, fault = _fill_until_fault(db, 256 * 1024)
    assert fault.startswith("FAULT") and "cannot append record" in fault
    assert "full" in fault or "I/O" in fault or "too large" in fault, fault
    _durable(db, appended)


def test_full_tmpfs_is_reported_and_chain_survives(tmp_path: Path) -> None:
    if not _can_mount():
        pytest.skip("mounting a tmpfs needs root")
    with tmpfs(tmp_path / "mnt", "1m") as mount:
        appended, fault = _fill_until_fault(mount / "ev.db", 0)
        assert "database or disk is full" in fault or "I/O" in fault, fault
        _durable(mount / "ev.db", appended)


def test_verify_reads_while_the_store_is_open_for_writing(tmp_path: Path) -> None:
    store = EvidenceStore.open(tmp_path / "ev.db")
    for n in range(5):
        store.append("test", {"n": n})
    done = subprocess.run(
        [sys.executable, "-m", "safetymon", "verify", "--db", str(tmp_path / "ev.db")],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0 and "records: 5" in done.stdout, done.stderr
    store.append("test", {"n": 5})  # the writer is unaffected by the reader
    store.close()
    assert verify_store(tmp_path / "ev.db").records == 6
