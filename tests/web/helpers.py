"""A running demo-cell monitor for the live view's tests (the demo's real parts).

Built like ``safetymon.demo.runner.run_demo`` does: the rendered camera (`SimCellSource`),
the simulated controller on the real robot-state and safety interfaces (`SimController`),
and a real `Monitor` with its decision loop, perception, ZeroMQ output and evidence store.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from safetymon.config.site import SiteConfig
from safetymon.demo.cell import DemoParts
from safetymon.demo.runner import DEMO_FPS, DEMO_SITE
from safetymon.monitor.app import CycleListener, Monitor
from safetymon.sim.live import SimCellSource
from safetymon.web import attach
from tests.conftest import require_optional

if TYPE_CHECKING:
    from playwright.sync_api import Page


@dataclass
class DemoCell:
    """A started demo monitor and what the tests need of it."""

    monitor: Monitor
    config: SiteConfig
    base_dir: Path
    out_dir: Path


@contextlib.contextmanager
def running_demo(
    out_dir: Path,
    *,
    listeners: tuple[CycleListener, ...] = (),
    site_file: Path = DEMO_SITE,
) -> Iterator[DemoCell]:
    """Start the demo cell's monitor (scene time 0 now); stop everything on exit.

    An evidence store already at ``out_dir``/evidence.db is continued, not replaced.
    ``site_file``: the demo site (a test that edits zones passes a copy; the monitor's
    ``site_file`` is this file).
    """
    cell = DemoParts.prepare(site_file, out_dir)
    controller = cell.controller
    source = SimCellSource(
        cell.renderer,
        controller,
        fps=DEMO_FPS,
        max_frame_age_s=cell.config.cameras[0].max_frame_age_s,
    )
    monitor = cell.build_monitor(source, evidence_db=out_dir / "evidence.db", listeners=listeners)
    config = cell.config
    connection_id = cell.connection_id
    try:
        controller.start(monitor.zmq_endpoint or "", connection_id)
        monitor.start()
        yield DemoCell(monitor, config, site_file.parent, out_dir)
    finally:
        monitor.stop(reason="test finished")
        controller.stop()


@dataclass
class Reply:
    """An HTTP reply (status, headers with lower-case names, body)."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        """The body parsed as JSON."""
        return json.loads(self.body)


def fetch(
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    timeout_s: float = 10,
    json_body: object = None,
    raw_body: bytes | None = None,
) -> Reply:
    """One real HTTP request (urllib); error statuses are returned, not raised.

    ``json_body``: sent as the JSON body (with its content type) of a POST; ``raw_body``:
    these bytes instead, with the JSON content type (a body json.dumps cannot make).
    """
    request = urllib.request.Request(url, method=method, headers=headers or {})
    if method == "POST":
        request.data = raw_body if raw_body is not None else (
            b"" if json_body is None else json.dumps(json_body).encode()
        )
        if json_body is not None or raw_body is not None:
            request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return Reply(
                response.status, {k.lower(): v for k, v in response.headers.items()},
                response.read(),
            )  # fmt: skip
    except urllib.error.HTTPError as error:
        return Reply(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


class Clock:
    """A hand-moved monotonic clock, seconds."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class SeededEvidence:
    """Episodes written into an evidence store before a test (ids by what they test)."""

    good: str
    outside: str
    tampered: str
    photo: bytes


def seed_evidence(db_dir: Path) -> SeededEvidence:
    """Write three episodes with snapshots into ``db_dir``/evidence.db (a real store).

    ``good`` has a valid snapshot of cam1 (a real photo of people); ``outside`` names files
    outside the snapshot folder (cam1: in the database folder, cam2: above it); ``tampered``
    has a snapshot whose file was changed after it was recorded.
    """
    import hashlib

    import cv2

    from safetymon.evidence.records import Episode, SnapshotRef
    from safetymon.evidence.snapshots import write_snapshots
    from safetymon.evidence.store import EvidenceStore
    from tests.conftest import SHARED_DATA

    photo = cv2.imread(str(SHARED_DATA / "people" / "basketball1.png"))
    assert photo is not None, "shared/data/people/basketball1.png cannot be read"
    snapshots = db_dir / "snapshots" / "2026-01-01"

    def episode(episode_id: str, minute: int, refs: list[SnapshotRef]) -> Episode:
        return Episode(
            episode_id=episode_id, kind="stop", category="proximity",
            start_utc=f"2026-01-01T10:{minute:02d}:00.000000Z",
            end_utc=f"2026-01-01T10:{minute:02d}:02.500000Z", duration_s=2.5,
            worst_state="STOP", min_speed_scale=0.0, reasons=["SEPARATION"], zones=["keep-out"],
            track_ids=[3], robot_ids=["arm1"], closest_track_id=3, closest_robot_id="arm1",
            min_distance_m=0.42, protective_separation_m=0.61, snapshots=refs,
            config_hash="c" * 64, software_version="test",
        )  # fmt: skip

    good_refs = write_snapshots({"cam1": photo}, snapshot_dir=snapshots, db_dir=db_dir,
                                stem="good0001")  # fmt: skip
    outside_file = db_dir / "outside.jpg"
    outside_file.write_bytes((db_dir / good_refs[0].file).read_bytes())
    digest = hashlib.sha256(outside_file.read_bytes()).hexdigest()
    outside_refs = [
        SnapshotRef(camera_id="cam1", file="outside.jpg", sha256=digest, size_bytes=1),
        SnapshotRef(camera_id="cam2", file="../outside.jpg", sha256=digest, size_bytes=1),
    ]
    tampered_refs = write_snapshots({"cam1": photo[::2, ::2]}, snapshot_dir=snapshots,
                                    db_dir=db_dir, stem="tampered01")  # fmt: skip
    (db_dir / tampered_refs[0].file).write_bytes(b"\xff\xd8 not the recorded picture")
    store = EvidenceStore.open(db_dir / "evidence.db")
    try:
        store.append_episode(episode("good0001", 1, good_refs))
        store.append_episode(episode("outside01", 2, outside_refs))
        store.append_episode(episode("tampered01", 3, tampered_refs))
    finally:
        store.close()
    return SeededEvidence(
        "good0001", "outside01", "tampered01", (db_dir / good_refs[0].file).read_bytes()
    )


CHROMIUM = Path(os.environ.get("SAFETYMON_CHROMIUM", "/usr/bin/chromium"))
"""The browser the tests drive (Debian's Chromium; no browser is downloaded)."""


@contextlib.contextmanager
def browser_page(cell: DemoCell, *, token: str | None, errors: list[str]) -> Iterator[Page]:
    """The live view of a running demo cell, opened in headless Chromium.

    Page errors and console errors are appended to ``errors`` (tests assert it stays
    empty). Skips locally, fails in CI, when Playwright or Chromium is missing.
    """
    require_optional(importlib.util.find_spec("playwright") is not None, "Python playwright")
    require_optional(CHROMIUM.is_file(), f"Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    server = attach(cell.monitor, cell.config, cell.base_dir, host="127.0.0.1", port=0,
                    token=token)  # fmt: skip
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1300})
                page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
                page.on(
                    "console",
                    lambda msg: (
                        errors.append(f"console: {msg.text}") if msg.type == "error" else None
                    ),
                )
                page.goto(server.url + "/", wait_until="domcontentloaded")
                yield page
            finally:
                browser.close()
    finally:
        server.stop()
