"""`safetymon verify`, `export` and `report` end to end, as real subprocesses."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.evidence.helpers import populate


def safetymon(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "safetymon", *args],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    folder = tmp_path_factory.mktemp("cli")
    return folder / "ev.db", populate(folder / "ev.db", episodes=6)


def test_verify_ok_prints_summary_and_head(store: tuple[Path, list[str]]) -> None:
    db, hashes = store
    done = safetymon("verify", "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout and "records: 8" in done.stdout
    assert f"head hash (write it down to anchor the chain): {hashes[-1]}" in done.stdout
    done = safetymon("verify", "--db", str(db), "--expect-head", hashes[3])
    assert done.returncode == 0 and "expected head found at record #4" in done.stdout


def test_verify_names_the_first_bad_record(store: tuple[Path, list[str]], tmp_path: Path) -> None:
    db, _ = store
    copy = tmp_path / "ev.db"
    shutil.copy(db, copy)
    shutil.copytree(db.parent / "snapshots", tmp_path / "snapshots")
    with sqlite3.connect(copy) as conn:
        conn.execute("DELETE FROM records WHERE seq = 5")
    done = safetymon("verify", "--db", str(copy))
    assert done.returncode == 1
    assert "error: record #6: deleted: record(s) #5 before it are missing" in done.stderr
    done = safetymon("verify", "--db", str(copy), "--expect-head", "f" * 64)
    assert done.returncode == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["verify", "--db", "missing.db"], "missing.db: no such file"),
        (["verify", "--db", "{db}", "--expect-head", "xyz"], "--expect-head: 'xyz'"),
        (["export", "--db", "{db}", "--format", "csv", "--out", "{out}", "--since", "May 1"],
         "--since: 'May 1' is not an ISO 8601 time"),
        (["report", "--db", "{db}", "--out", "{out}", "--until", "later"], "--until: 'later'"),
        (["export", "--db", "{db}", "--format", "xml", "--out", "{out}"], "invalid choice"),
    ],
)  # fmt: skip
def test_invalid_input_exits_2_naming_it(
    store: tuple[Path, list[str]], tmp_path: Path, args: list[str], message: str
) -> None:
    db, _ = store
    args = [a.format(db=db, out=tmp_path / "out") for a in args]
    done = safetymon(*args)
    assert done.returncode == 2 and message in done.stderr, done.stderr


def test_export_and_report_commands(store: tuple[Path, list[str]], tmp_path: Path) -> None:
    db, hashes = store
    out = tmp_path / "all.jsonl"
    done = safetymon("export", "--db", str(db), "--format", "jsonl", "--out", str(out),
                     "--since", "2026-05-01T08:02:00Z", "--kind", "episode")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "wrote 5 records" in done.stdout and "export" in done.stderr  # tqdm's bar
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["hash"] for line in lines] == hashes[2:7]
    html = tmp_path / "report.html"
    done = safetymon("report", "--db", str(db), "--out", str(html))
    assert done.returncode == 0 and "chain OK" in done.stdout, done.stderr
    assert hashes[-1] in html.read_text()
