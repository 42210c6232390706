"""A real RTSP server for the tests: GStreamer's gst-rtsp-server, streaming image files as H.264.

Run with Debian's Python (``/usr/bin/python3``: python3-gi, gir1.2-gst-rtsp-server-1.0,
gstreamer1.0-plugins-good/-ugly; `.ci/run` installs them), not the project's venv:

    /usr/bin/python3 tests/rtsp/rtsp_server.py --port 8554 --frames 'DIR/f%05d.png' --fps 15

serves ``rtsp://127.0.0.1:PORT/cam``: the numbered PNG files in a loop, encoded with x264
(zero-latency tuning, a key frame every second), over RTP. It prints ``ready`` once it
listens and serves until SIGTERM or SIGKILL.

With ``--raw-fifo PATH --size WxH`` instead of ``--frames`` it streams raw BGR frames read
from a named pipe as they arrive (a live source, timestamped on arrival): the "screen" of
`safetymon calibrate latency --fifo PATH`, so the latency of encode, RTSP/RTP over loopback
and the client's decode is measured end to end.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def _feeder(fifo: str, frame_bytes: int):
    """Read frames from ``fifo`` for as long as its writer writes (a thread started now) and
    push each into the appsrc of the media being served, if any; a media-configure handler
    that makes a newly configured media the current one (a client that reconnects gets the
    frames from then on)."""
    current = {"appsrc": None}
    lock = threading.Lock()

    def pump() -> None:
        with open(fifo, "rb", buffering=0) as pipe:
            while True:
                data = bytearray()
                while len(data) < frame_bytes:
                    chunk = pipe.read(frame_bytes - len(data))
                    if not chunk:  # the writer closed: end the stream
                        with lock:
                            if current["appsrc"] is not None:
                                current["appsrc"].emit("end-of-stream")
                        return
                    data += chunk
                with lock:
                    appsrc = current["appsrc"]
                if appsrc is not None:
                    appsrc.emit("push-buffer", Gst.Buffer.new_wrapped(bytes(data)))

    def configure(_factory, media) -> None:
        with lock:
            current["appsrc"] = media.get_element().get_child_by_name("src")

    threading.Thread(target=pump, daemon=True).start()
    return configure


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--frames", help="printf pattern of PNG files")
    source.add_argument("--raw-fifo", help="named pipe of raw BGR frames (needs --size)")
    parser.add_argument("--size", help="WIDTHxHEIGHT of the --raw-fifo frames")
    parser.add_argument("--fps", type=int, default=15)
    args = parser.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    encode = (
        f"videoconvert ! video/x-raw,format=I420 ! x264enc tune=zerolatency "
        f"speed-preset=ultrafast key-int-max={args.fps} ! rtph264pay name=pay0 pt=96 "
        "config-interval=1"
    )
    if args.frames:
        factory.set_launch(
            f"( multifilesrc location={args.frames} index=0 loop=true "
            f"caps=image/png,framerate={args.fps}/1 ! pngdec ! {encode} )"
        )
    else:
        width, height = (int(v) for v in args.size.split("x"))
        factory.set_launch(
            f"( appsrc name=src is-live=true do-timestamp=true format=time "
            f"caps=video/x-raw,format=BGR,width={width},height={height},"
            f"framerate={args.fps}/1 ! {encode} )"
        )
        factory.connect("media-configure", _feeder(args.raw_fifo, width * height * 3))
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
