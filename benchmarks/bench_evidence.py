"""Benchmark of the evidence store: durable appends, 1M-record export, verify and report.

1. Appends per second with full durability (WAL, ``synchronous=FULL``, one transaction per
   append, as ``EvidenceWriter`` does), against ``synchronous=NORMAL`` and against batches
   of 100 records per transaction, all measured in this run.
2. A database of N episode records (default 1,000,000, valid chain) built in a temporary
   folder; export to CSV, JSON Lines and Parquet, each in a fresh subprocess (time and peak
   RSS), against a raw ``sqlite3 -csv`` dump of the same rows (no parsing, no flattening).
3. ``verify`` and ``report`` on that database (time, peak RSS).

Usage::

    .venv/bin/python benchmarks/bench_evidence.py [--records 1000000] [--appends 2000]
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from safetymon.config.evidence import EvidenceConfig
from safetymon.evidence.records import EPISODE, Episode, format_utc
from safetymon.evidence.store import EvidenceStore
from safetymon.evidence.writer import EvidenceWriter

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
CHILD = """
import argparse, resource, sys, time
from safetymon.cli import evidence_cmd
parser = argparse.ArgumentParser()
evidence_cmd.register(parser.add_subparsers())
args = parser.parse_args(sys.argv[1:])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t = time.perf_counter()
code = args.func(args)
elapsed = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"RESULT {code} {elapsed:.3f} {rss:.1f} {base:.1f}", file=sys.stderr)
"""


def episode_fields(n: int, start: datetime) -> dict[str, object]:
    """The fields of episode ``n`` that vary with ``n`` (JSON values), starting at ``start``."""
    distance = 0.3 + (n * 0.6180339887) % 1.2
    stop = distance < 0.9
    return {
        "episode_id": f"{n:032x}",
        "kind": "stop" if stop else "near_miss",
        "category": "input_fault" if n % 17 == 0 else "proximity",
        "start_utc": format_utc(start),
        "end_utc": format_utc(start + timedelta(seconds=2.5)),
        "worst_state": "STOP" if stop else "SLOW",
        "min_speed_scale": 0.0 if stop else 0.4,
        "reasons": ["SEPARATION", "SEPARATION_WARNING"] if stop else ["SEPARATION_WARNING"],
        "zones": ["cell", f"zone{n % 4}"],
        "track_ids": [n % 50],
        "closest_utc": format_utc(start + timedelta(seconds=1.0)),
        "closest_track_id": n % 50,
        "min_distance_m": distance,
        "reaction_latency_s": 0.03 + (n % 97) / 1000,
    }


def episode(n: int) -> tuple[str, Episode, str]:
    """A realistic episode record (values vary with n) and its record time."""
    start = T0 + timedelta(seconds=n * 7.3)
    payload = Episode(
        **episode_fields(n, start),  # type: ignore[arg-type]
        duration_s=2.5,
        robot_ids=["arm1"],
        closest_robot_id="arm1",
        protective_separation_m=0.9,
        human_speed_mps=1.6,
        robot_speed_mps=0.5,
        config_hash="c" * 64,
        model_hash="m" * 64,
        software_version="0.1.0",
    )
    return EPISODE, payload, format_utc(start + timedelta(seconds=2.5))


def appends_per_second(folder: Path, count: int, synchronous: str, batch: int) -> float:
    """Durable records per second appended one by one (batch=1) or in batches."""
    path = folder / f"appends-{synchronous}-{batch}.db"
    store = EvidenceStore.open(path, synchronous=synchronous)  # type: ignore[arg-type]
    items = [episode(n) for n in range(count)]
    start = time.perf_counter()
    for index in range(0, count, batch):
        store.append_many(items[index : index + batch])
    elapsed = time.perf_counter() - start
    store.close()
    return count / elapsed


def writer_per_second(folder: Path, count: int) -> float:
    """Records per second through EvidenceWriter (group commit, FULL), durable at close."""
    store = EvidenceStore.open(folder / "writer.db")
    items = [episode(n) for n in range(count)]
    config = EvidenceConfig(queue_size=count + 1)
    start = time.perf_counter()
    with EvidenceWriter(store, config) as writer:
        for kind, payload, _ in items:
            writer.record(kind, payload)
    elapsed = time.perf_counter() - start
    store.close()
    if writer.fault or writer.written != count:
        raise RuntimeError(f"writer fault: {writer.fault}")
    return count / elapsed


def build(path: Path, records: int) -> float:
    """Bulk-build a valid chain of ``records`` episodes (synchronous=OFF); seconds taken."""
    store = EvidenceStore.open(path, synchronous="OFF")
    start = time.perf_counter()
    for index in range(0, records, 20_000):
        store.append_many(episode(n) for n in range(index, min(records, index + 20_000)))
    store.close()
    return time.perf_counter() - start


def child(*args: str) -> tuple[float, float, float]:
    """Run an evidence command in a fresh interpreter (only the evidence command group
    imported): (seconds, peak RSS MiB, RSS MiB after imports before the command ran)."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args], capture_output=True, text=True, cwd=REPO
    )
    line = [x for x in done.stderr.splitlines() if x.startswith("RESULT ")]
    if not line:
        raise RuntimeError(f"{args}: {done.stderr[-2000:]}")
    code, seconds, rss, base = line[-1].split()[1:]
    if code != "0":
        raise RuntimeError(f"{args} exited {code}: {done.stderr[-2000:]}")
    return float(seconds), float(rss), float(base)


def sqlite_dump(db: Path, out: Path) -> float | None:
    """Seconds for the sqlite3 shell to dump the same rows as CSV (None without the shell)."""
    if not shutil.which("sqlite3"):
        return None
    start = time.perf_counter()
    with out.open("w") as handle:
        subprocess.run(
            ["sqlite3", "-csv", str(db), "SELECT seq, kind, time_utc, hash, body FROM records"],
            stdout=handle, check=True,
        )  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--appends", type=int, default=2000)
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {platform.python_implementation()} "
          f"{platform.python_version()}, {datetime.now(timezone.utc):%Y-%m-%d}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-evidence-") as tmp:
        folder = Path(tmp)
        full = appends_per_second(folder, args.appends, "FULL", 1)
        normal = appends_per_second(folder, args.appends, "NORMAL", 1)
        batched = appends_per_second(folder, args.appends, "FULL", 100)
        threaded = writer_per_second(folder, args.appends)
        print(f"\nappends ({args.appends} episode records, WAL)")
        print(f"  synchronous=FULL, 1 per transaction : {full:10.0f} records/s  (1.00x)")
        print(f"  synchronous=NORMAL, 1 per tx        : {normal:10.0f} records/s  "
              f"({normal / full:.2f}x)")  # fmt: skip
        print(f"  synchronous=FULL, 100 per tx        : {batched:10.0f} records/s  "
              f"({batched / full:.2f}x)")  # fmt: skip
        print(f"  EvidenceWriter thread, group commit : {threaded:10.0f} records/s  "
              f"({threaded / full:.2f}x)")  # fmt: skip

        db = folder / "big.db"
        seconds = build(db, args.records)
        size = db.stat().st_size / 2**20
        rate = args.records / seconds
        print(f"\nbuilt {args.records} records in {seconds:.1f} s ({rate:.0f}/s, "
              f"synchronous=OFF batches); {size:.0f} MiB")  # fmt: skip
        raw = sqlite_dump(db, folder / "raw.csv")
        print(f"\nexport of {args.records} records (fresh process each; peak RSS of it)")
        if raw is not None:
            print(f"  sqlite3 -csv raw dump (baseline)    : {raw:7.1f} s")
        for fmt in ("jsonl", "csv", "parquet"):
            out = folder / f"out.{fmt}"
            secs, rss, base = child("export", "--db", str(db), "--format", fmt, "--out",
                                    str(out), "--no-progress")  # fmt: skip
            ratio = f"  ({secs / raw:.2f}x raw dump)" if raw else ""
            print(f"  safetymon export --format {fmt:<8}  : {secs:7.1f} s, peak {rss:4.0f} MiB "
                  f"(after imports {base:3.0f}), {out.stat().st_size / 2**20:4.0f} MiB out"
                  f"{ratio}")  # fmt: skip
        secs, rss, base = child("verify", "--db", str(db))
        print(f"\nverify                              : {secs:7.1f} s, peak {rss:4.0f} MiB "
              f"(after imports {base:3.0f})")  # fmt: skip
        secs, rss, base = child("report", "--db", str(db), "--out", str(folder / "r.html"))
        print(f"report                              : {secs:7.1f} s, peak {rss:4.0f} MiB "
              f"(after imports {base:3.0f})")  # fmt: skip


if __name__ == "__main__":
    main()
