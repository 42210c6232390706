"""`safetymon evidence ship|keygen` and `safetymon verify|export --db postgresql://...`.

Exit codes: 0 ok; 1 the centre refused the store (divergence, wrong key or signature), the
centre was unreachable or the connection was lost, or central verification failed; 2
invalid arguments or a file that is not a safetymon store.
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `evidence` command group (`ship`, `keygen`)."""
    evidence = subparsers.add_parser(
        "evidence", help="fleet evidence: ship a store to a central PostgreSQL, store keys"
    )
    commands = evidence.add_subparsers(dest="evidence_command", metavar="SUBCOMMAND")
    evidence.set_defaults(func=lambda _args: evidence.print_help() or 2)
    ship = commands.add_parser(
        "ship",
        help="send a store's records to the central PostgreSQL (resumable, idempotent)",
        description=(
            "Connection details come from the URL and the standard PG* environment variables "
            "(PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD, ...) or ~/.pgpass; a password "
            "in the URL is refused."
        ),
    )
    ship.add_argument("--db", required=True, help="the cell's evidence database (SQLite)")
    ship.add_argument("--to", required=True, metavar="URL", help="postgresql://host/db")
    ship.add_argument(
        "--batch-rows", type=int, default=500, help="records per batch (default 500)"
    )
    ship.add_argument("--quiet", action="store_true", help="no line per accepted batch")
    ship.set_defaults(func=run_ship)

    keygen = commands.add_parser(
        "keygen", help="give an older, unsigned store its Ed25519 key pair (<db>.key)"
    )
    keygen.add_argument("--db", required=True, help="evidence database (SQLite)")
    keygen.set_defaults(func=run_keygen)


def run_ship(args: argparse.Namespace) -> int:
    """Ship the store; 0 when everything the store holds is accepted by the centre."""
    import psycopg

    from safetymon.evidence.reader import ReadError
    from safetymon.fleet.centre.ingest import Centre, RefusedError
    from safetymon.fleet.connect import CentreConnectionError, connect, describe
    from safetymon.fleet.models import Accepted
    from safetymon.fleet.schema import CentreSchemaError, migrate
    from safetymon.fleet.ship import ShipError, ship_store

    if args.batch_rows < 1:
        print("error: --batch-rows must be at least 1", file=sys.stderr)
        return 2

    def progress(a: Accepted) -> None:
        if not args.quiet:
            print(f"accepted #{a.first_seq}..#{a.head_seq} ({a.new_records} new)", flush=True)

    try:
        conn = connect(args.to)
    except CentreConnectionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        migrate(conn)
        report = ship_store(args.db, Centre(conn), batch_rows=args.batch_rows, on_batch=progress)
    except ReadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except RefusedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (ShipError, CentreSchemaError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except psycopg.Error as error:  # outside a batch: migration, lost connection
        print(f"error: centre {describe(args.to)}: {str(error).strip()}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    print(
        f"store {report.store_id}: the centre holds #1..#{report.head_seq} "
        f"({report.new_records} new in {report.batches} batches, {report.seconds:.2f} s)"
    )
    return 0


def run_keygen(args: argparse.Namespace) -> int:
    """Add a key pair to an unsigned store (run it while the monitor is stopped); 0 on success."""
    import sqlite3
    from pathlib import Path

    from safetymon.evidence.signing import StoreKeyError, fingerprint, key_path, public_key_hex
    from safetymon.evidence.store import EvidenceStore, StoreError
    from safetymon.evidence.store_keys import add_key

    path = Path(args.db)
    if not path.is_file():
        print(f"error: {path}: no such file", file=sys.stderr)
        return 2
    try:
        EvidenceStore.open(path).close()  # checks the chain head and migrates the schema
    except StoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    conn = sqlite3.connect(path, isolation_level=None, timeout=10.0)
    try:
        signer = add_key(conn, path)
    except (StoreKeyError, sqlite3.Error) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    public = public_key_hex(signer.key)
    print(f"{path}: signed from now on; private key {key_path(path)} (0600)")
    print(f"public key {public} (fingerprint {fingerprint(public)}): write it down")
    return 0


def run_verify_centre(args: argparse.Namespace) -> int:
    """`safetymon verify --db postgresql://... [--store ID]`: 0 when every store verifies."""
    from safetymon.fleet.centre.verify import verify_centre
    from safetymon.fleet.connect import CentreConnectionError, connect, describe
    from safetymon.fleet.schema import SCHEMA_VERSION, applied_versions

    try:
        conn = connect(args.db)
    except CentreConnectionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        if SCHEMA_VERSION not in applied_versions(conn):
            print(f"error: {describe(args.db)} holds no safetymon fleet schema", file=sys.stderr)
            return 2
        results = verify_centre(conn, store_id=getattr(args, "store", None))
    finally:
        conn.close()
    if not results:
        print(f"error: {describe(args.db)}: no such store {args.store!r}" if args.store
              else f"{describe(args.db)}: no stores yet", file=sys.stderr)  # fmt: skip
        return 1 if args.store else 0
    failed = [r for r in results if not r.ok]
    for result in results:
        print(result.summary(), file=sys.stderr if not result.ok else sys.stdout)
    print(f"{describe(args.db)}: {len(results) - len(failed)} of {len(results)} stores OK")
    return 1 if failed else 0


def run_export_centre(args: argparse.Namespace) -> int:
    """`safetymon export --db postgresql://... [--store ID] ...`: one store of the central
    copy through the cell's own export writers; 0 on success, 1 when the centre cannot be
    read or the output written, 2 for bad arguments or an unknown or ambiguous store."""
    import psycopg

    from safetymon.cli.evidence_cmd import _BadArgumentError, _utc
    from safetymon.evidence.export import ExportError, with_progress, write_records
    from safetymon.fleet.centre.records import count_central, iter_central, store_ids
    from safetymon.fleet.connect import CentreConnectionError, connect, describe
    from safetymon.fleet.schema import SCHEMA_VERSION, applied_versions

    try:
        since, until = _utc("--since", args.since), _utc("--until", args.until)
    except _BadArgumentError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        conn = connect(args.db)
    except CentreConnectionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    where = describe(args.db)
    try:
        if SCHEMA_VERSION not in applied_versions(conn):
            print(f"error: {where} holds no safetymon fleet schema", file=sys.stderr)
            return 2
        stores = store_ids(conn)
        store = getattr(args, "store", None)
        if store is None and len(stores) == 1:
            store = stores[0]
        if store is None or store not in stores:
            held = ", ".join(stores) or "none"
            why = (
                f"no such store {store!r}" if store is not None
                else "name the store to export with --store ID (one store per file)"
            )  # fmt: skip
            print(f"error: {where}: {why}; stores held: {held}", file=sys.stderr)
            return 2
        total = count_central(conn, store, since=since, until=until, kinds=args.kind)
        records = iter_central(conn, store, since=since, until=until, kinds=args.kind)
        summary = write_records(
            with_progress(records, total, not args.no_progress), args.out, args.format
        )
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except psycopg.Error as error:
        print(f"error: centre {where}: {str(error).strip()}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    print(f"wrote {summary.rows} records of store {store} from {where} to {summary.path} "
          f"({summary.format})")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    """Only this module's commands (`python -m safetymon.cli.fleet_cmd evidence ship ...`):
    the same as `safetymon evidence ...` without importing every other command group."""
    parser = argparse.ArgumentParser(prog="safetymon")
    register(parser.add_subparsers(dest="command", metavar="COMMAND"))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
