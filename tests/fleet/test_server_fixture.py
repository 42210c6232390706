"""Without a PostgreSQL server the fleet tests skip here and fail in CI
(SAFETYMON_REQUIRE_OPTIONAL=1), naming why."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

ONE_TEST = "tests/fleet/test_ship.py::test_migrations_are_versioned_idempotent_and_append_only"


@pytest.mark.slow  # two pytest runs in subprocesses: about 9 s
def test_missing_server_skips_here_and_fails_under_require_optional(tmp_path: Path) -> None:
    for require, outcome, code in (("1", "1 error", 1), ("0", "1 skipped", 0)):
        env = {**os.environ, "SAFETYMON_PG_BINDIR": str(tmp_path / "no-postgres"),
               "SAFETYMON_REQUIRE_OPTIONAL": require}  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-rsf", "-p", "no:cacheprovider", ONE_TEST],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert outcome in done.stdout and done.returncode == code, done.stdout[-2000:]
        assert "a PostgreSQL server: no initdb" in done.stdout
