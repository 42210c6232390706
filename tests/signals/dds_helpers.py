"""Shared parts of the DDS safety-output tests: peer processes, domains, waiting.

DDS stays on loopback on a random domain id per test, so parallel runs on one host do not
hear each other. Waits poll for a condition with generous limits (2 shared, noisy cores).
"""

from __future__ import annotations

import importlib.util
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import require_optional

HAVE_DDS = importlib.util.find_spec("cyclonedds") is not None
HAVE_ROSBAGS = importlib.util.find_spec("rosbags") is not None
PEER = Path(__file__).with_name("dds_peer.py")
REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0
"""A peer process's start and discovery (imports on a loaded 2-core machine), seconds."""


def needs_dds(rosbags: bool = False) -> None:
    """Skip (fail in CI) without ``cyclonedds`` (and ``rosbags`` when asked)."""
    require_optional(HAVE_DDS, "Python package cyclonedds (pip install -e .[dev])")
    if rosbags:
        require_optional(HAVE_ROSBAGS, "Python package rosbags (pip install -e .[dev])")


def random_domain() -> int:
    """A DDS domain id for one test (100..229, ROS 2's usual ids stay free)."""
    return random.SystemRandom().randrange(100, 230)


def wait_for(test: Callable[[], bool], timeout_s: float, step_s: float = 0.01) -> bool:
    """Poll ``test`` until it is true (True) or ``timeout_s`` passed (False)."""
    end = time.monotonic() + timeout_s
    while True:
        if test():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(step_s)


class Peer:
    """A ``dds_peer.py`` process (see its docstring): commands in, ``ok`` out."""

    def __init__(self, mode: str, domain: int, connection_id: int) -> None:
        """Start it and wait until it found the reader (``ready``)."""
        self.process = subprocess.Popen(
            [sys.executable, str(PEER), mode, str(domain), str(connection_id)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=REPO,
        )  # fmt: skip
        self._lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._expect("ready", START_TIMEOUT_S)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._cond:
                self._lines.append(line.strip())
                self._cond.notify_all()

    def _expect(self, word: str, timeout_s: float) -> None:
        end = time.monotonic() + timeout_s
        with self._cond:
            while word not in self._lines:
                left = end - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    stderr = "" if self.process.poll() is None else self.process.stderr.read()  # type: ignore[union-attr]
                    raise AssertionError(f"peer did not say {word!r}: {self._lines} {stderr}")
                self._cond.wait(min(left, 0.1))
            self._lines.remove(word)

    def send(self, line: str, timeout_s: float = 20.0) -> None:
        """Send one command line and wait for its ``ok``."""
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        self._expect("ok", timeout_s)

    def quit(self, timeout_s: float = 20.0) -> int:
        """Ask it to close (STOP, SHUTDOWN) and wait for its exit code."""
        assert self.process.stdin is not None
        self.process.stdin.write("quit\n")
        self.process.stdin.flush()
        return self.process.wait(timeout_s)

    def kill(self) -> None:
        """SIGKILL it (no STOP frame: silence)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10.0)

    def end(self) -> None:
        """Make sure it is gone (SIGKILL if still running)."""
        self.kill()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
