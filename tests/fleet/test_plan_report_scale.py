"""The plan report on the central copy reads each store once (issue 14, item 4): the chain is
verified in the same walk that gives the facts, and the report is the one the two separate
walks (``chain_status`` then ``records``) give, byte for byte, also for a broken chain."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from safetymon.evidence import plan_render
from safetymon.evidence.plan import VerificationPlan
from safetymon.evidence.plan_report import PlanReport, build_plan_report
from safetymon.evidence.reader import StoredRecord
from safetymon.evidence.sources import ChainStatus
from safetymon.fleet.centre.source import CentreSource
from safetymon.fleet.centre.verify import CentralStoreResult, verify_centre, walk_store
from tests.evidence.plan_helpers import build_store
from tests.fleet.helpers import ship
from tests.fleet.test_plan_report_centre import PLAN


class TwoWalks:
    """The centre through the plain ``EvidenceSource`` methods only (no one-walk read)."""

    def __init__(self, source: CentreSource) -> None:
        self.source = source
        self.label = source.label

    def store_ids(self) -> list[str]:
        return self.source.store_ids()

    def records(self, store_id: str) -> Iterator[StoredRecord]:
        return self.source.records(store_id)

    def chain_status(self, store_id: str) -> ChainStatus:
        return self.source.chain_status(store_id)

    def snapshot(self, store_id: str, file: str) -> bytes | None:
        return self.source.snapshot(store_id, file)


def _outputs(report: PlanReport) -> tuple[str, str, str]:
    report.generated_utc = "fixed"
    return (plan_render.render_html(report), plan_render.render_csv(report),
            plan_render.render_json(report))  # fmt: skip


def _two_stores(tmp_path: Path, url: str) -> list[str]:
    ids = []
    for name in ("a", "b"):
        db = build_store(tmp_path / name / "cell.db")
        done = ship(db, url)
        assert done.returncode == 0, done.stderr
        with psycopg.connect(url) as conn:
            ids = [r[0] for r in conn.execute("SELECT store_id FROM fleet_stores ORDER BY 1")]
    return ids


@pytest.mark.parametrize("broken", [False, True])
def test_one_walk_gives_the_two_walks_report(
    tmp_path: Path, centre_url: str, monkeypatch: pytest.MonkeyPatch, broken: bool
) -> None:
    first, second = _two_stores(tmp_path, centre_url)
    if broken:  # record #4 of the first store edited: its chain fails from there
        with psycopg.connect(centre_url, autocommit=True) as conn:
            conn.execute("ALTER TABLE fleet_records DISABLE TRIGGER USER")
            conn.execute(
                "UPDATE fleet_records SET body = body || ' ' WHERE store_id = %s AND seq = 4",
                (first,),
            )  # fmt: skip
    plan = VerificationPlan.model_validate(PLAN)
    source = CentreSource(centre_url)
    try:
        expected = build_plan_report(TwoWalks(source), plan)
        with monkeypatch.context() as patch:  # the one walk never asks for chain_status
            patch.setattr(CentreSource, "chain_status", lambda *_: pytest.fail("two walks"))
            report = build_plan_report(source, plan)
    finally:
        source.close()
    assert [c.ok for c in report.chains] == [not broken, True]
    if broken:
        assert "record #4: edited" in str(report.chains[0].problem)
        assert report.chains[0].records == 3 and report.chains[0].head_seq == 0
    assert _outputs(report) == _outputs(expected)
    shown = sorted(report.episodes)  # both stores' deciding episodes, read past #4
    assert {store for store, _ in shown} == {first, second}
    assert max(seq for store, seq in shown if store == first) > 4


def test_walk_store_reads_on_past_a_problem_verify_stops(centre_url: str, tmp_path: Path) -> None:
    (first, _) = _two_stores(tmp_path, centre_url)
    with psycopg.connect(centre_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE fleet_records DISABLE TRIGGER USER")
        conn.execute("UPDATE fleet_records SET body = body || ' ' WHERE store_id = %s"
                     " AND seq = 2", (first,))  # fmt: skip
        held = conn.execute("SELECT count(*) FROM fleet_records WHERE store_id = %s",
                            (first,)).fetchone()[0]  # fmt: skip
        public = conn.execute("SELECT public_key FROM fleet_stores WHERE store_id = %s",
                              (first,)).fetchone()[0]  # fmt: skip
        result = CentralStoreResult(first, public)
        seqs = [rec.seq for rec in walk_store(conn, result, page=3)]
        assert seqs == list(range(1, held + 1))
        assert result.problem is not None and result.problem.seq == 2 and result.records == 1
        (verified, _) = verify_centre(conn)
        assert (verified.problem, verified.records, verified.head_seq) == (
            result.problem, 1, 0)  # fmt: skip


def test_the_json_is_streamed_as_it_was_written(tmp_path: Path, centre_url: str) -> None:
    _two_stores(tmp_path, centre_url)
    source = CentreSource(centre_url)
    try:
        report = build_plan_report(source, VerificationPlan.model_validate(PLAN))
    finally:
        source.close()
    old = {  # render_json before streaming: one json.dumps of the whole document
        "plan": report.plan.plan, "plan_file": report.plan_file, "source": report.source,
        "generated_utc": report.generated_utc,
        "software_version": plan_render.software_version(), "verdict": report.verdict,
        "chains": [chain.__dict__ for chain in report.chains],
        "results": [plan_render.result_dict(r) for r in report.results],
    }  # fmt: skip
    assert any(len(r.deciding) > 1 for r in report.results)
    assert plan_render.render_json(report) == json.dumps(old, indent=1, ensure_ascii=False) + "\n"
    whole = plan_render.render_csv(report)
    assert "".join(plan_render.iter_csv(report, rows_per_piece=1)) == whole
    assert len(list(plan_render.iter_csv(report, rows_per_piece=1))) == len(report.results) + 1
