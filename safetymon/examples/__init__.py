"""Example site files shipped with the package (the demo cell and two more).

Found through ``importlib.resources``, never through the current directory, so the demo and
``safetymon zones examples --out DIR`` work after a plain ``pip install``. In a source
checkout ``zones/`` links to these files.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

NAMES = ("demo-cell.yaml", "service-counter.yaml", "warehouse-aisle.yaml")
"""The example site files."""


def example_path(name: str) -> Path:
    """The installed file of example ``name`` (one of ``NAMES``).

    Raises:
        ValueError: not an example's name.
    """
    if name not in NAMES:
        raise ValueError(f"no example site {name!r}; the examples are {', '.join(NAMES)}")
    return Path(str(files(__name__) / name))


def copy_examples(out_dir: Path, *, overwrite: bool = False) -> list[Path]:
    """Copy every example into ``out_dir`` (created); return the files written.

    Raises:
        FileExistsError: a file of that name exists there and ``overwrite`` is False
            (nothing is written).
        OSError: the folder or a file cannot be written.
    """
    out = Path(out_dir)
    targets = [out / name for name in NAMES]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} exists (--force replaces it)")
    out.mkdir(parents=True, exist_ok=True)
    for name, target in zip(NAMES, targets, strict=True):
        target.write_text(example_path(name).read_text(encoding="utf-8"), encoding="utf-8")
    return targets
