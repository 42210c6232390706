"""Continuous shipping (`evidence.ship` in the site file): the monitor's background shipper
against a real PostgreSQL, while a writer keeps appending to the store as the monitor does."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from safetymon.config.evidence import EvidenceShipConfig
from safetymon.config.loader import ConfigError, load_site_config
from safetymon.evidence.store import EvidenceStore
from safetymon.monitor.evidence_shipper import EvidenceShipper, ShipperHealth
from tests.fleet.conftest import PgServer
from tests.fleet.helpers import REPO, centre_records, local_records, make_store, rebuild_from


def _wait(test, timeout_s: float, what: str) -> None:
    end = time.monotonic() + timeout_s
    while not test():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


class _Writer:
    """Appends one record every ``period_s`` to an open store (the monitor's writer) and
    keeps the longest append time (seconds)."""

    def __init__(self, db: Path, period_s: float = 0.02) -> None:
        self.store = EvidenceStore.open(db)
        self.period_s = period_s
        self.appended = 0
        self.longest_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.store.append("note", {"n": self.appended})
            self.longest_s = max(self.longest_s, time.monotonic() - started)
            self.appended += 1
            self._stop.wait(self.period_s)

    def __enter__(self) -> _Writer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop appending and close the store (idempotent)."""
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join(10)
            self.store.close()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def test_site_file_refuses_a_password_in_the_ship_url_naming_the_field(tmp_path: Path) -> None:
    site = yaml.safe_load((REPO / "zones" / "demo-cell.yaml").read_text())
    site.setdefault("evidence", {})["ship"] = {"to": "postgresql://cell:s3cret@centre/ev"}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site))
    with pytest.raises(ConfigError) as caught:
        load_site_config(path)
    text = str(caught.value)
    assert "evidence.ship.to: a password in the URL is refused" in text
    assert "s3cret" not in text  # the offending value is shown with the password hidden
    site["evidence"]["ship"] = {"to": "postgresql://cell@centre/ev", "interval_s": 5}
    path.write_text(yaml.safe_dump(site))
    ship = load_site_config(path).evidence.ship
    assert ship is not None and ship.interval_s == 5 and ship.batch_rows == 500
    for bad in ("mysql://centre/ev", "postgresql://centre/ev?password=x"):
        with pytest.raises(ValueError, match=r"postgresql:// URL|password in the URL"):
            EvidenceShipConfig(to=bad)


def test_records_arrive_while_recording_and_a_server_restart_loses_nothing(
    tmp_path: Path, pg: PgServer, centre_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="safetymon.monitor.evidence_shipper")
    db = tmp_path / "cell.db"
    store_id = make_store(db, 50)
    registry = CollectorRegistry()
    healths: list[ShipperHealth] = []
    shipper = EvidenceShipper(
        db, EvidenceShipConfig(to=centre_url, interval_s=0.2, batch_rows=20),
        registry=registry, on_health=healths.append,
    )  # fmt: skip
    with _Writer(db) as writer:
        shipper.start()
        try:
            _wait(lambda: shipper.health.centre_seq >= 80, 20, "records shipped")
            assert len(centre_records(centre_url, store_id)) >= 80
            assert shipper.health.state == "ok"
            pg.stop("fast")
            try:
                stopped_at = writer.appended
                _wait(lambda: shipper.health.state == "failing", 20, "the failure noticed")
                attempts = len(healths)
                _wait(lambda: len(healths) >= attempts + 5, 20, "five more failed attempts")
                _wait(lambda: writer.appended > stopped_at + 20, 20, "local recording going on")
                down = shipper.health
                assert down.state == "failing" and down.lag_s > 0 and down.last_error
                assert registry.get_sample_value("safetymon_evidence_ship_up") == 0
                _wait(lambda: (registry.get_sample_value("safetymon_evidence_ship_lag_records")
                               or 0) > 0, 20, "the lag metric")  # fmt: skip
            finally:
                pg.start()
            restarted_at = writer.appended
            caught_up = lambda: (  # noqa: E731
                shipper.health.state == "ok" and shipper.health.centre_seq >= 50 + restarted_at
            )
            _wait(caught_up, 30, "the backlog shipped")
        finally:
            writer.stop()  # the monitor closes its store, then stops the shipper
            shipper.stop(timeout_s=10)  # whose final run ships the last records
    # appends were never held up by the shipper for the outage (seconds); the bound is
    # loose because a loaded machine's fsync alone can take a few hundred milliseconds
    assert writer.longest_s < 2.0
    assert centre_records(centre_url, store_id) == local_records(db)  # exactly once, all
    assert shipper.health.lag_records == 0 and shipper.health.lag_s == 0
    assert registry.get_sample_value("safetymon_evidence_shipped_seq") == len(local_records(db))
    failing = [r for r in caplog.records if "evidence shipping" in r.message and "failing" in
               r.message]  # fmt: skip
    resumed = [r for r in caplog.records if "evidence shipping" in r.message and "resumed" in
               r.message]  # fmt: skip
    # logged on change, not at every one of the failed attempts
    assert 1 <= len(failing) < sum(1 for h in healths if h.state == "failing")
    assert len(resumed) == 1


def test_a_rewritten_store_is_refused_logged_as_an_error_and_shipping_ends(
    tmp_path: Path, centre_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "cell.db"
    store_id = make_store(db, 30)
    registry = CollectorRegistry()
    shipper = EvidenceShipper(
        db, EvidenceShipConfig(to=centre_url, interval_s=60, full_audit_interval_s=3600),
        registry=registry,
    )  # fmt: skip
    assert shipper.ship_once().state == "ok"
    assert len(centre_records(centre_url, store_id)) == 30
    held = centre_records(centre_url, store_id)
    rebuild_from(db, 12, {"text": "nothing happened here"})
    make_store(db, 5, first=30)
    # no full audit is due; the cheap head check sees the rewrite and audits in full
    health = shipper.ship_once()
    assert health.state == "refused", health
    assert f"centre refused store {store_id} at record #12: rewritten" in (health.last_error or "")
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and "REFUSED" in errors[-1].message and "#12" in errors[-1].message
    assert registry.get_sample_value("safetymon_evidence_ship_refused") == 1
    assert centre_records(centre_url, store_id) == held  # the centre's copy is unchanged
    shipper.start()  # a refused store is not retried: the thread ends after one run
    time.sleep(0.5)
    assert shipper._thread is not None and not shipper._thread.is_alive()
    shipper.stop()


def test_an_absent_centre_never_raises_and_reports_what_is_unshipped(tmp_path: Path) -> None:
    db = tmp_path / "cell.db"
    make_store(db, 7)
    shipper = EvidenceShipper(
        db, EvidenceShipConfig(to="postgresql://safetymon@127.0.0.1:1/none", interval_s=0.1)
    )
    health = shipper.ship_once()
    assert health.state == "failing" and health.lag_records == 7 and health.centre_seq == 0
    assert "cannot connect to the centre postgresql://safetymon@127.0.0.1:1/none" in (
        health.last_error or "")  # fmt: skip
    shipper.start()
    shipper.stop(timeout_s=5)  # returns although every run fails
