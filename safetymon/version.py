"""The version string that names the code: package version, plus the git commit in a checkout.

``safetymon --version``, evidence records (``software_version`` of runs and episodes) and
reports all carry ``software_version()``:

- installed from a wheel: the package version, e.g. ``0.1.0``;
- run from a git checkout: ``0.1.0+g<12 hex digits of HEAD>``, with ``.dirty`` when tracked
  files differ from HEAD (so evidence made with uncommitted code says so).

The commit is read once per process with ``git`` (1 s limit); without git, or outside a
checkout, the package version alone is given.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from safetymon import __version__

_CHECKOUT = Path(__file__).resolve().parents[1]
"""The folder above the package: a git checkout when run from source."""


@functools.lru_cache(maxsize=1)
def software_version() -> str:
    """``__version__``, with ``+g<commit>[.dirty]`` when the package runs from a git checkout."""
    if not (_CHECKOUT / ".git").exists():
        return __version__
    try:
        commit = _git("rev-parse", "--short=12", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return __version__
    if not commit:
        return __version__
    return f"{__version__}+g{commit}" + (".dirty" if dirty else "")


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(_CHECKOUT), *args],
        capture_output=True, text=True, timeout=1.0, check=True,
    )  # fmt: skip
    return done.stdout.strip()
