"""RTSP cameras, measured: glass-to-frame latency and person frame → STOP at the controller.

Three parts, all on loopback with real processes (issue 17, item 3):

1. **The latency tool's own error**: `safetymon calibrate latency`'s measurement against a
   virtual camera that hands the shown codes back a known delay late (`LoopbackCamera`).
2. **Glass-to-frame over RTSP, low-latency options vs FFmpeg's defaults**: the codes go as
   raw frames into Debian's GStreamer RTSP server (`tests/rtsp/rtsp_server.py --raw-fifo`,
   x264 zero-latency), which streams them; `CameraSource` reads the stream with safetymon's
   default options (`rtsp_transport;tcp|fflags;nobuffer|flags;low_delay|max_delay;0`) and
   then with FFmpeg's own defaults (``OPENCV_FFMPEG_CAPTURE_OPTIONS`` set empty).
3. **Frame → STOP**: `safetymon run` on the rendered demo cell (foreground detector, a
   `robot-sim` arm, a `SafetyClient` in this process); once RUN, the camera starts showing
   a person standing in the protective zone; the time from that frame to the first STOP
   with PROTECTIVE_ZONE at the client. Once with the camera an image glob read at 15
   frames/s (the file source: the frames are switched on disk, the reader takes the next
   file within 1/15 s), once with the same frames streamed over RTSP as they are written.

Usage::

    .venv/bin/python benchmarks/bench_rtsp.py [--trials 5] [--seconds 8] [--json]

Needs Debian's python3-gi, gir1.2-gst-rtsp-server-1.0 and gstreamer1.0-plugins-ugly
(`.ci/run` installs them).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from safetymon.config.cameras import CameraConfig  # noqa: E402
from safetymon.config.loader import load_site_config  # noqa: E402
from safetymon.perception.latency_measure import summarize  # noqa: E402
from safetymon.perception.latency_session import FifoScreen, LoopbackCamera, measure  # noqa: E402
from safetymon.perception.sources import FFMPEG_OPTIONS_VARIABLE, CameraSource  # noqa: E402
from safetymon.signals.reasons import Reason  # noqa: E402
from safetymon.sim.cell import DemoScene, demo_camera  # noqa: E402
from safetymon.sim.render import CellRenderer  # noqa: E402
from tests.monitor import run_site  # noqa: E402 (needs the repository root on sys.path)

SERVER = ROOT / "tests" / "rtsp" / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"
SIZE = (640, 360)
"""Pattern frames streamed in part 2, (width, height) px."""


def percentiles_ms(values: list[float] | np.ndarray) -> dict[str, float]:
    """p50 / p95 / p99 / max in milliseconds (the next higher sample: conservative)."""
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "max": float("nan")}
    return {
        name: round(float(np.percentile(array, q, method="higher")) * 1000, 1)
        for name, q in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))
    }


# ------------------------------------------------------------------ part 1: the tool's error
def tool_error(seconds: float) -> list[dict]:
    """Measured − known delay for a loopback camera at a few delays."""
    rows = []
    for delay in (0.0, 0.1, 0.3):
        camera = LoopbackCamera(delay).start()
        samples = measure(camera, camera, duration_s=seconds, period_s=0.02, pattern_size=SIZE)
        error = samples.latency_s - delay
        rows.append({"known_delay_ms": delay * 1000, "frames": samples.frames,
                     "decoded": samples.decoded, "error_ms": percentiles_ms(error),
                     "below_known": int(np.sum(error < 0))})  # fmt: skip
    return rows


# ------------------------------------------------------------------ part 2: RTSP latency
@contextlib.contextmanager
def fifo_server(folder: Path, size: tuple[int, int], fps: int) -> Iterator[tuple[str, Path]]:
    """The GStreamer RTSP server streaming raw frames from a FIFO: (url, fifo)."""
    fifo = folder / f"screen-{time.monotonic_ns()}.raw"
    os.mkfifo(fifo)
    port = run_site.free_port()
    process = subprocess.Popen(
        [SYSTEM_PYTHON, str(SERVER), "--port", str(port), "--raw-fifo", str(fifo),
         "--size", f"{size[0]}x{size[1]}", "--fps", str(fps)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the RTSP server did not start")
        yield f"rtsp://127.0.0.1:{port}/cam", fifo
    finally:
        process.kill()
        process.wait(10)


def rtsp_latency(folder: Path, seconds: float) -> list[dict]:
    """Glass-to-frame over RTSP with safetymon's options and with FFmpeg's defaults."""
    rows = []
    for name, options in (("safetymon low-latency (default)", None), ("FFmpeg defaults", "")):
        with fifo_server(folder, SIZE, 25) as (url, fifo):
            camera = CameraSource(CameraConfig(id="cam", source=url, floor_homography=[
                [1, 0, 0], [0, 1, 0], [0, 0, 1]], max_frame_age_s=1.0))  # fmt: skip
            if options is not None:
                os.environ[FFMPEG_OPTIONS_VARIABLE] = options
            try:
                camera.start()
                samples = measure(FifoScreen(fifo), camera, duration_s=seconds, period_s=0.04,
                                  pattern_size=SIZE)  # fmt: skip
            finally:
                os.environ.pop(FFMPEG_OPTIONS_VARIABLE, None)
        counted = summarize(samples, margin_s=0.02, pattern_period_s=0.04, source=url)
        rows.append({"options": name, "frames": samples.frames, "decoded": samples.decoded,
                     "latency_ms": percentiles_ms(samples.latency_s),
                     "counted_ms": round(counted.latency_s * 1000, 1)})  # fmt: skip
    return rows


# ------------------------------------------------------------------ part 3: frame → STOP
def person_frames(frame_set: run_site.FrameSet, out: Path, count: int = 8) -> list[Path]:
    """Noisy frames of the empty cell with one person standing in the protective zone."""
    config = load_site_config(run_site.DEMO_SITE)
    scene = DemoScene.from_site(config)
    renderer = CellRenderer(scene, demo_camera())
    zone = next(z for z in config.zones if z.type.value == "protective")
    min_x, min_y, max_x, max_y = zone.shape().bounds  # in front of the table, near the camera
    centre = np.array([min_x + 0.3 * (max_x - min_x), min_y + 0.15 * (max_y - min_y)])
    pose = next(p for p in (s.pose_at(s.end_s / 2) for s in scene.people) if p is not None)
    pose = dataclasses.replace(pose, xy=centre, velocity=np.zeros(2), stride=0.0)
    empty = cv2.imread(str(frame_set.reference))
    rng = np.random.default_rng(11)
    paths = []
    for index in range(count):
        image = empty.copy()
        state = scene.state_at(0.0, 0.0, 0.0)
        renderer._draw_scene(image, None, dataclasses.replace(state, people=(pose,)),
                             people=True, robot=False)  # the frames show no arm (run_site)
        noise = np.round(rng.normal(0.0, run_site.NOISE_SIGMA, image.shape))
        path = out / f"person{index:03d}.png"
        cv2.imwrite(str(path), np.clip(image + noise, 0, 255).astype(np.uint8))
        paths.append(path)
    return paths


def _relink(site: run_site.RunSite, targets: list[Path]) -> float:
    """Link every frame file to ``targets`` in turn (atomically each); the time it began."""
    began = time.monotonic()
    for index, path in enumerate(site.frames):
        spare = path.with_suffix(".new")
        run_site._link(targets[index % len(targets)], spare)
        os.replace(spare, path)
    return began


def _trials(site: run_site.RunSite, trials: int, show_person, show_empty) -> list[float]:
    """Frame → STOP (PROTECTIVE_ZONE) at the client, seconds, ``trials`` times."""
    times = []
    with run_site.running(site) as (monitor, controller, _sim):
        for _ in range(trials):
            run_site.wait_healthy(controller, monitor)
            shown = show_person()
            seen = controller.wait_stop(10.0, shown, Reason.PROTECTIVE_ZONE)
            times.append(float("inf") if seen is None else seen.time_s - shown)
            show_empty()
    return times


class FifoFeeder:
    """Writes empty-cell or person frames into the RTSP server's FIFO at 15 frames/s."""

    def __init__(self, fifo: Path, empty: list[Path], person: list[Path]) -> None:
        self.empty = [cv2.imread(str(p)) for p in empty]
        self.person = [cv2.imread(str(p)) for p in person]
        self.fifo = fifo
        self._person = threading.Event()
        self.person_shown_s: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> FifoFeeder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def show_person(self) -> float:
        self.person_shown_s = None
        self._person.set()
        while self.person_shown_s is None:
            time.sleep(0.001)
        return self.person_shown_s

    def show_empty(self) -> None:
        self._person.clear()

    def _run(self) -> None:
        screen = FifoScreen(self.fifo)
        period, index = 1.0 / run_site.FPS, 0
        next_s = time.monotonic()
        try:
            while not self._stop.is_set():
                person = self._person.is_set()
                frames = self.person if person else self.empty
                at = screen.show(frames[index % len(frames)])
                if person and self.person_shown_s is None:
                    self.person_shown_s = at
                index += 1
                next_s += period
                self._stop.wait(max(0.0, next_s - time.monotonic()))
        except BrokenPipeError:
            pass
        finally:
            screen.close()


def frame_to_stop(folder: Path, trials: int) -> list[dict]:
    """Person frame → STOP at the client: image glob vs RTSP, the same frames."""
    frame_set = run_site.render_frame_set(folder / "frames")
    person = person_frames(frame_set, folder / "frames")
    empty = list(frame_set.frames)
    rows = []
    site = run_site.write_site(folder / "file", frame_set, seconds_of_frames=trials * 25.0 + 60)
    times = _trials(site, trials, lambda: _relink(site, person), lambda: _relink(site, empty))
    rows.append({"camera": "image glob, 15 frames/s (file source)",
                 "frame_to_stop_ms": percentiles_ms(times), "trials": len(times)})  # fmt: skip
    with fifo_server(folder, (640, 480), int(run_site.FPS)) as (url, fifo):
        def rtsp_camera(data: dict) -> None:
            camera = data["cameras"][0]
            camera.update(source=url, reconnect_initial_s=0.2, reconnect_max_s=1.0)
            camera.pop("playback", None)
            camera.pop("fps", None)

        feeder = FifoFeeder(fifo, empty, person).start()
        try:
            site = run_site.write_site(folder / "rtsp", frame_set, seconds_of_frames=1,
                                       edit=rtsp_camera)  # fmt: skip
            times = _trials(site, trials, feeder.show_person, feeder.show_empty)
        finally:
            feeder.stop()
    rows.append({"camera": "the same frames over RTSP (x264, loopback, low-latency options)",
                 "frame_to_stop_ms": percentiles_ms(times), "trials": len(times)})  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5, help="frame → STOP trials per camera")
    parser.add_argument("--seconds", type=float, default=8.0, help="each latency measurement")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not Path(SYSTEM_PYTHON).exists():
        print("error: needs Debian's /usr/bin/python3 with python3-gi", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        result = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "tool_error": tool_error(min(args.seconds, 5.0)),
            "rtsp_latency": rtsp_latency(folder, args.seconds),
            "frame_to_stop": frame_to_stop(folder, args.trials),
        }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"bench_rtsp on {result['machine']}")
    print("\n1. calibrate latency's error against a known delay (loopback camera, 20 ms codes)")
    for row in result["tool_error"]:
        e = row["error_ms"]
        print(f"  known {row['known_delay_ms']:5.0f} ms: error p50 {e['p50']:+.1f} p95 "
              f"{e['p95']:+.1f} p99 {e['p99']:+.1f} ms, below the known delay "
              f"{row['below_known']} of {row['decoded']} ({row['frames']} frames)")  # fmt: skip
    print("\n2. glass-to-frame over RTSP (x264 zero-latency, loopback, 40 ms codes)")
    for row in result["rtsp_latency"]:
        lat = row["latency_ms"]
        print(f"  {row['options']:<34} p50 {lat['p50']:6.1f} p95 {lat['p95']:6.1f} p99 "
              f"{lat['p99']:6.1f} max {lat['max']:6.1f} ms ({row['decoded']}/{row['frames']} "
              f"frames), counted {row['counted_ms']:.0f} ms")  # fmt: skip
    ours, theirs = (row["latency_ms"] for row in result["rtsp_latency"])
    print(f"  FFmpeg defaults / low-latency: p50 {theirs['p50'] / ours['p50']:.2f}x, p99 "
          f"{theirs['p99'] / ours['p99']:.2f}x, max {theirs['max'] / ours['max']:.2f}x")
    print("\n3. person frame → STOP (PROTECTIVE_ZONE) at the controller")
    for row in result["frame_to_stop"]:
        t = row["frame_to_stop_ms"]
        print(f"  {row['camera']:<64} p50 {t['p50']:6.1f} p99 {t['p99']:6.1f} ms "
              f"({row['trials']} trials)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
