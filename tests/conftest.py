"""Shared test helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def repo() -> Path:
    """The repository root."""
    return REPO


def require_optional(available: bool, what: str) -> None:
    """Skip a test whose optional part (extra package, browser) is missing here.

    CI sets ``SAFETYMON_REQUIRE_OPTIONAL=1`` and installs every optional part, so there a
    missing part fails the test instead of skipping it.
    """
    if available:
        return
    if os.environ.get("SAFETYMON_REQUIRE_OPTIONAL") == "1":
        pytest.fail(f"{what} is required (SAFETYMON_REQUIRE_OPTIONAL=1) but not available")
    pytest.skip(f"{what} is not available here")


def with_published_robots(site: Path, folder: Path) -> Path:
    """A copy of the example ``site`` in ``folder`` with ``robots/`` beside it holding the
    published URDFs of ../shared/data/robots (links, by file name): the example sites name
    ``robots/<file>.urdf``, which this project does not ship. The URDFs it does ship beside
    the site (the demo humanoid's) are linked beside the copy."""
    folder.mkdir(parents=True, exist_ok=True)
    robots = folder / "robots"
    robots.mkdir(exist_ok=True)
    for urdf in (SHARED_DATA / "robots").rglob("*.urdf"):
        link = robots / urdf.name
        if not link.exists():
            link.symlink_to(urdf)
    for urdf in site.parent.glob("*.urdf"):
        link = folder / urdf.name
        if not link.exists():
            link.symlink_to(urdf.resolve())
    copy = folder / site.name
    copy.write_text(site.read_text())
    return copy
