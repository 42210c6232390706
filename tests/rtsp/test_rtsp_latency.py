"""`safetymon calibrate latency` through a real RTSP path (issue 17, item 2).

The tool writes its code pattern as raw frames into a named pipe; the GStreamer RTSP server
(`rtsp_server.py --raw-fifo`) encodes them with x264 as they arrive and streams them over
RTSP on loopback; the tool reads the stream as the monitor would (`CameraSource`, OpenCV's
FFmpeg backend with the low-latency options) and decodes the codes. The measured latency
is encode + RTP/RTSP over loopback + decode + OpenCV's hand-out: it is written into the
camera's calibration file, and `config check` then counts it in S_p.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from safetymon.perception.calibration.model import load_calibration
from tests.conftest import require_optional
from tests.monitor import run_site
from tests.rtsp.test_rtsp_camera import HERE, SYSTEM_PYTHON, _gst_rtsp_missing

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_latency_measured_over_rtsp_is_written_and_counted(tmp_path: Path) -> None:
    missing = _gst_rtsp_missing()
    require_optional(missing is None, missing or "")
    fifo = tmp_path / "screen.raw"
    os.mkfifo(fifo)
    port = run_site.free_port()
    url = f"rtsp://127.0.0.1:{port}/cam"
    site = tmp_path / "site.yaml"
    text = (REPO / "zones" / "demo-cell.yaml").read_text()
    site.write_text(
        text.replace("    source: 0 ", f"    calibration: cam1.yaml\n    source: {url} ", 1)
    )
    server = subprocess.Popen(
        [SYSTEM_PYTHON, str(HERE / "rtsp_server.py"), "--port", str(port), "--raw-fifo",
         str(fifo), "--size", "640x360", "--fps", "25"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        result = subprocess.run(
            [sys.executable, "-m", "safetymon", "calibrate", "latency", "--site", str(site),
             "--camera", "cam1", "--fifo", str(fifo), "--size", "640x360", "--seconds", "8",
             "--period-ms", "40", "--json"],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
        )  # fmt: skip
    finally:
        server.kill()
        server.wait(10)
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout)
    print("rtsp glass-to-frame:", measured)  # the figure for docs/PERCEPTION.md
    assert measured["samples"] >= 60  # most of ~25 frames/s for the time the stream ran
    assert 0.0 < measured["p50_s"] <= measured["p99_s"] < 1.0
    written = load_calibration(tmp_path / "cam1.yaml").latency
    assert written is not None and written.latency_s == pytest.approx(measured["latency_s"])
    assert written.source == url
    check = subprocess.run(
        [sys.executable, "-m", "safetymon", "config", "check", str(site)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
    assert f"latency {written.latency_s * 1000:.0f} ms (calibration file)" in check.stdout
    assert "not measured" not in check.stderr
