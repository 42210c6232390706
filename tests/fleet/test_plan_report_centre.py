"""The plan report on the central copy (issue 14, item 3): a cell store shipped to a real
PostgreSQL gives the same figures from the centre as from the cell."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from safetymon.evidence.plan import VerificationPlan
from safetymon.evidence.plan_report import build_plan_report
from safetymon.evidence.sources import SqliteSource
from safetymon.fleet.centre.source import CentreSource
from tests.evidence.plan_helpers import SITE, build_store
from tests.fleet.helpers import cli, ship

PLAN = {
    "plan": "centre",
    "scenarios": [{
        "id": "s1", "sites": [SITE],
        "criteria": {
            "protective_zone_stop_within_ms": 100, "separation_below_sp_requires_stop": True,
            "reaction_latency_p99_max_ms": 85, "protective_stops_per_hour_max": 0.5,
            "input_fault_stops_per_hour_max": 0.5, "availability_min_percent": 99.7,
            "operating_hours_min": 2,
        },
    }],
}  # fmt: skip


def _figures(report) -> list[tuple]:
    return [
        (r.criterion, r.site, r.robot, r.measured, r.verdict, [(d.seq, d.note) for d in r.deciding])
        for r in report.results
    ]


def test_the_centre_gives_the_cells_figures(
    tmp_path: Path, centre_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = build_store(tmp_path / "cell.db")
    done = ship(db, centre_url)
    assert done.returncode == 0, done.stderr
    plan = VerificationPlan.model_validate(PLAN)
    local = build_plan_report(SqliteSource(db), plan)
    source = CentreSource(centre_url)
    try:
        central = build_plan_report(source, plan)
    finally:
        source.close()
    assert _figures(central) == _figures(local) and len(central.results) == 14
    (chain,) = central.chains
    assert chain.ok and chain.signature.startswith("valid") and chain.head_seq == 7
    assert chain.store_id == local.chains[0].store_id
    # the CLI on the centre: one --store, the files written, exit 1 (arm2 fails two criteria)
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(json.dumps(PLAN))  # JSON is YAML
    out = tmp_path / "centre.html"
    code = cli("report", "--db", centre_url, "--store", chain.store_id, "--plan",
               str(plan_file), "--out", str(out))  # fmt: skip
    assert code == 1
    assert "12 passed, 2 failed, 0 not decided; chains verified" in capsys.readouterr().out
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["chains"][0]["ok"] and data["source"].startswith("postgresql://")
    assert "is not available from postgresql://" in out.read_text()  # snapshots stay local
    assert cli("report", "--db", centre_url, "--store", "nope", "--plan", str(plan_file),
               "--out", str(out)) == 1  # fmt: skip
    assert "no such store 'nope'" in capsys.readouterr().err


def test_a_broken_central_chain_fails_the_plan(tmp_path: Path, centre_url: str) -> None:
    db = build_store(tmp_path / "cell.db")
    assert ship(db, centre_url).returncode == 0
    with psycopg.connect(centre_url, autocommit=True) as conn:
        # the append-only triggers stop an UPDATE; the table owner can still switch them off
        conn.execute("ALTER TABLE fleet_records DISABLE TRIGGER USER")
        conn.execute(
            "UPDATE fleet_records SET body = replace(body, '\"near_miss\"', '\"stop\"') "
            "WHERE seq = 6"
        )
    source = CentreSource(centre_url)
    try:
        report = build_plan_report(source, VerificationPlan.model_validate(PLAN))
    finally:
        source.close()
    (chain,) = report.chains
    assert not chain.ok and "record #6: edited" in str(chain.problem)
    assert report.verdict == "fail"
