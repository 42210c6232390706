"""The shipper killed (SIGKILL) or cut off (server stopped) mid-way: a re-run completes and
every record arrives exactly once."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import psycopg

from tests.fleet.conftest import PgServer
from tests.fleet.helpers import centre_records, local_records, make_store, ship, ship_process


def _wait_for_batches(process: subprocess.Popen, count: int) -> list[str]:
    lines = []
    while len(lines) < count:
        line = process.stdout.readline()
        assert line, f"shipper ended early: {process.stderr.read()}"
        lines.append(line)
    return lines


def _held(url: str, store_id: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT count(*) FROM fleet_records WHERE store_id = %s", (store_id,)
        ).fetchone()[0]


def test_shipper_killed_mid_way_resumes_and_delivers_exactly_once(
    tmp_path: Path, centre_url: str
) -> None:
    db = tmp_path / "cell.db"
    store_id = make_store(db, 6000)
    process = ship_process(db, centre_url, "--batch-rows", "20")
    _wait_for_batches(process, 5)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    held = _held(centre_url, store_id)
    assert 100 <= held < 6000 and held % 20 == 0  # whole batches only, not all of them
    assert centre_records(centre_url, store_id) == local_records(db)[:held]
    done = ship(db, centre_url, "--batch-rows", "500")
    assert done.returncode == 0, done.stderr
    assert f"accepted #{held + 1}.." in done.stdout  # resumed from the centre's head
    assert centre_records(centre_url, store_id) == local_records(db)  # exactly once, in order


def test_server_stopped_mid_ship_fails_clearly_and_a_rerun_completes(
    tmp_path: Path, pg: PgServer, centre_url: str
) -> None:
    db = tmp_path / "cell.db"
    store_id = make_store(db, 6000)
    process = ship_process(db, centre_url, "--batch-rows", "20")
    _wait_for_batches(process, 5)
    try:
        pg.stop("fast")
        process.wait(timeout=30)
        stderr = process.stderr.read()
    finally:
        pg.start()
    assert process.returncode == 1, stderr
    assert f"store {store_id}" in stderr and "lost the centre connection" in stderr
    assert "run the shipper again to resume" in stderr
    held = _held(centre_url, store_id)
    assert held % 20 == 0 and held < 6000
    done = ship(db, centre_url, "--batch-rows", "1000")
    assert done.returncode == 0, done.stderr
    assert centre_records(centre_url, store_id) == local_records(db)


def test_unreachable_centre_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "cell.db"
    make_store(db, 3)
    done = ship(db, "postgresql://safetymon@127.0.0.1:1/none", timeout_s=30)
    assert done.returncode == 1
    assert "cannot connect to the centre postgresql://safetymon@127.0.0.1:1/none" in done.stderr


def test_password_in_url_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "cell.db"
    make_store(db, 3)
    done = ship(db, "postgresql://safetymon:secret@127.0.0.1:1/none")
    assert done.returncode == 1 and "password in the URL is refused" in done.stderr
    assert "secret" not in done.stderr
