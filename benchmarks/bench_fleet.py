"""Fleet evidence at scale: ingest from many cells into one real PostgreSQL, against COPY.

A real PostgreSQL server is started as the fleet tests start theirs (`tests/fleet/
conftest.py`: Debian's binaries, `initdb` into /tmp, loopback), but durable: fsync on
(the test server runs with fsync off) and `max_connections` for the largest fleet.

For each fleet size (default 1, 10 and 100 concurrent simulated cells) in a fresh database:

1. ``--records`` episode records in total (the same rows at every size, split evenly) are
   written into one evidence store per cell with safetymon's `EvidenceStore` (signed,
   chained, `benchmarks/bench_evidence.py`'s realistic episodes);
2. every cell ships at once, each on its own PostgreSQL connection and thread with
   `safetymon.fleet.ship.ship_store` (the code behind `safetymon evidence ship`), the
   threads spread over ``--workers`` processes (a cell's checks are Python: one process
   would serialise them on the GIL); records per second = all records / wall time from the
   common start to the last cell done;
3. the same rows bulk-loaded with one plain ``COPY`` into a table of the same columns and
   primary key (no triggers), and with one ``COPY`` into ``fleet_records`` itself (the
   schema's hash and chain triggers on), both in the same run;
4. once per run, the Python side alone (one thread, no database: build, sign, validate and
   ``check_batch`` every batch of one store of up to 30,000 records), to split the time;
5. the central verification (`safetymon verify --db postgresql://...`'s
   `verify_centre`) over that database: seconds and records per second.

The cells' Python runs on the same machine as the server, so on a small machine the figures
are what the centre plus its cells reach together, a lower bound for a dedicated centre.

Usage (default: about 70-80 s on 2 cores; ``--repeats 3`` shows medians of three runs, for
a machine shared with other work; a bigger run: ``--records 300000``, about 5 min, or
``--records 1000000 --cells 100``)::

    .venv/bin/python benchmarks/bench_fleet.py [--records 30000] [--cells 1,10,100]
        [--batch-rows 500] [--workers 4] [--repeats 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for folder in (ROOT, ROOT / "benchmarks"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import psycopg  # noqa: E402
from bench_evidence import episode  # noqa: E402 (benchmarks/ on sys.path)

from safetymon.evidence.store import EvidenceStore  # noqa: E402
from safetymon.fleet.centre.ingest import Centre  # noqa: E402
from safetymon.fleet.centre.verify import verify_centre  # noqa: E402
from safetymon.fleet.schema import migrate  # noqa: E402
from safetymon.fleet.ship import ship_store  # noqa: E402
from tests.fleet.conftest import PgServer, _start_server  # noqa: E402 (the test server)

MAX_CONNECTIONS = 250
"""The benchmark server's max_connections (the largest fleet plus the workers)."""


@dataclass(frozen=True)
class Result:
    """One fleet size. Seconds are wall time; rates are records per second."""

    cells: int
    records: int
    build_s: float
    ingest_s: float
    ingest_rps: float
    copy_plain_s: float
    copy_plain_rps: float
    copy_triggers_s: float
    copy_triggers_rps: float
    verify_s: float
    verify_rps: float
    centre_mib: float

    @property
    def ratio(self) -> float:
        """Ingest throughput as a fraction of the plain COPY's."""
        return self.ingest_rps / self.copy_plain_rps


def start_durable_server() -> PgServer:
    """The test fixture's server, restarted with fsync on and room for the fleet."""
    server = _start_server()
    server.stop("fast")
    options = (
        f"-k {server.base} -p {server.port} -h 127.0.0.1 "
        f"-c max_connections={MAX_CONNECTIONS} -c fsync=on -c synchronous_commit=on"
    )
    done = server._ctl("-w", "-t", "60", "-l", str(server.base / "log"), "-o", options, "start")
    if done.returncode != 0:
        raise RuntimeError(f"pg_ctl start failed: {done.stdout}{done.stderr}")
    return server


def build_cells(folder: Path, cells: int, records: int) -> tuple[list[Path], float]:
    """One signed store per cell with ``records // cells`` episodes each (the first cells
    get the remainder); the paths and seconds taken."""
    started = time.perf_counter()
    paths = []
    per_cell = [records // cells + (1 if index < records % cells else 0) for index in range(cells)]
    number = 0
    for index, count in enumerate(per_cell):
        path = folder / f"cell{index:04d}.db"
        store = EvidenceStore.open(path, synchronous="OFF")
        for start in range(0, count, 5000):
            store.append_many(episode(number + n) for n in range(start, min(count, start + 5000)))
        number += count
        store.close()
        paths.append(path)
    return paths, time.perf_counter() - started


def _ship_group(url: str, dbs: list[str], batch_rows: int, start_at: float) -> list[float]:
    """Ship each store in its own thread and connection, all starting at wall time
    ``start_at``; the wall time each one finished (raises the first failure)."""
    ends: list[float] = []
    errors: list[BaseException] = []
    conns = [psycopg.connect(url, autocommit=True) for _ in dbs]

    def one(db: str, conn: psycopg.Connection) -> None:
        try:
            time.sleep(max(0.0, start_at - time.time()))
            ship_store(db, Centre(conn), batch_rows=batch_rows)
            ends.append(time.time())
        except BaseException as error:  # reported to the parent
            errors.append(error)

    threads = [threading.Thread(target=one, args=pair) for pair in zip(dbs, conns, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for conn in conns:
        conn.close()
    if errors:
        raise errors[0]
    return ends


def ingest(url: str, paths: list[Path], batch_rows: int, workers: int) -> float:
    """Ship every cell concurrently; wall seconds from the common start to the last done."""
    groups = [[str(p) for p in paths[index::workers]] for index in range(workers)]
    groups = [g for g in groups if g]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(len(groups), mp_context=context) as pool:
        pool.submit(time.sleep, 0).result()  # processes up before the clock starts
        start_at = time.time() + 2.0 + 0.05 * len(paths)  # every connection open by then
        futures = [pool.submit(_ship_group, url, g, batch_rows, start_at) for g in groups]
        ends = [end for future in futures for end in future.result()]
    return max(ends) - start_at


def _rows(paths: list[Path]) -> list[tuple]:
    import sqlite3

    from safetymon.evidence.reader import read_meta

    rows = []
    for path in paths:
        with sqlite3.connect(path) as conn:
            store_id = read_meta(conn)["store_id"]
            rows.extend((store_id, *row) for row in conn.execute(
                "SELECT seq, kind, time_utc, body, hash FROM records ORDER BY seq"))  # fmt: skip
    return rows


def copy_plain(url: str, rows: list[tuple]) -> float:
    """One COPY of ``rows`` into a plain table with fleet_records' columns and key."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TABLE bench_plain (store_id text, seq bigint, kind text, time_utc text,"
            " body text, hash text, received_at timestamptz NOT NULL DEFAULT now(),"
            " PRIMARY KEY (store_id, seq))"
        )
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy(
            "COPY bench_plain (store_id, seq, kind, time_utc, body, hash) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return time.perf_counter() - started


def copy_with_triggers(url: str, rows: list[tuple], keys: dict[str, str]) -> float:
    """One COPY of ``rows`` into ``fleet_records`` of a fresh centre (chain triggers on)."""
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
        with conn.transaction():
            for store_id, public in keys.items():
                conn.execute("INSERT INTO fleet_stores (store_id, public_key) VALUES (%s, %s)",
                             (store_id, public))  # fmt: skip
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur, cur.copy(
            "COPY fleet_records (store_id, seq, kind, time_utc, body, hash) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
        return time.perf_counter() - started


def _keys(paths: list[Path]) -> dict[str, str]:
    import sqlite3

    from safetymon.evidence.reader import read_meta

    keys = {}
    for path in paths:
        with sqlite3.connect(path) as conn:
            meta = read_meta(conn)
        keys[meta["store_id"]] = meta["public_key"]
    return keys


def python_checks_rps(path: Path, batch_rows: int) -> float:
    """Records per second through the Python side of shipping alone, one thread, no
    database: the cell builds and signs each batch, the centre validates it and runs
    ``check_batch`` (signature, chain, canonical body and hash of every record)."""
    import sqlite3

    from safetymon.evidence.canonical import GENESIS_HASH
    from safetymon.evidence.reader import read_meta
    from safetymon.evidence.signing import key_path, load_key_file, sign_head
    from safetymon.fleet.centre.ingest import check_batch
    from safetymon.fleet.models import Batch, ShippedRecord, SignedHead, StoreState

    with sqlite3.connect(path) as conn:
        meta = read_meta(conn)
        rows = conn.execute("SELECT seq, kind, time_utc, body, hash FROM records ORDER BY seq")
        rows = rows.fetchall()
    key, store_id, public = load_key_file(key_path(path)), meta["store_id"], meta["public_key"]
    state = StoreState(store_id=store_id, public_key=public, head_seq=0, head_hash=GENESIS_HASH)
    started = time.perf_counter()
    for index in range(0, len(rows), batch_rows):
        records = [ShippedRecord(seq=r[0], kind=r[1], time_utc=r[2], body=r[3], hash=r[4])
                   for r in rows[index : index + batch_rows]]  # fmt: skip
        last = records[-1]
        head = SignedHead(store_id=store_id, seq=last.seq, hash=last.hash,
                          signature=sign_head(key, store_id, last.seq, last.hash))  # fmt: skip
        batch = Batch(store_id=store_id, public_key=public, head=head, records=records)
        batch = Batch.model_validate_json(batch.model_dump_json())  # as if it crossed a wire
        if check_batch(batch, state, {}) is not None:
            raise RuntimeError("check_batch refused a valid batch")
        state = state.model_copy(update={"head_seq": last.seq, "head_hash": last.hash})
    return len(rows) / (time.perf_counter() - started)


def median_result(results: list[Result]) -> Result:
    """Each figure's median over repeated runs of one fleet size."""
    import statistics

    fields = {name: statistics.median(getattr(r, name) for r in results)
              for name in Result.__dataclass_fields__}  # fmt: skip
    return Result(**{**fields, "cells": results[0].cells, "records": results[0].records})


def run_size(
    server: PgServer, folder: Path, cells: int, args: argparse.Namespace, run: int = 0
) -> Result:
    """Build, ingest, COPY and verify one fleet size (``run``: repeat number)."""
    cell_dir = folder / f"cells-{cells}-{run}"
    cell_dir.mkdir()
    paths, build_s = build_cells(cell_dir, cells, args.records)
    url = server.create_database(f"fleet_{cells}_{run}")
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
    ingest_s = ingest(url, paths, args.batch_rows, min(args.workers, cells))
    rows = _rows(paths)
    copy_s = copy_plain(server.create_database(f"plain_{cells}_{run}"), rows)
    trig_s = copy_with_triggers(server.create_database(f"trig_{cells}_{run}"), rows, _keys(paths))
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        results = verify_centre(conn)
        verify_s = time.perf_counter() - started
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    held = sum(r.records for r in results)
    if held != args.records or not all(r.ok for r in results) or len(results) != cells:
        raise RuntimeError(f"central copy wrong: {held} records, {[r.summary() for r in results]}")
    shutil.rmtree(cell_dir)
    n = args.records
    return Result(cells, n, build_s, ingest_s, n / ingest_s, copy_s, n / copy_s, trig_s,
                  n / trig_s, verify_s, n / verify_s, size / 2**20)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=30_000, help="records per fleet size")
    parser.add_argument("--cells", default="1,10,100", help="fleet sizes, comma-separated")
    parser.add_argument("--batch-rows", type=int, default=500, help="records per batch")
    parser.add_argument("--workers", type=int, default=4, help="shipper processes")
    parser.add_argument("--repeats", type=int, default=1, help="runs per size (medians shown)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    sizes = [int(c) for c in args.cells.split(",")]
    server = start_durable_server()
    folder = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    try:
        version = psycopg.connect(server.url(), autocommit=True).execute(
            "SHOW server_version").fetchone()[0]  # fmt: skip
        print(f"PostgreSQL {version} (fsync on), {os.cpu_count()} CPUs, "
              f"{platform.machine()}, CPython {platform.python_version()}, "
              f"{args.records} episode records per fleet size, batches of {args.batch_rows}, "
              f"{args.workers} shipper processes", flush=True)  # fmt: skip
        check_dir = folder / "checks"
        check_dir.mkdir()
        check_paths, _ = build_cells(check_dir, 1, min(args.records, 30_000))
        python_checks_rps(check_paths[0], args.batch_rows)  # warm up (imports, first calls)
        checks_rps = python_checks_rps(check_paths[0], args.batch_rows)
        print(f"Python side of shipping alone (one thread, no database): {checks_rps:,.0f} "
              "records/s", flush=True)  # fmt: skip
        results = []
        for cells in sizes:
            runs = [run_size(server, folder, cells, args, run) for run in range(args.repeats)]
            result = median_result(runs)
            results.append(result)
            print(f"{cells} cells: ingest {result.ingest_rps:,.0f} records/s, plain COPY "
                  f"{result.copy_plain_rps:,.0f}/s (ratio {result.ratio:.2f}), "
                  f"verify {result.verify_rps:,.0f}/s", flush=True)  # fmt: skip
    finally:
        server.stop("fast")
        shutil.rmtree(server.base, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        sizes_json = [asdict(r) | {"ratio": r.ratio} for r in results]
        print(json.dumps({"python_checks_rps": checks_rps, "sizes": sizes_json}, indent=2))
        return
    print("\n| cells | records | ingest s | ingest records/s | plain COPY records/s | ingest / "
          "COPY | COPY into fleet_records (triggers) records/s | central verify s | verify "
          "records/s | centre MiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r.cells} | {r.records:,} | {r.ingest_s:.2f} | {r.ingest_rps:,.0f} | "
              f"{r.copy_plain_rps:,.0f} | {r.ratio:.2f} | {r.copy_triggers_rps:,.0f} | "
              f"{r.verify_s:.2f} | {r.verify_rps:,.0f} | {r.centre_mib:.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
