"""Example site files and the model manifest template, shipped with the package.

Found through ``importlib.resources``, never through the current directory, so the demo and
``safetymon zones examples --out DIR`` work after a plain ``pip install``. In a source
checkout ``zones/`` and ``models/manifest.yaml`` link to these files.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

NAMES = (
    "demo-cell.yaml",
    "service-counter.yaml",
    "warehouse-aisle.yaml",
    "ur5e-cell.yaml",
    "humanoid-counter.yaml",
    "demo-humanoid-counter.yaml",
)
"""The example site files."""
ROBOT_FILES = ("demo-humanoid.urdf",)
"""Robot descriptions the example sites name beside them (the demo humanoid's URDF, written
for safetymon; the published robots' URDFs are not shipped)."""
MODELS_MANIFEST = "models-manifest.yaml"
"""The model manifest template (no models listed; ``models/manifest.yaml`` once copied)."""


def example_path(name: str) -> Path:
    """The installed file of example ``name`` (one of ``NAMES``).

    Raises:
        ValueError: not an example's name.
    """
    if name not in (*NAMES, *ROBOT_FILES, MODELS_MANIFEST):
        raise ValueError(f"no example site {name!r}; the examples are {', '.join(NAMES)}")
    return Path(str(files(__name__) / name))


def copy_examples(out_dir: Path, *, overwrite: bool = False) -> list[Path]:
    """Copy every example site and the robot files they name into ``out_dir`` (created) and
    the model manifest template to ``out_dir/models/manifest.yaml`` (where the monitor looks
    first: the site file's folder's ``models``); return the files written.

    Raises:
        FileExistsError: a file of that name exists there and ``overwrite`` is False
            (nothing is written).
        OSError: the folder or a file cannot be written.
    """
    out = Path(out_dir)
    sources = [*NAMES, *ROBOT_FILES, MODELS_MANIFEST]
    targets = [*(out / name for name in (*NAMES, *ROBOT_FILES)), out / "models" / "manifest.yaml"]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} exists (--force replaces it)")
    for name, target in zip(sources, targets, strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(example_path(name).read_text(encoding="utf-8"), encoding="utf-8")
    return targets
