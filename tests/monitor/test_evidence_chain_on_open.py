"""The monitor verifies the whole evidence chain before it appends (issue 15, finding 10).

Before, opening a store checked only its last record: a record edited further back was
extended with new records, and `docs/MONITOR.md` said the chain was verified. Real SQLite
files, a real edit with the sqlite3 module, and a real `safetymon run` process.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from safetymon.config.loader import load_site_config
from safetymon.evidence.store import StoreError
from safetymon.evidence.verify import verify_store
from safetymon.monitor.evidence_hook import EvidenceRecorder

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "zones" / "service-counter.yaml"


def store_with_two_runs(db: Path) -> int:
    """Two recorder runs (run_start and run_stop each); returns the record count."""
    config = load_site_config(SITE)
    for _ in range(2):
        EvidenceRecorder(config, db).close(reason="test")
    result = verify_store(db)
    assert result.ok, result.summary()
    return result.records


def edit_record(db: Path, seq: int) -> None:
    """Change one character of record ``seq``'s body, leaving its stored hash."""
    conn = sqlite3.connect(db)
    try:
        body = conn.execute("SELECT body FROM records WHERE seq = ?", (seq,)).fetchone()[0]
        edited = body.replace('"service-counter"', '"service-counter2"', 1)
        assert edited != body
        conn.execute("UPDATE records SET body = ? WHERE seq = ?", (edited, seq))
        conn.commit()
    finally:
        conn.close()


def test_a_record_edited_before_the_head_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "evidence.db"
    records = store_with_two_runs(db)
    assert records >= 4
    edit_record(db, 1)
    with pytest.raises(StoreError, match=r"record #1: edited"):
        EvidenceRecorder(load_site_config(SITE), db)
    conn = sqlite3.connect(db)
    try:  # nothing was appended to the broken chain
        assert conn.execute("SELECT count(*) FROM records").fetchone()[0] == records
    finally:
        conn.close()


def test_an_intact_store_is_extended(tmp_path: Path) -> None:
    db = tmp_path / "evidence.db"
    records = store_with_two_runs(db)
    EvidenceRecorder(load_site_config(SITE), db).close(reason="test")
    result = verify_store(db)
    assert result.ok and result.records == records + 2


def test_run_refuses_a_store_edited_before_the_head(tmp_path: Path) -> None:
    db = tmp_path / "evidence.db"
    records = store_with_two_runs(db)
    edit_record(db, 3)  # the second run's run_start
    completed = subprocess.run(
        [sys.executable, "-m", "safetymon", "run", "--config", str(SITE), "--evidence", str(db),
         "--zmq", "tcp://127.0.0.1:0", "--duration", "3", "--no-status"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "record #3: edited" in completed.stderr
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT count(*) FROM records").fetchone()[0] == records
    finally:
        conn.close()
