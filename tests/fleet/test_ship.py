"""Shipping a cell's store to a real PostgreSQL: idempotent, resumable, verified centrally."""

from __future__ import annotations

import hashlib
from pathlib import Path

import psycopg
import pytest

from safetymon.cli.main import COMMAND_MODULES
from safetymon.fleet.schema import SCHEMA_VERSION, migrate
from tests.fleet.helpers import centre_records, cli, local_records, make_store, meta, ship


def test_ship_then_reship_is_idempotent_and_verifies_centrally(
    tmp_path: Path, centre_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "cell.db"
    store_id = make_store(db, 120)
    done = ship(db, centre_url, "--batch-rows", "50")
    assert done.returncode == 0, done.stderr
    assert "accepted #1..#50 (50 new)" in done.stdout and "#101..#120 (20 new)" in done.stdout
    assert centre_records(centre_url, store_id) == local_records(db)
    again = ship(db, centre_url, "--batch-rows", "50")
    assert again.returncode == 0, again.stderr
    assert "0 new in 0 batches" in again.stdout
    make_store(db, 30, first=120)  # the cell goes on recording
    assert ship(db, centre_url).returncode == 0
    held = centre_records(centre_url, store_id)
    assert held == local_records(db) and [r[0] for r in held] == list(range(1, 151))
    with psycopg.connect(centre_url) as conn:
        heads = conn.execute(
            "SELECT seq FROM fleet_heads WHERE store_id = %s ORDER BY seq", (store_id,)
        ).fetchall()
        key = conn.execute(
            "SELECT public_key FROM fleet_stores WHERE store_id = %s", (store_id,)
        ).fetchone()[0]
    assert [h[0] for h in heads] == [50, 100, 120, 150]
    assert key == meta(db)["public_key"]
    capsys.readouterr()
    assert cli("verify", "--db", centre_url) == 0
    out = capsys.readouterr().out
    assert f"store {store_id}: OK: 150 records" in out and "4 signed heads valid" in out
    assert cli("verify", "--db", centre_url, "--store", "nope") == 1
    assert cli("verify", "--db", centre_url, "--store", store_id) == 0
    assert "safetymon.cli.fleet_cmd" in COMMAND_MODULES  # `safetymon evidence ship` exists


def test_migrations_are_versioned_idempotent_and_append_only(centre_url: str) -> None:
    with psycopg.connect(centre_url, autocommit=True) as conn:
        assert migrate(conn) == list(range(1, SCHEMA_VERSION + 1))
        assert migrate(conn) == []
        versions = conn.execute("SELECT version FROM fleet_migrations ORDER BY 1").fetchall()
        assert [v[0] for v in versions] == [1, 2]
        conn.execute("INSERT INTO fleet_stores (store_id, public_key) VALUES ('s', %s)",
                     ("a" * 64,))  # fmt: skip
        body = '{"kind":"x","payload":{},"prev":"' + "0" * 64 + '","time_utc":"t"}'
        digest = hashlib.sha256(body.encode()).hexdigest()
        conn.execute("INSERT INTO fleet_records (store_id, seq, kind, time_utc, body, hash)"
                     " VALUES ('s', 1, 'x', 't', %s, %s)", (body, digest))  # fmt: skip
        for statement in ("UPDATE fleet_records SET kind = 'y'", "DELETE FROM fleet_records",
                          "TRUNCATE fleet_records CASCADE"):  # fmt: skip
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(statement)
        with pytest.raises(psycopg.errors.RaiseException, match="does not match its hash"):
            conn.execute("INSERT INTO fleet_records (store_id, seq, kind, time_utc, body, hash)"
                         " VALUES ('s', 2, 'x', 't', %s, %s)", (body, "b" * 64))  # fmt: skip
        with pytest.raises(psycopg.errors.RaiseException, match="does not link"):
            conn.execute("INSERT INTO fleet_records (store_id, seq, kind, time_utc, body, hash)"
                         " VALUES ('s', 2, 'x', 't', %s, %s)", (body, digest))  # fmt: skip
