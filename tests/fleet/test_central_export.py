"""`safetymon export --db postgresql://... [--store ID]`: the central copy through the cell's
own export writers, byte for byte what the cell's export gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fleet.helpers import cli, make_store, ship


def test_central_export_equals_the_cells_own_export(
    tmp_path: Path, centre_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "a.db", tmp_path / "b.db"
    store_a, store_b = make_store(first, 1234), make_store(second, 20)
    assert ship(first, centre_url, "--quiet").returncode == 0
    local, central = tmp_path / "local.jsonl", tmp_path / "central.jsonl"
    assert cli("export", "--db", str(first), "--format", "jsonl", "--out", str(local),
               "--no-progress") == 0  # fmt: skip
    # one store held: --store may be left out
    assert cli("export", "--db", centre_url, "--format", "jsonl", "--out", str(central),
               "--no-progress") == 0  # fmt: skip
    assert central.read_bytes() == local.read_bytes()
    assert f"wrote 1234 records of store {store_a}" in capsys.readouterr().out

    assert ship(second, centre_url, "--quiet").returncode == 0
    capsys.readouterr()
    assert cli("export", "--db", centre_url, "--format", "csv", "--out",
               str(tmp_path / "x.csv"), "--no-progress") == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "name the store to export with --store ID" in err
    assert store_a in err and store_b in err
    assert cli("export", "--db", centre_url, "--store", "nope", "--format", "csv", "--out",
               str(tmp_path / "x.csv"), "--no-progress") == 2  # fmt: skip
    assert "no such store 'nope'" in capsys.readouterr().err

    window = ("--since", "2026-05-01T08:00:10Z", "--until", "2026-05-01T08:00:15Z")
    for db, out in ((str(first), local), (centre_url, central)):
        extra = ("--store", store_a) if db == centre_url else ()
        assert cli("export", "--db", db, *extra, *window, "--format", "csv", "--out",
                   str(out), "--no-progress") == 0  # fmt: skip
    assert central.read_bytes() == local.read_bytes()
    assert len(central.read_text().splitlines()) == 1 + 5  # header and records 11..15


def test_central_export_of_an_unreachable_centre_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql://safetymon@127.0.0.1:1/none"
    assert cli("export", "--db", url, "--format", "csv", "--out", str(tmp_path / "x.csv")) == 1
    assert f"cannot connect to the centre {url}" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()
