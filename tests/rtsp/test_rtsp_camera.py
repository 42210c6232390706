"""`safetymon run` on an RTSP camera served by a real GStreamer RTSP server (issue 17, item 1).

The server (`rtsp_server.py`, Debian's python3-gi and gst-rtsp-server) streams the rendered
empty cell of `tests/monitor/run_site.py` as H.264 over RTSP on loopback; the monitor reads
it with OpenCV's FFmpeg backend (TCP transport, no buffering: the default). Shown: RUN;
the server killed → STOP with CAMERA_STALE within the frame-age limit; the server back →
reconnected with back-off, RUN again after the restart delay.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from safetymon.signals.reasons import Reason
from tests.conftest import require_optional
from tests.monitor import run_site
from tests.monitor.run_site import FrameSet, running, wait_healthy, write_site

HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"
SLACK_S = 0.5
"""Scheduling slack of a shared 2-core machine on top of each limit (seconds)."""


def _gst_rtsp_missing() -> str | None:
    if not Path(SYSTEM_PYTHON).exists():
        return "no /usr/bin/python3"
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); "
         "from gi.repository import GstRtspServer"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if probe.returncode != 0 or shutil.which("gst-inspect-1.0") is None:
        return "GStreamer's RTSP server is not installed (apt-get install python3-gi " \
            "gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-ugly gstreamer1.0-tools)"
    return None


@pytest.fixture(scope="module")
def frame_set(tmp_path_factory: pytest.TempPathFactory) -> FrameSet:
    missing = _gst_rtsp_missing()
    require_optional(missing is None, missing or "")
    return run_site.render_frame_set(tmp_path_factory.mktemp("cell-frames"))


class RtspServer:
    """The GStreamer RTSP server process on a loopback port."""

    def __init__(self, frames_pattern: str, port: int) -> None:
        self.frames_pattern, self.port = frames_pattern, port
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def start(self) -> RtspServer:
        self.process = subprocess.Popen(
            [SYSTEM_PYTHON, str(HERE / "rtsp_server.py"), "--port", str(self.port),
             "--frames", self.frames_pattern, "--fps", str(int(run_site.FPS))],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        assert line == "ready", self.process.stderr.read() if self.process.stderr else line
        return self

    def kill(self) -> float:
        """SIGKILL the server; the monotonic time it was sent."""
        assert self.process is not None
        killed = time.monotonic()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        return killed

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.mark.slow
def test_rtsp_camera_runs_stops_when_the_server_dies_and_recovers(
    tmp_path: Path, frame_set: FrameSet
) -> None:
    port = run_site.free_port()
    server = RtspServer("", port)

    def rtsp_camera(site: dict) -> None:
        camera = site["cameras"][0]
        camera["source"] = server.url
        camera.pop("playback", None)
        camera.pop("fps", None)
        camera["reconnect_initial_s"] = 0.2
        camera["reconnect_max_s"] = 1.0

    site = write_site(tmp_path, frame_set, edit=rtsp_camera)
    server.frames_pattern = str(site.folder / "frames" / "f%05d.png")
    server.start()
    try:
        with running(site) as (monitor, controller, _sim):
            healthy = wait_healthy(controller, monitor)
            assert healthy.state.reasons == 0
            killed = server.kill()
            limit = run_site.MAX_FRAME_AGE_S
            stop = controller.wait_stop(limit + SLACK_S + 2.0, killed, Reason.CAMERA_STALE)
            assert stop is not None, monitor.stderr()[-3000:]
            reaction = stop.time_s - killed
            assert reaction <= limit + SLACK_S, f"STOP {reaction * 1000:.0f} ms after the kill"
            time.sleep(1.0)
            restarted = time.monotonic()
            server.start()
            again = controller.wait_run(30.0, restarted)
            assert again is not None, monitor.stderr()[-3000:]
            # RUN only once every cause was clear for the restart delay
            assert again.time_s - restarted >= run_site.RESTART_DELAY_S - 0.05
            print(f"rtsp: STOP {reaction * 1000:.0f} ms after the server was killed; RUN "
                  f"{again.time_s - restarted:.2f} s after it restarted")  # fmt: skip
    finally:
        server.stop()


@pytest.mark.slow
def test_a_server_that_comes_back_at_another_size_is_a_camera_fault(
    tmp_path: Path, frame_set: FrameSet
) -> None:
    """The server restarts (as a camera reboot with changed settings would) streaming the cell
    at 320x240: STOP with CAMERA_FAULT naming the size, as for files (`test_run_faults.py`).

    A frozen picture is not tested here: the frozen check compares exact frames, and an
    encoder re-sending one still picture refines it frame by frame and refreshes it at every
    key frame, so the decoded frames are never identical for long (docs/PERCEPTION.md)."""
    port = run_site.free_port()
    server = RtspServer("", port)

    def rtsp_camera(site: dict) -> None:
        site["cameras"][0].update(source=server.url, reconnect_initial_s=0.2,
                                  reconnect_max_s=1.0)  # fmt: skip
        site["cameras"][0].pop("playback", None)
        site["cameras"][0].pop("fps", None)

    site = write_site(tmp_path, frame_set, edit=rtsp_camera)
    server.frames_pattern = str(site.folder / "frames" / "f%05d.png")
    server.start()
    altered = tmp_path / "altered"
    altered.mkdir()
    still = frame_set.small
    for index in range(30):
        (altered / f"f{index:05d}.png").symlink_to(still)
    try:
        with running(site) as (monitor, controller, _sim):
            wait_healthy(controller, monitor)
            server.kill()
            server.frames_pattern = str(altered / "f%05d.png")
            changed = time.monotonic()
            server.start()
            needle = "320x240"
            deadline = changed + 30.0
            while needle not in monitor.stderr():  # the source reconnected and saw it
                assert time.monotonic() < deadline, monitor.stderr()[-3000:]
                time.sleep(0.1)
            seen = controller.since(changed)
            assert seen and all(s.state.state.name == "STOP" for s in seen)  # never RUN
            assert controller.client.status.reasons & Reason.CAMERA_FAULT
    finally:
        server.stop()
