"""The live view in a real headless Chromium (Playwright driving Debian's /usr/bin/chromium).

Loads the page from a running demo-cell monitor, waits for the state element to show a
decision, watches it change as the scripted people walk in (the demo goes from the start-up
STOP to RUN, SLOW and STOP), checks that the camera stream and the floor plan images loaded,
and saves a screenshot at every state change (folder printed; copied to
``$SAFETYMON_ARTIFACTS/live-view`` when that is set).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import require_optional
from tests.web.helpers import CHROMIUM, browser_page, running_demo

WATCH_S = 45.0
"""Longest time to watch for state changes (the demo's script is about 38 s), seconds."""


@pytest.mark.slow
def test_page_shows_live_state_changes_camera_and_plan(tmp_path: Path) -> None:
    require_optional(importlib.util.find_spec("playwright") is not None, "Python playwright")
    require_optional(CHROMIUM.is_file(), f"Chromium at {CHROMIUM}")

    shots = tmp_path / "screenshots"
    shots.mkdir()
    print(f"\nlive view screenshots: {shots}")
    errors: list[str] = []
    states: list[str] = []
    with (
        running_demo(tmp_path / "demo") as cell,
        browser_page(cell, token=None, errors=errors) as page,
    ):
        page.wait_for_selector(
            ", ".join(f'#state[data-state="{s}"]' for s in ("RUN", "SLOW", "STOP")),
            timeout=30_000,
        )
        assert page.text_content("#site") == "demo-cell"
        deadline = time.monotonic() + WATCH_S
        while time.monotonic() < deadline:
            state = page.get_attribute("#state", "data-state") or ""
            if state and (not states or states[-1] != state):
                states.append(state)
                page.screenshot(path=str(shots / f"{len(states):02d}-{state}.png"))
            if "RUN" in states and states[-1] != "RUN" and len(set(states)) >= 3:
                break  # start-up STOP → RUN → SLOW/STOP seen
            page.wait_for_timeout(100)
        size = "e => [e.naturalWidth, e.naturalHeight]"  # CDP call: allowed by the CSP
        images_by = time.monotonic() + 15.0
        while True:
            camera = page.eval_on_selector("#camera-cam1", size)
            plan = page.eval_on_selector("#plan", size)
            if (camera[0] > 0 and plan[0] > 0) or time.monotonic() > images_by:
                break
            page.wait_for_timeout(100)
        health = page.locator("#health-table tbody tr").all_text_contents()
        reset_disabled = page.is_disabled("#reset-button")
        page.screenshot(path=str(shots / "final.png"), full_page=True)
    artifacts = os.environ.get("SAFETYMON_ARTIFACTS")
    if artifacts:
        shutil.copytree(shots, Path(artifacts) / "live-view", dirs_exist_ok=True)
    print(f"states shown: {' -> '.join(states)}")
    assert len(states) >= 2, f"the state element never changed: {states}"
    assert set(states) <= {"RUN", "SLOW", "STOP"}
    assert camera == [640, 480], camera
    assert plan == [960, 720], plan
    assert any(row.startswith("camera cam1") for row in health), health
    assert any(row.startswith("robot arm1") for row in health), health
    assert reset_disabled  # no token configured: the page offers no write action
    assert not errors, errors
    assert sorted(p.name for p in shots.iterdir())[-1] == "final.png"
