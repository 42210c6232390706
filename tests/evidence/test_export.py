"""Export to CSV, JSON Lines and Parquet from a real store, with time windows."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from safetymon.evidence.canonical import canonical_json
from safetymon.evidence.export import COLUMNS, ExportError, export_records
from safetymon.evidence.reader import ReadError
from safetymon.evidence.store import EvidenceStore
from tests.conftest import require_optional
from tests.evidence.helpers import populate


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    path = tmp_path_factory.mktemp("export") / "ev.db"
    return path, populate(path, episodes=9, snapshots=False)


def test_jsonl_lines_carry_the_exact_hashed_bodies(
    db: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, hashes = db
    summary = export_records(path, tmp_path / "out.jsonl", "jsonl")
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert summary.rows == len(lines) == len(hashes) == 11
    prev = "0" * 64
    for number, line in enumerate(lines, 1):
        item = json.loads(line)
        body = canonical_json(item["record"])
        assert item["seq"] == number and item["record"]["prev"] == prev
        assert hashlib.sha256(body.encode()).hexdigest() == item["hash"] == hashes[number - 1]
        prev = item["hash"]
    assert not (tmp_path / "out.jsonl.partial").exists()


def test_csv_has_episode_columns(db: tuple[Path, list[str]], tmp_path: Path) -> None:
    path, _ = db
    export_records(path, tmp_path / "out.csv", "csv")
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [name for name, _ in COLUMNS]
    assert [r["kind"] for r in rows] == ["run_start"] + ["episode"] * 9 + ["run_stop"]
    episodes = [r for r in rows if r["kind"] == "episode"]
    assert {r["category"] for r in episodes} == {"proximity", "input_fault"}
    near = [r for r in episodes if r["category"] == "proximity"]
    assert all(0.3 <= float(r["min_distance_m"]) <= 1.4 for r in near)
    assert all(r["zones"] == "cell" and r["robot_ids"] == "arm1" for r in near)
    assert all(r["payload"] == "" and r["snapshots"] == "" for r in episodes)
    assert {r["reasons"] for r in near} <= {"SEPARATION;SEPARATION_WARNING", "SEPARATION_WARNING"}
    assert rows[0]["min_distance_m"] == "" and json.loads(rows[0]["payload"])["run_id"] == "run-1"


def test_parquet_round_trips_typed_columns(db: tuple[Path, list[str]], tmp_path: Path) -> None:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        require_optional(False, "pyarrow")
    path, hashes = db
    export_records(path, tmp_path / "out.parquet", "parquet", batch_rows=4)
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.num_rows == 11 and table.column("hash").to_pylist() == hashes
    assert str(table.schema.field("min_distance_m").type) == "double"
    assert table.column("seq").to_pylist() == list(range(1, 12))
    assert table.column("track_ids").to_pylist()[1] == [7]
    assert table.column("zones").to_pylist()[1] == ["cell"]


def test_time_window_and_kind_filter(tmp_path: Path) -> None:
    store = EvidenceStore.open(tmp_path / "ev.db")
    for day in range(1, 6):
        store.append("note", {"day": day}, time_utc=f"2026-05-0{day}T12:00:00.000000Z")
        store.append("other", {"day": day}, time_utc=f"2026-05-0{day}T13:00:00.000000Z")
    store.close()
    out = tmp_path / "w.jsonl"
    summary = export_records(
        tmp_path / "ev.db", out, "jsonl",
        since="2026-05-02T00:00:00.000000Z", until="2026-05-04T12:00:00.000000Z",
    )  # fmt: skip
    days = [json.loads(line)["record"]["payload"]["day"] for line in out.read_text().splitlines()]
    assert summary.rows == 4 and days == [2, 2, 3, 3]
    summary = export_records(tmp_path / "ev.db", out, "csv", kinds=["other"])
    assert summary.rows == 5


def test_bad_format_and_missing_database(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="format 'xml'"):
        export_records(tmp_path / "ev.db", tmp_path / "o", "xml")  # type: ignore[arg-type]
    with pytest.raises(ReadError, match="no such file"):
        export_records(tmp_path / "missing.db", tmp_path / "o.csv", "csv")
