"""Serial output benchmark: frame latency over a pty, and the stop-relay firmware logic's cost.

Run: ``.venv/bin/python benchmarks/bench_signals_serial.py [--frames 3000]``

1. ``set_state() -> decoded``: a change handed to :class:`SerialOutput` (heartbeat thread
   wakes, encodes, COBS-frames, writes the pty slave) until a reader thread has read the pty
   master, COBS-decoded and ``decode_frame``-d it. Every call changes ``reasons`` so each
   one is an immediate send, matched by its unique reasons value.
2. ``write() -> decoded``: the same without the heartbeat thread (encode + write in the
   caller), i.e. the codec + pty + reader path alone.
3. Firmware: ``RelayLogic.feed`` (hw/firmware/stop_relay.py) per 34-byte wire frame on CPython.

A pty ignores the baud rate: a real 115200 baud line adds 34 bytes x 10 bit / 115200 = 2.95 ms
of transmission per frame on top of these figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import select
import statistics
import sys
import threading
import time
import tty
from pathlib import Path

from safetymon.config.outputs import SerialOutputConfig
from safetymon.signals.cobs import CobsStreamDecoder, encode_packet
from safetymon.signals.frame import SafetyFrame, SafetyState, decode_frame, encode_frame
from safetymon.signals.serial_output import SerialOutput, open_port

ROOT = Path(__file__).resolve().parents[1]
BAUD = 115200


class Reader:
    """Reads a pty master, decodes frames, records receive time per ``reasons`` value."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.seen: dict[int, int] = {}
        self.cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        dec = CobsStreamDecoder()
        while not self._stop:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            data = os.read(self.master, 4096)
            for packet in dec.feed(data):
                frame = decode_frame(packet)
                now = time.perf_counter_ns()
                with self.cond:
                    self.seen[frame.reasons] = now
                    self.cond.notify_all()

    def wait(self, reasons: int, timeout_s: float = 2.0) -> int:
        with self.cond:
            if not self.cond.wait_for(lambda: reasons in self.seen, timeout_s):
                raise TimeoutError(f"frame {reasons} never arrived")
            return self.seen.pop(reasons)

    def stop(self) -> None:
        self._stop = True
        self._thread.join(1)


def stats_ms(samples_ns: list[int]) -> str:
    s = sorted(samples_ns)
    p = lambda q: s[min(len(s) - 1, int(q * len(s)))] / 1e6  # noqa: E731
    return (
        f"n={len(s)} p50={p(0.50):.3f} ms p99={p(0.99):.3f} ms max={s[-1] / 1e6:.3f} ms "
        f"mean={statistics.fmean(s) / 1e6:.3f} ms"
    )


def bench_output(n: int) -> list[int]:
    master, slave = os.openpty()
    tty.setraw(slave)
    reader = Reader(master)
    cfg = SerialOutputConfig(port=os.ttyname(slave), baudrate=BAUD, connection_id=1)
    out = SerialOutput(cfg)
    out.start()
    lat: list[int] = []
    try:
        for i in range(n + 50):
            reasons = 1_000_000 + i
            t0 = time.perf_counter_ns()
            out.set_state(SafetyState.RUN, 1.0, reasons)
            t1 = reader.wait(reasons)
            if i >= 50:  # warm-up
                lat.append(t1 - t0)
            time.sleep(0.001)
    finally:
        out.close()
        reader.stop()
        os.close(master)
        os.close(slave)
    return lat


def bench_raw_write(n: int) -> list[int]:
    master, slave = os.openpty()
    tty.setraw(slave)
    reader = Reader(master)
    port = open_port(SerialOutputConfig(port=os.ttyname(slave), baudrate=BAUD))
    lat: list[int] = []
    try:
        for i in range(n + 50):
            t0 = time.perf_counter_ns()
            frame = SafetyFrame(
                connection_id=1,
                sequence=i,
                sender_time_ns=time.monotonic_ns(),
                state=SafetyState.RUN,
                speed_scale=1.0,
                reasons=i,
            )
            port.write(encode_packet(encode_frame(frame)))
            t1 = reader.wait(i)
            if i >= 50:
                lat.append(t1 - t0)
            time.sleep(0.001)
    finally:
        port.close()
        reader.stop()
        os.close(master)
        os.close(slave)
    return lat


def bench_firmware(n: int) -> tuple[float, float]:
    spec = importlib.util.spec_from_file_location("stop_relay", ROOT / "hw/firmware/stop_relay.py")
    assert spec is not None and spec.loader is not None
    fw = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fw)
    wires = [
        encode_packet(
            encode_frame(
                SafetyFrame(
                    connection_id=1,
                    sequence=i,
                    sender_time_ns=10**9 + i * 20_000_000,
                    state=SafetyState.RUN,
                    speed_scale=1.0,
                    reasons=0,
                )
            )
        )
        for i in range(n)
    ]
    logic = fw.RelayLogic(1)
    t0 = time.perf_counter_ns()
    for i, w in enumerate(wires):
        logic.feed(w, i * 20)
    per_frame_us = (time.perf_counter_ns() - t0) / n / 1e3
    assert logic.closed and logic.accepted == n
    body = bytes(range(1, 29))  # CRC cost does not depend on the values
    t0 = time.perf_counter_ns()
    for _ in range(n):
        fw.crc32(body, 28)
    crc_us = (time.perf_counter_ns() - t0) / n / 1e3
    return per_frame_us, crc_us


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=3000, help="frames per latency run (>= 2000)")
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]} on {platform.machine()}, {os.cpu_count()} cores")
    via_output = stats_ms(bench_output(args.frames))
    print(f"set_state() -> decoded  (SerialOutput over pty): {via_output}")
    raw = stats_ms(bench_raw_write(args.frames))
    print(f"write() -> decoded      (codec + pty only):      {raw}")
    fw_us, crc_us = bench_firmware(20_000)
    print(
        f"firmware RelayLogic.feed per 34-byte frame (CPython): {fw_us:.1f} us "
        f"(of which CRC-32 over 28 bytes: {crc_us:.1f} us)"
    )
    print(f"wire time at {BAUD} baud (not simulated by a pty): {34 * 10 / BAUD * 1e3:.2f} ms/frame")


if __name__ == "__main__":
    main()
