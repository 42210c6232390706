"""`safetymon report --db FILE|postgresql://... --plan PLAN.yaml --out report.html [--csv F]
[--json F] [--store ID]`: the report against a verification plan, of one SQLite store or of
the central copy (every store, or ``--store ID``).

Exit codes: 0 every criterion passed and every chain verified; 1 a criterion failed or was
not decided, or a chain did not verify (the files are written all the same), or the centre
cannot be reached; 2 a plan file, database or argument that cannot be used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from safetymon.config.loader import ConfigError
from safetymon.evidence.reader import ReadError
from safetymon.evidence.records import parse_utc
from safetymon.evidence.sources import EvidenceSource


class _CentreUnreachableError(Exception):
    """The centre cannot be read (unreachable, no fleet schema, no such store)."""


def _source(args: argparse.Namespace) -> EvidenceSource:
    """The SQLite store, or the central copy for a ``postgresql://`` URL (``--store``)."""
    from safetymon.cli.evidence_cmd import _BadArgumentError, _head
    from safetymon.evidence.sources import SqliteSource

    if args.db.startswith(("postgresql://", "postgres://")):
        if args.expect_head is not None:
            raise _BadArgumentError("--expect-head: only for a SQLite store")
        from safetymon.fleet.centre.source import CentreSource
        from safetymon.fleet.connect import CentreConnectionError

        try:
            return CentreSource(args.db, store_id=args.store)
        except CentreConnectionError as error:
            raise _CentreUnreachableError(str(error)) from None
    if args.store is not None:
        raise _BadArgumentError("--store: only with --db postgresql://...")
    return SqliteSource(args.db, expect_head=_head(args.expect_head))


def run_plan_report(args: argparse.Namespace) -> int:
    """Evaluate the plan on the store and write the HTML, CSV and JSON reports."""
    from safetymon.cli.evidence_cmd import _BadArgumentError, _utc
    from safetymon.evidence.plan import load_plan
    from safetymon.evidence.plan_report import build_plan_report, write_plan_report

    out = Path(args.out)
    csv_out = Path(args.csv) if args.csv else out.with_suffix(".csv")
    json_out = Path(args.json) if args.json else out.with_suffix(".json")
    if len({out, csv_out, json_out}) < 3:
        print(f"error: --out, --csv and --json must be three files, got {out}", file=sys.stderr)
        return 2
    try:
        since, until = _utc("--since", args.since), _utc("--until", args.until)
        plan = load_plan(args.plan)
        source = _source(args)
    except ConfigError as error:
        for issue in error.issues:
            print(f"error: {issue}", file=sys.stderr)
        return 2
    except (_BadArgumentError, ReadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except _CentreUnreachableError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        report = build_plan_report(
            source,
            plan,
            plan_file=str(args.plan),
            since=parse_utc(since) if since else None,
            until=parse_utc(until) if until else None,
        )
    except ValueError as error:  # an edited record's body (names store and record)
        print(f"error: cannot build the report: {error}", file=sys.stderr)
        return 1
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
    try:
        write_plan_report(report, out, csv_out, json_out)
    except OSError as error:
        print(f"error: cannot write the report: {error}", file=sys.stderr)
        return 1
    counts = {v: sum(r.verdict == v for r in report.results) for v in ("pass", "fail")}
    undecided = len(report.results) - counts["pass"] - counts["fail"]
    chains = "verified" if report.chains_ok else "NOT verified"
    print(
        f"wrote {out}, {csv_out}, {json_out}; plan {plan.plan!r}: {report.verdict} "
        f"({counts['pass']} passed, {counts['fail']} failed, {undecided} not decided; "
        f"chains {chains})"
    )
    for chain in report.chains:
        if not chain.ok:
            print(f"error: store {chain.store_id}: {chain.problem}", file=sys.stderr)
    return 0 if report.verdict == "pass" else 1
