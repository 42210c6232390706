"""hw/examples/controller_example.py runs against a live publisher."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_python_controller_example(tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/ex.ipc"
    pub = subprocess.Popen(
        [sys.executable, "-m", "safetymon", "publish", endpoint, "--state", "SLOW",
         "--speed-scale", "0.3", "--duration", "1.5"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert pub.stdout is not None
        assert pub.stdout.readline().startswith("publishing")
        out = subprocess.run(
            [sys.executable, str(ROOT / "hw" / "examples" / "controller_example.py"), endpoint,
             "--duration", "2.5"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    finally:
        pub.wait(10)
    assert out.returncode == 0, out.stderr
    assert "SLOW: speed override 30%" in out.stdout
    assert "protective stop (frame; ['SHUTDOWN'])" in out.stdout
