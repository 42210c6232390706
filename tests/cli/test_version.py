"""`safetymon --version` names the code (issue 16, item 3): the package version, and from a
git checkout the commit (and whether tracked files differ from it)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from safetymon import __version__
from safetymon.version import software_version

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(),
                    reason="not a git checkout")  # fmt: skip
def test_version_names_the_commit_of_a_checkout() -> None:
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert re.fullmatch(rf"{re.escape(__version__)}\+g{head}(\.dirty)?", software_version())
    done = subprocess.run([sys.executable, "-m", "safetymon", "--version"],
                          capture_output=True, text=True, timeout=60, cwd=REPO)  # fmt: skip
    assert done.stdout.strip() == f"safetymon {software_version()}"


def test_outside_a_checkout_it_is_the_package_version(tmp_path: Path) -> None:
    """A copy of the package without .git beside it (as a wheel installs it)."""
    shutil.copytree(REPO / "safetymon", tmp_path / "safetymon",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", "from safetymon.version import software_version; "
         "print(software_version())"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == __version__
