"""Builders shared by the fleet tests: cell stores, the shipper as a real process, and the
centre's rows."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg

from safetymon.evidence.canonical import body_hash, record_body
from safetymon.evidence.records import format_utc
from safetymon.evidence.signing import key_path, load_key_file, sign_head
from safetymon.evidence.store import EvidenceStore

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 5, 1, 8, 0, 0, tzinfo=timezone.utc)


def make_store(path: Path, records: int, *, first: int = 0) -> str:
    """A signed store with ``records`` small records (appended 500 per transaction); returns
    its store id."""
    store = EvidenceStore.open(path)
    for start in range(first, first + records, 500):
        stop = min(first + records, start + 500)
        store.append_many(
            [("note", {"n": n, "text": f"record {n}"}, format_utc(T0 + timedelta(seconds=n)))
             for n in range(start, stop)]
        )  # fmt: skip
    store.close()
    return meta(path)["store_id"]


def meta(path: Path) -> dict[str, str]:
    """The store's meta table."""
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT key, value FROM meta").fetchall())


FLEET_CLI = ("-m", "safetymon.cli.fleet_cmd")
"""The fleet commands alone (starts in a fraction of a second); ``-m safetymon`` is the same
parser inside the whole command (which imports every command group)."""


def ship(
    db: Path, url: str, *extra: str, full_cli: bool = False, timeout_s: float = 60.0
) -> subprocess.CompletedProcess:
    """Run `safetymon evidence ship` as a real process."""
    cli = ("-m", "safetymon") if full_cli else FLEET_CLI
    return subprocess.run(
        [sys.executable, *cli, "evidence", "ship", "--db", str(db), "--to", url, *extra],
        capture_output=True, text=True, timeout=timeout_s, cwd=REPO, env=env(), check=False,
    )  # fmt: skip


def cli(*argv: str) -> int:
    """`safetymon verify|export|report|evidence ...` in this process, with only the evidence
    command groups registered (the whole command imports every group: seconds)."""
    from safetymon.cli import evidence_cmd, fleet_cmd

    parser = argparse.ArgumentParser(prog="safetymon")
    commands = parser.add_subparsers(dest="command")
    evidence_cmd.register(commands)
    fleet_cmd.register(commands)
    args = parser.parse_args(argv)
    return int(args.func(args))


def ship_process(db: Path, url: str, *extra: str) -> subprocess.Popen:
    """Start the shipper as a process whose stdout (one line per batch) is a pipe."""
    return subprocess.Popen(
        [sys.executable, *FLEET_CLI, "evidence", "ship", "--db", str(db), "--to", url, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env(),
    )  # fmt: skip


def env() -> dict[str, str]:
    """The test environment without PG* variables that would redirect the shipper."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def centre_records(url: str, store_id: str) -> list[tuple[int, str, str]]:
    """(seq, hash, body) of every record the centre holds for the store, in seq order."""
    with psycopg.connect(url) as conn:
        return [
            (int(s), str(h), str(b))
            for s, h, b in conn.execute(
                "SELECT seq, hash, body FROM fleet_records WHERE store_id = %s ORDER BY seq",
                (store_id,),
            )
        ]


def local_records(path: Path) -> list[tuple[int, str, str]]:
    """(seq, hash, body) of every record of a local store."""
    with sqlite3.connect(path) as conn:
        return [tuple(r) for r in conn.execute("SELECT seq, hash, body FROM records ORDER BY seq")]


def rebuild_from(path: Path, seq: int, change: dict) -> None:
    """Rewrite record ``seq``'s payload with ``change`` and recompute every hash from there
    (a full rebuild, as someone with the store's key file can do), re-signing the head."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT seq, body FROM records WHERE seq >= ? ORDER BY seq", (seq,))
        rows = rows.fetchall()
        prev = conn.execute("SELECT hash FROM records WHERE seq = ?", (seq - 1,)).fetchone()
        prev_hash = prev[0] if prev else "0" * 64
        for number, text in rows:
            body = json.loads(text)
            payload = {**body["payload"], **change} if number == seq else body["payload"]
            new = record_body(body["kind"], body["time_utc"], prev_hash, payload)
            prev_hash = body_hash(new)
            conn.execute("UPDATE records SET body = ?, hash = ? WHERE seq = ?",
                         (new, prev_hash, number))  # fmt: skip
        last = rows[-1][0]
        set_head(conn, path, last, prev_hash)


def set_head(conn: sqlite3.Connection, path: Path, seq: int, digest: str) -> None:
    """Rewrite meta's head and re-sign it with the store's own key file."""
    store_id = conn.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()[0]
    signature = sign_head(load_key_file(key_path(path)), store_id, seq, digest)
    conn.executemany(
        "UPDATE meta SET value = ? WHERE key = ?",
        [(str(seq), "head_seq"), (digest, "head_hash"), (signature, "head_signature")],
    )
