"""Build hw/examples/controller_example.c and run it against the spec and a live publisher."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "hw" / "examples" / "controller_example.c"


def _have_toolchain() -> str | None:
    if shutil.which("gcc") is None:
        return "gcc not installed"
    if shutil.which("pkg-config") is None:
        return "pkg-config not installed"
    if subprocess.run(["pkg-config", "--exists", "libzmq"], check=False).returncode != 0:
        return "libzmq headers not installed (apt-get install libzmq3-dev)"
    return None


pytestmark = pytest.mark.skipif(_have_toolchain() is not None, reason=str(_have_toolchain()))


def build_example(source: Path, out: Path, *libraries: str) -> Path:
    """Compile one of hw/examples/*.c as its Makefile does (warnings are errors)."""
    flags = subprocess.run(
        ["pkg-config", "--cflags", "--libs", "libzmq"], capture_output=True, text=True, check=True
    ).stdout.split()
    cmd = ["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-std=c11", "-D_POSIX_C_SOURCE=200809L"]
    build = subprocess.run(
        [*cmd, "-o", str(out), str(source), *flags, *libraries], capture_output=True, text=True
    )
    assert build.returncode == 0, build.stderr
    return out


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_example(SOURCE, tmp_path_factory.mktemp("c") / "controller_example")


def test_c_decoder_matches_protocol_vectors(binary: Path) -> None:
    rows = re.findall(
        r"^\| ([VX]\d+) \| [^|]+ \| `([0-9a-f]+)` \| ([^|]+) \|$",
        (ROOT / "hw" / "PROTOCOL.md").read_text(encoding="utf-8"),
        flags=re.MULTILINE,
    )
    assert len(rows) >= 10
    for vid, hexstr, decoded in rows:
        out = subprocess.run([str(binary), "--decode", hexstr], capture_output=True, text=True)
        expected = decoded.strip()
        if vid.startswith("X"):
            assert out.returncode == 1, vid
            assert out.stdout.strip().startswith(expected), (vid, out.stdout)
        else:
            assert out.returncode == 0, vid
            assert out.stdout.strip() == expected, vid


def test_c_example_against_live_publisher(binary: Path, tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/c.ipc"
    pub = subprocess.Popen(
        [sys.executable, "-m", "safetymon", "publish", endpoint, "--state", "RUN",
         "--connection-id", "12"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert pub.stdout is not None
        assert pub.stdout.readline().startswith("publishing")
        ctrl = subprocess.Popen(
            [str(binary), endpoint, "12", "100", "3000"], stdout=subprocess.PIPE, text=True
        )
        time.sleep(1.5)  # the C receiver sees RUN at 50 Hz
        os.kill(pub.pid, signal.SIGKILL)
        out, _ = ctrl.communicate(timeout=30)
    finally:
        if pub.poll() is None:
            pub.kill()
        pub.wait(10)
    assert ctrl.returncode == 0
    lines = out.splitlines()
    assert lines[0].startswith("STATE STOP") and "cause=startup" in lines[0]
    assert any(line.startswith("STATE RUN speed=1.000") for line in lines), out
    assert any("cause=watchdog" in line for line in lines), out  # after the SIGKILL
    assert lines[-1].startswith("COUNTERS")
    counters = dict(item.split("=") for item in lines[-1].split()[1:])
    assert all(v == "0" for v in counters.values()), lines[-1]
