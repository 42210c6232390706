"""A real RTSP server for the tests: GStreamer's gst-rtsp-server, streaming image files as H.264.

Run with Debian's Python (``/usr/bin/python3``: python3-gi, gir1.2-gst-rtsp-server-1.0,
gstreamer1.0-plugins-good/-ugly; `.ci/run` installs them), not the project's venv:

    /usr/bin/python3 tests/rtsp/rtsp_server.py --port 8554 --frames 'DIR/f%05d.png' --fps 15

serves ``rtsp://127.0.0.1:PORT/cam``: the numbered PNG files in a loop, encoded with x264
(zero-latency tuning, a key frame every second), over RTP. It prints ``ready`` once it
listens and serves until SIGTERM or SIGKILL.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--frames", required=True, help="printf pattern of PNG files")
    parser.add_argument("--fps", type=int, default=15)
    args = parser.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( multifilesrc location={args.frames} index=0 loop=true "
        f"caps=image/png,framerate={args.fps}/1 ! pngdec ! videoconvert ! video/x-raw,format=I420 "
        f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.fps} "
        "! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        print(f"error: cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    signal.signal(signal.SIGTERM, lambda *_: loop.quit())
    print("ready", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
