"""The HTML report: metrics from a real store, embedded plots, rendered by headless Chromium."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from safetymon.evidence.metrics import collect
from safetymon.evidence.reader import open_readonly
from safetymon.evidence.report import write_report
from safetymon.evidence.store import EvidenceStore
from tests.conftest import require_optional
from tests.evidence.helpers import populate


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "ev.db"
    populate(path, episodes=12)
    return path


def test_metrics_of_runs_episodes_and_a_crashed_run(tmp_path: Path) -> None:
    store = EvidenceStore.open(tmp_path / "ev.db")
    day = "2026-05-01T"
    store.append("run_start", {"run_id": "a"}, time_utc=day + "08:00:00.000000Z")
    ep = {"kind": "stop", "category": "proximity", "start_utc": day + "09:00:00.000000Z",
          "duration_s": 360.0, "zones": ["z1"], "min_distance_m": 0.4,
          "protective_separation_m": 0.9, "reaction_latency_s": 0.05}  # fmt: skip
    store.append("episode", ep, time_utc=day + "09:06:00.000000Z")
    store.append("run_stop", {"run_id": "a"}, time_utc=day + "10:00:00.000000Z")
    store.append("run_start", {"run_id": "b"}, time_utc=day + "11:00:00.000000Z")
    fault = {**ep, "category": "input_fault", "duration_s": 0.0, "min_distance_m": None,
             "reaction_latency_s": 0.15, "zones": []}  # fmt: skip
    store.append("episode", fault, time_utc=day + "12:00:00.000000Z")  # then the monitor died
    store.close()
    metrics, arrays = collect(open_readonly(tmp_path / "ev.db"))
    assert metrics.runs == 2 and metrics.operating_hours == pytest.approx(3.0)
    assert (metrics.near_misses, metrics.protective_stops, metrics.input_fault_stops) == (1, 1, 1)
    assert metrics.near_misses_per_hour == pytest.approx(1 / 3)
    assert metrics.availability == pytest.approx(1 - 0.1 / 3.0)
    assert metrics.closest_approach_m == 0.4 and metrics.closest_approach_sp_m == 0.9
    assert metrics.latency_p50_s == pytest.approx(0.1)
    assert metrics.zone_counts == {"z1": 1} and arrays.start_s.size == 2


def test_report_is_self_contained_with_plots_metrics_and_hashes(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = write_report(db, out)
    page = out.read_text(encoding="utf-8")
    assert result.ok and "Chain verified: OK" in page and result.head_hash in page
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == 5 and all(len(i) > 2000 for i in images)
    assert not re.search(r"(src|href)=['\"]?(https?:|//)", page)  # nothing loaded from outside
    for name in (
        "Operating hours",
        "Near-misses per operating hour",
        "Protective stops",
        "Closest approach",
        "Reaction latency p99",
        "Input-fault stops",
        "Availability",
    ):
        assert name in page  # fmt: skip
    assert "<th>Near-misses</th><td>8</td>" in page
    assert "<th>Input-fault stops</th><td>4</td>" in page


def test_report_of_a_tampered_store_says_so(db: Path, tmp_path: Path) -> None:
    copy = tmp_path / "ev.db"
    shutil.copy(db, copy)
    shutil.copytree(db.parent / "snapshots", tmp_path / "snapshots")
    with sqlite3.connect(copy) as conn:
        conn.execute("DELETE FROM records WHERE seq = 3")
    result = write_report(copy, tmp_path / "r.html")
    assert not result.ok
    assert "verification FAILED" in (tmp_path / "r.html").read_text() and "#3" in str(
        result.problem
    )


def test_chromium_renders_a_non_blank_report(db: Path, tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    require_optional(browser is not None, "chromium")
    out = tmp_path / "report.html"
    write_report(db, out)
    png = tmp_path / "shot.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}",
         "--window-size=1280,2000", out.resolve().as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    image = cv2.imread(str(png))
    assert image is not None and image.shape[:2] == (2000, 1280)
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    non_white = float(np.mean(grey < 240))
    colourful = float(np.mean(image.max(axis=2).astype(int) - image.min(axis=2) > 60))
    assert grey.std() > 20 and non_white > 0.03, (grey.std(), non_white)
    assert colourful > 0.005  # the plots' colours, not only text


def test_report_of_an_empty_store(tmp_path: Path) -> None:
    EvidenceStore.open(tmp_path / "ev.db").close()
    result = write_report(tmp_path / "ev.db", tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert result.ok and result.records == 0 and page.count("data:image/png;base64,") == 5
    assert "<th>Operating hours</th><td>0.00 h</td>" in page
