"""The centre's disk fills up mid-ship (issue 14, item 5): the shipper fails with a clear
error, everything the centre acknowledged stays (whole batches, chained), nothing in the
cell changes, and once there is space again a re-run completes exactly once.

The centre's database lives in a tablespace on a 12 MiB tmpfs of its own (mounted by the
test; it needs root, as the test server's own user switch does, and skips otherwise);
PostgreSQL's WAL stays in the server's data folder, so it is the records' table and index
that run out of space, as on a full data disk.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.fleet.conftest import PgServer
from tests.fleet.helpers import centre_records, local_records, make_store, ship


@pytest.fixture
def full_centre(pg: PgServer) -> Iterator[tuple[str, Path]]:
    """(URL, folder): a fresh centre database whose tables live in a tablespace on a 12 MiB
    tmpfs owned by the server's user. Afterwards the database and tablespace are dropped
    and a checkpoint taken before the tmpfs goes (a server restarted later by another test
    must not need the folder for its recovery)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    folder = Path(f"/tmp/safetymon-small-{uuid.uuid4().hex[:8]}")
    folder.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=12m,mode=0700", "tmpfs", str(folder)]
    mounted = subprocess.run(command, capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    name = f"full_{uuid.uuid4().hex[:8]}"
    try:
        owner = pg.base.stat()
        os.chown(folder, owner.st_uid, owner.st_gid)
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            conn.execute(f"CREATE TABLESPACE {name} LOCATION '{folder}'")
            conn.execute(f'CREATE DATABASE "{name}" TABLESPACE {name}')
            # sorts spill to the data folder's disk, not to the full one
            conn.execute(f"ALTER DATABASE \"{name}\" SET temp_tablespaces = 'pg_default'")
        yield pg.url(name), folder
    finally:
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f"DROP TABLESPACE IF EXISTS {name}")
            conn.execute("CHECKPOINT")
        subprocess.run(["umount", "-l", str(folder)], check=False)
        folder.rmdir()


def test_a_full_centre_disk_fails_clearly_keeps_what_it_acknowledged_and_resumes(
    full_centre: tuple[str, Path], tmp_path: Path
) -> None:
    url, small_disk = full_centre
    db = tmp_path / "cell.db"
    store_id = make_store(db, 30_000)  # about 20 MiB at the centre: more than the disk
    before = local_records(db)
    done = ship(db, url, "--batch-rows", "500", timeout_s=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"store {store_id}" in done.stderr
    assert "the centre is out of space" in done.stderr, done.stderr
    assert "No space left on device" in done.stderr and "run the shipper again" in done.stderr
    held = centre_records(url, store_id)
    assert 0 < len(held) < 30_000 and len(held) % 500 == 0  # whole batches only
    assert held == before[: len(held)]  # what it acknowledged is intact and in order
    assert local_records(db) == before  # the cell lost nothing
    subprocess.run(["mount", "-o", "remount,size=96m", str(small_disk)], check=True)
    again = ship(db, url, "--batch-rows", "500", timeout_s=300)
    assert again.returncode == 0, again.stderr
    assert centre_records(url, store_id) == before  # exactly once
