"""The controller client must import with only pyzmq and pydantic (no heavy dependencies)."""

from __future__ import annotations

import subprocess
import sys

BLOCKED = ("cv2", "numba", "shapely", "numpy", "yaml", "serial", "pymodbus")

SCRIPT = f"""
import importlib.abc, sys
BLOCKED = {BLOCKED!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError("blocked heavy module " + name)
        return None
sys.meta_path.insert(0, Block())
import safetymon.signals.client, safetymon.signals.checker, safetymon.signals.frame
import safetymon.signals.keys
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not loaded, loaded
print("ok")
"""


def test_client_imports_without_heavy_dependencies() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
