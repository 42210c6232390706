"""`safetymon verify`, `safetymon export` and `safetymon report` on an evidence database.

Exit codes: 0 ok; 1 verification failed or the command failed at run time; 2 invalid
arguments or a file that is not a safetymon evidence database.
"""

from __future__ import annotations

import argparse
import re
import sys

from safetymon.evidence.reader import ReadError
from safetymon.evidence.records import format_utc, parse_utc

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `verify`, `export` and `report` commands."""
    verify = subparsers.add_parser(
        "verify", help="check an evidence database's hash chain and snapshots"
    )
    verify.add_argument(
        "--db", required=True, help="evidence database (SQLite), or postgresql://... (the centre)"
    )
    verify.add_argument(
        "--store", metavar="ID", help="with --db postgresql://...: only this store"
    )
    verify.add_argument(
        "--expect-key",
        metavar="KEY",
        help="the store's public key (or its fingerprint) written down earlier",
    )
    verify.add_argument(
        "--expect-head",
        metavar="HASH",
        help="a head hash written down earlier: it must still be in the chain",
    )
    verify.add_argument("--no-snapshots", action="store_true", help="skip checking snapshot files")
    verify.set_defaults(func=run_verify)

    export = subparsers.add_parser("export", help="export evidence records (csv, jsonl, parquet)")
    export.add_argument(
        "--db", required=True, help="evidence database (SQLite), or postgresql://... (the centre)"
    )
    export.add_argument(
        "--store", metavar="ID", help="with --db postgresql://...: the store to export"
    )
    export.add_argument("--since", help="UTC time (ISO 8601), inclusive")
    export.add_argument("--until", help="UTC time (ISO 8601), exclusive")
    export.add_argument("--kind", action="append", help="only this record kind (repeatable)")
    export.add_argument("--format", required=True, choices=("csv", "jsonl", "parquet"))
    export.add_argument("--out", required=True, help="output file")
    export.add_argument("--no-progress", action="store_true", help="no progress bar")
    export.set_defaults(func=run_export)

    report = subparsers.add_parser("report", help="write the HTML verification report")
    report.add_argument(
        "--db", required=True, help="evidence database (SQLite); with --plan also postgresql://..."
    )
    report.add_argument(
        "--store", metavar="ID", help="with --plan and --db postgresql://...: only this store"
    )
    report.add_argument("--out", required=True, help="output HTML file")
    report.add_argument("--since", help="UTC time (ISO 8601), inclusive")
    report.add_argument("--until", help="UTC time (ISO 8601), exclusive")
    report.add_argument("--expect-head", metavar="HASH", help="anchored head hash to check")
    report.add_argument(
        "--plan",
        metavar="PLAN.yaml",
        help="verification plan: report each criterion's measured value and pass/fail",
    )
    report.add_argument(
        "--csv", metavar="FILE", help="with --plan: the figures as CSV (default: OUT.csv)"
    )
    report.add_argument(
        "--json", metavar="FILE", help="with --plan: the figures as JSON (default: OUT.json)"
    )
    report.set_defaults(func=run_report)


class _BadArgumentError(ValueError):
    pass


def _utc(option: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return format_utc(parse_utc(value))
    except ValueError:
        raise _BadArgumentError(
            f"{option}: {value!r} is not an ISO 8601 time (e.g. 2026-05-01T08:00:00Z)"
        ) from None


def _head(value: str | None) -> str | None:
    if value is not None and not _HEX64.fullmatch(value):
        raise _BadArgumentError(f"--expect-head: {value!r} is not a 64-digit lower-case hex hash")
    return value


def run_verify(args: argparse.Namespace) -> int:
    """Print the summary; exit 0 if the chain and snapshots verify, else 1."""
    from safetymon.evidence.verify import verify_store

    if args.db.startswith(("postgresql://", "postgres://")):
        from safetymon.cli.fleet_cmd import run_verify_centre

        return run_verify_centre(args)
    try:
        result = verify_store(
            args.db,
            expect_head=_head(args.expect_head),
            check_snapshots=not args.no_snapshots,
            expect_key=args.expect_key,
        )
    except (_BadArgumentError, ReadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if result.ok:
        print(result.summary())
        print(f"head hash (write it down to anchor the chain): {result.head_hash}")
        return 0
    print(result.summary(), file=sys.stderr)
    print(f"error: {result.problem}", file=sys.stderr)
    return 1


def run_export(args: argparse.Namespace) -> int:
    """Export the records; 0 on success."""
    from safetymon.evidence.export import ExportError, export_records

    if args.db.startswith(("postgresql://", "postgres://")):
        from safetymon.cli.fleet_cmd import run_export_centre

        return run_export_centre(args)
    try:
        summary = export_records(
            args.db,
            args.out,
            args.format,
            since=_utc("--since", args.since),
            until=_utc("--until", args.until),
            kinds=args.kind,
            progress=not args.no_progress,
        )
    except (_BadArgumentError, ReadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {summary.rows} records to {summary.path} ({summary.format})")
    return 0


def run_report(args: argparse.Namespace) -> int:
    """Write the report; 0 when written and the chain verified, 1 otherwise."""
    from safetymon.evidence.report import write_report

    if args.plan is not None:
        from safetymon.cli.plan_report_cmd import run_plan_report

        return run_plan_report(args)
    if args.csv is not None or args.json is not None or args.store is not None:
        print("error: --csv, --json and --store need --plan", file=sys.stderr)
        return 2
    try:
        result = write_report(
            args.db,
            args.out,
            since=_utc("--since", args.since),
            until=_utc("--until", args.until),
            expect_head=_head(args.expect_head),
        )
    except (_BadArgumentError, ReadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: cannot write {args.out}: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}; chain {'OK' if result.ok else 'FAILED: ' + str(result.problem)}")
    return 0 if result.ok else 1
