"""The central plan report at fleet scale: 1 M and 10 M records in a real PostgreSQL.

A durable PostgreSQL server is started as ``bench_fleet.py`` starts its own (the test
fixture's ``initdb`` into /tmp, then fsync on). For each fleet size (default 100 and 1,000
cells of ``--records-per-cell`` records: 1 M and 10 M records) a fresh database is filled
with the central copy those cells would have after shipping everything once, then measured.

**Fill (bulk, not through ``ship_store``).** Shipping runs at about 13.5k records/s on this
machine (``bench_fleet.py``): 12 minutes for 10 M records before any measurement. Instead,
for each cell, safetymon's own functions build exactly the rows the ship path leaves:

- records: ``run_start`` (a ``RunStart`` with the cell's configuration: site, robot,
  protective zone), realistic ``Episode`` payloads (``bench_evidence.episode``'s values,
  each payload checked against the ``Episode`` model for the first records of each cell),
  ``run_stop``; bodies with ``canonical.record_body``, hashes with ``body_hash``, chained from
  the genesis hash: what ``EvidenceStore.append_many`` writes;
- a fresh Ed25519 key per cell and a random store id; ``fleet_heads`` holds the head signed
  with ``sign_head`` at every ``--batch-rows``-th record and at the last, as ``ship_store``'s
  batches from record #1 leave them; ``fleet_stores`` holds the key and the last record.

Each cell's rows are ``COPY``'d into ``fleet_records`` in one transaction **with the schema's
triggers on**: PostgreSQL itself checks every record's hash and link as it would on ingest.
``verify`` (measured below) then checks every chain and signed head again: the fill is only
reported when the whole centre verifies.

**Measured**, each command in a fresh subprocess through the CLI's own code (time, peak RSS
``ru_maxrss``; an address-space limit ``--mem-limit-gib`` keeps a report that grows without
bound from taking the shared machine: it then shows ``MemoryError``):

- ``safetymon verify --db URL``: every store's chain and signed heads;
- ``safetymon report --db URL --plan fleet-plan.yaml --out report.html``: every cell, a plan
  of one scenario over every site (all seven criteria); also the size of the files written;
- the same with ``--store ID`` (one cell), with a plan naming one site, and with
  ``--since/--until`` (a two-hour window): whether each filter reads less.

Usage (both sizes: about 75 minutes on 2 shared cores, of which the 10 M fill 19 min and
its report 24 min; disk: about 15 GB; the 10 M report needs about 10 GiB of memory)::

    .venv/bin/python benchmarks/bench_fleet_report.py [--cells 100,1000]
        [--records-per-cell 10000] [--workers 2] [--mem-limit-gib 16] [--keep]
        [--centre URL ...] [--pythonpath DIR] [--reports every,store,site,window]
        [--skip-verify]

``--keep`` leaves the server running with its data (the URLs are printed) and
``--centre URL`` measures an existing centre without filling (``--pythonpath DIR`` runs the
measured commands on another copy of safetymon, e.g. an older one, for a before/after).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for folder in (ROOT, ROOT / "benchmarks"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import psycopg  # noqa: E402
from bench_fleet import start_durable_server  # noqa: E402 (benchmarks/ on sys.path)

from safetymon.evidence.canonical import GENESIS_HASH, body_hash, record_body  # noqa: E402
from safetymon.evidence.records import (  # noqa: E402
    EPISODE,
    RUN_START,
    RUN_STOP,
    Episode,
    RunStart,
    RunStop,
    format_utc,
)
from safetymon.evidence.signing import public_key_hex, sign_head  # noqa: E402
from safetymon.evidence.store import payload_dict  # noqa: E402
from safetymon.fleet.schema import migrate  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
EPISODE_STEP_S = 7.3
"""Seconds between a cell's episodes (``bench_evidence.episode``'s spacing)."""
RUN_EPISODES = 3000
"""Episodes per monitor run (about 6 hours): ``run_start``, episodes, ``run_stop``."""
WINDOW = (T0 + timedelta(hours=6), T0 + timedelta(hours=8))
"""The ``--since/--until`` window of the time-range report."""
CRITERIA = {
    "protective_zone_stop_within_ms": 250,
    "separation_below_sp_requires_stop": True,
    "reaction_latency_p99_max_ms": 250,
    "protective_stops_per_hour_max": 2.0,
    "input_fault_stops_per_hour_max": 0.5,
    "availability_min_percent": 98.0,
    "operating_hours_min": 10,
}
CHILD = """
import argparse, resource, sys, time
limit = int(sys.argv[1])
if limit:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from safetymon.cli import evidence_cmd
parser = argparse.ArgumentParser()
evidence_cmd.register(parser.add_subparsers())
args = parser.parse_args(sys.argv[2:])
t = time.perf_counter()
try:
    code = args.func(args)
except MemoryError:
    code = "MemoryError"
elapsed = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"RESULT {code} {elapsed:.3f} {rss:.1f}", file=sys.stderr)
print("CODE", evidence_cmd.__file__, file=sys.stderr)
"""


def site_of(cell: int) -> str:
    """The site of cell ``cell`` (one cell per site, as one site file per cell)."""
    return f"site-{cell:04d}"


def _config(cell: int) -> dict[str, Any]:
    return {
        "site": site_of(cell),
        "robots": [{"id": "arm1"}],
        "zones": [
            {"id": "zone0", "type": "protective", "polygon": [[0, 0], [1, 0], [1, 1]]},
            {"id": "zone1", "type": "warning", "polygon": [[0, 0], [3, 0], [3, 3]]},
        ],
    }


_TEMPLATE: dict[str, Any] | None = None


def episode_payload(n: int, start: datetime) -> dict[str, Any]:
    """``bench_evidence.episode(n)``'s payload (JSON form) starting at ``start``, built as a
    dict (``Episode.model_dump(mode="json")`` is ~4x slower; ``cell_rows`` checks the two
    agree)."""
    global _TEMPLATE
    if _TEMPLATE is None:
        from bench_evidence import episode

        _TEMPLATE = payload_dict(episode(0)[1])
    from bench_evidence import episode_fields

    out = dict(_TEMPLATE)
    out.update(episode_fields(n, start))
    return out


def cell_items(cell: int, count: int) -> list[tuple[str, dict[str, Any], str]]:
    """(kind, payload, time_utc) of a cell's ``count`` records: runs of ``RUN_EPISODES``
    episodes between ``run_start`` and ``run_stop``, one episode every 7.3 s from T0."""
    items: list[tuple[str, dict[str, Any], str]] = []
    n = episode_no = 0
    run = 0
    while len(items) < count:
        start = T0 + timedelta(seconds=episode_no * EPISODE_STEP_S)
        run_id = f"{cell:08x}{run:024x}"
        begin = RunStart(run_id=run_id, site=site_of(cell), config_hash="c" * 64,
                         model_hash="m" * 64, software_version="0.1.0", config=_config(cell))
        items.append((RUN_START, payload_dict(begin), format_utc(start - timedelta(seconds=1))))
        for _ in range(RUN_EPISODES):
            if len(items) >= count - 1:
                break
            start = T0 + timedelta(seconds=episode_no * EPISODE_STEP_S)
            n = cell * 1_000_003 + episode_no
            items.append((EPISODE, episode_payload(n, start),
                          format_utc(start + timedelta(seconds=2.5))))
            episode_no += 1
        end = T0 + timedelta(seconds=episode_no * EPISODE_STEP_S)
        items.append((RUN_STOP, payload_dict(RunStop(run_id=run_id, clean=True)),
                      format_utc(end)))
        run += 1
    return items[:count]


def cell_rows(cell: int, count: int, batch_rows: int) -> dict[str, Any]:
    """The central rows of one cell shipped in full: store row, records, signed heads."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    store_id = uuid.uuid4().hex  # as evidence/schema.py makes one
    records, heads = [], []
    prev = GENESIS_HASH
    for seq, (kind, payload, time_utc) in enumerate(cell_items(cell, count), start=1):
        # the dict form is what the model writes
        model_form = kind != EPISODE or seq > 50 or (
            Episode.model_validate(payload).model_dump(mode="json") == payload
        )
        if not model_form:
            raise RuntimeError(f"episode payload of record {seq} is not the model's form")
        body = record_body(kind, time_utc, prev, payload)
        prev = body_hash(body)
        records.append((store_id, seq, kind, time_utc, body, prev))
        if seq % batch_rows == 0 or seq == count:
            heads.append((store_id, seq, prev, sign_head(key, store_id, seq, prev)))
    return {"store": (store_id, public_key_hex(key), count, prev), "records": records,
            "heads": heads}


def _fill_cells(url: str, cells: list[int], count: int, batch_rows: int) -> int:
    """Build and COPY the given cells (one transaction each, triggers on); records done."""
    done = 0
    with psycopg.connect(url, autocommit=True) as conn:
        for cell in cells:
            rows = cell_rows(cell, count, batch_rows)
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("INSERT INTO fleet_stores (store_id, public_key, head_seq, head_hash)"
                            " VALUES (%s, %s, %s, %s)", rows["store"])
                with cur.copy("COPY fleet_records (store_id, seq, kind, time_utc, body, hash)"
                              " FROM STDIN") as copy:
                    for row in rows["records"]:
                        copy.write_row(row)
                with cur.copy("COPY fleet_heads (store_id, seq, hash, signature) FROM STDIN"
                              ) as copy:
                    for row in rows["heads"]:
                        copy.write_row(row)
            done += len(rows["records"])
    return done


def fill(url: str, cells: int, per_cell: int, batch_rows: int, workers: int) -> float:
    """Fill a fresh, migrated centre with ``cells`` shipped cells; seconds taken."""
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
    started = time.perf_counter()
    chunks = [list(range(cells))[index::workers] for index in range(workers)]
    with ProcessPoolExecutor(workers) as pool:
        futures = [pool.submit(_fill_cells, url, chunk, per_cell, batch_rows)
                   for chunk in chunks if chunk]
        total = sum(f.result() for f in futures)
    if total != cells * per_cell:
        raise RuntimeError(f"filled {total} records, expected {cells * per_cell}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


@dataclass(frozen=True)
class Measured:
    """One command: wall seconds, peak RSS (MiB), exit code, output MiB (reports)."""

    what: str
    records: int
    seconds: float
    rss_mib: float
    code: str
    out_mib: float

    @property
    def rps(self) -> float:
        """Records of the centre per second of the command."""
        return self.records / self.seconds if self.seconds else 0.0


def measure(what: str, records: int, argv: list[str], *, limit_gib: float,
            pythonpath: str | None, out_dir: Path | None = None) -> Measured:
    """Run ``safetymon ARGV`` in a fresh interpreter; its time, peak RSS and exit code."""
    env = dict(os.environ)
    env["PYTHONPATH"] = pythonpath or str(ROOT)
    limit = int(limit_gib * 2**30)
    # cwd: a folder without safetymon, since ``-c`` puts the cwd first on sys.path
    done = subprocess.run([sys.executable, "-c", CHILD, str(limit), *argv], env=env,
                          capture_output=True, text=True, check=False,
                          cwd=tempfile.gettempdir())
    line = [x for x in done.stderr.splitlines() if x.startswith("RESULT ")]
    if not line:
        raise RuntimeError(f"{what}: no result: {done.stderr[-3000:]}")
    _, code, seconds, rss = line[-1].split()
    used = [x for x in done.stderr.splitlines() if x.startswith("CODE ")]
    if pythonpath and used and not used[-1].split(" ", 1)[1].startswith(pythonpath):
        raise RuntimeError(f"{what}: ran {used[-1]}, not the code in {pythonpath}")
    out = 0.0
    if out_dir is not None:
        out = sum(p.stat().st_size for p in out_dir.iterdir()) / 2**20
        shutil.rmtree(out_dir)
    result = Measured(what, records, float(seconds), float(rss), code, out)
    print(f"  {what}: {result.seconds:.1f} s, {result.rss_mib:,.0f} MiB peak RSS, exit "
          f"{code}, {result.rps:,.0f} records/s" + (f", output {out:.1f} MiB" if out else ""),
          flush=True)
    if code == "MemoryError":
        print(done.stderr[-1500:], flush=True)
    return result


def write_plans(folder: Path) -> tuple[Path, Path]:
    """The fleet plan (every site) and a plan naming one site (JSON is YAML)."""
    every = folder / "fleet-plan.yaml"
    every.write_text(json.dumps({"plan": "fleet", "scenarios": [
        {"id": "fleet", "criteria": CRITERIA}]}))
    one = folder / "site-plan.yaml"
    one.write_text(json.dumps({"plan": "one site", "scenarios": [
        {"id": "one-site", "sites": [site_of(0)], "criteria": CRITERIA}]}))
    return every, one


def measure_centre(url: str, folder: Path, args: argparse.Namespace) -> list[Measured]:
    """verify and the four reports on one centre."""
    with psycopg.connect(url, autocommit=True) as conn:
        records = int(conn.execute("SELECT count(*) FROM fleet_records").fetchone()[0])
        first = str(conn.execute("SELECT min(store_id) FROM fleet_stores").fetchone()[0])
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        heads = int(conn.execute("SELECT count(*) FROM fleet_heads").fetchone()[0])
        stores = int(conn.execute("SELECT count(*) FROM fleet_stores").fetchone()[0])
    print(f"centre {url}: {stores} stores, {records:,} records, {heads:,} signed heads, "
          f"{size / 2**30:.2f} GiB", flush=True)
    every, one = write_plans(folder)
    kw = {"limit_gib": args.mem_limit_gib, "pythonpath": args.pythonpath}
    results = []
    if not args.skip_verify:
        results.append(measure("verify", records, ["verify", "--db", url], **kw))
    runs = {
        "every": ("report, every cell", ["--plan", str(every)]),
        "store": ("report --store (one cell)", ["--plan", str(every), "--store", first]),
        "site": ("report, plan of one site", ["--plan", str(one)]),
        "window": ("report --since/--until (2 h)", ["--plan", str(every), "--since",
                                                   WINDOW[0].isoformat(), "--until",
                                                   WINDOW[1].isoformat()]),
    }
    wanted = args.reports.split(",")
    if args.only_full:
        wanted = ["every"]
    for name in wanted:
        what, extra = runs[name]
        out = Path(tempfile.mkdtemp(prefix="report-", dir=folder))
        results.append(measure(what, records, ["report", "--db", url, *extra, "--out",
                                               str(out / "report.html")], out_dir=out, **kw))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", default="100,1000", help="fleet sizes, comma-separated")
    parser.add_argument("--records-per-cell", type=int, default=10_000)
    parser.add_argument("--batch-rows", type=int, default=500, help="records per signed head")
    parser.add_argument("--workers", type=int, default=2, help="fill processes")
    parser.add_argument("--mem-limit-gib", type=float, default=16.0,
                        help="address-space limit of each measured command")
    parser.add_argument("--keep", action="store_true", help="leave the server and its data")
    parser.add_argument("--centre", action="append", help="measure this centre (no fill)")
    parser.add_argument("--pythonpath", help="run the measured commands on this safetymon")
    parser.add_argument("--only-full", action="store_true", help="only verify and full report")
    parser.add_argument("--reports", default="every,store,site,window",
                        help="which reports: every, store, site, window (comma-separated)")
    parser.add_argument("--skip-verify", action="store_true", help="measure reports only")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-fleet-report-"))
    print(f"{os.cpu_count()} CPUs, {platform.machine()}, CPython "
          f"{platform.python_version()}, code: {args.pythonpath or ROOT}", flush=True)
    table: list[dict[str, Any]] = []
    server = None
    try:
        if args.centre:
            urls = [(u, None) for u in args.centre]
        else:
            server = start_durable_server()
            with psycopg.connect(server.url(), autocommit=True) as conn:
                print("PostgreSQL", conn.execute("SHOW server_version").fetchone()[0],
                      "(fsync on)", flush=True)
            urls = []
            for cells in [int(c) for c in args.cells.split(",")]:
                url = server.create_database(f"centre_{cells}")
                seconds = fill(url, cells, args.records_per_cell, args.batch_rows,
                               args.workers)
                n = cells * args.records_per_cell
                print(f"filled {cells} cells, {n:,} records in {seconds:.0f} s "
                      f"({n / seconds:,.0f} records/s, triggers on)", flush=True)
                urls.append((url, (cells, seconds)))
        for url, filled in urls:
            for m in measure_centre(url, folder, args):
                table.append({"centre": url, **asdict(m), "rps": m.rps,
                              **({"fill_s": filled[1]} if filled else {})})
    finally:
        if server is not None and not args.keep:
            server.stop("fast")
            shutil.rmtree(server.base, ignore_errors=True)
        elif server is not None:
            print(f"kept: server data {server.base} (stop: pg_ctl -D {server.data} stop)")
        shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps(table, indent=2))
        return
    print("\n| centre | command | records | s | records/s | peak RSS MiB | exit | output MiB |")
    print("|---|---|---:|---:|---:|---:|---|---:|")
    for row in table:
        print(f"| {row['centre'].rsplit('/', 1)[-1]} | {row['what']} | {row['records']:,} | "
              f"{row['seconds']:.1f} | {row['rps']:,.0f} | {row['rss_mib']:,.0f} | "
              f"{row['code']} | {row['out_mib']:.1f} |")


if __name__ == "__main__":
    main()
