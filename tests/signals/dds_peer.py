"""A safety publisher process on a loopback DDS domain, driven line by line (DDS tests).

Usage: ``python dds_peer.py MODE DOMAIN CONNECTION_ID``; joins DOMAIN on loopback, waits
until a reader of ``rt/safetymon/safety_frame`` matched (else prints ``no reader`` and exits
1), prints ``ready`` and then answers every stdin line with ``ok`` (or ``error: ...``).

MODE ``output``: the real ``DdsOutput`` (heartbeat 50 Hz), plus a second, raw writer on the
frame topic for injected frames. Lines:

- ``STATE SCALE REASONS`` (``RUN 1.0 0``): the output's decision from now on, repeated every
  10 ms as the monitor's decision loop does (else the output's state timeout says STOP);
- ``corrupt``: one frame (next sequence, fresh time) with a byte flipped after the CRC;
- ``wrong-id``: one well-formed frame (next sequence, fresh time) of another connection id;
- ``quit``: close the output (STOP, SHUTDOWN) and exit 0.

MODE ``rosbags``: frames at 50 Hz whose ``std_msgs/msg/UInt8MultiArray`` CDR comes from
``rosbags`` (ROS 2's encoding, not ours), written unchanged through Cyclone DDS. Lines:
``STATE SCALE REASONS`` and ``quit`` as above.
"""

from __future__ import annotations

import sys
import threading
import time

from cyclonedds._clayer import ddspy_write
from cyclonedds.pub import DataWriter
from cyclonedds.topic import Topic

from safetymon.config.outputs import DdsOutputConfig
from safetymon.dds.domain import join_domain
from safetymon.dds.topics import dds_topic
from safetymon.signals.dds_output import DdsOutput, writer_qos
from safetymon.signals.dds_types import UInt8MultiArray_
from safetymon.signals.frame import SafetyFrame, SafetyState, encode_frame

MATCH_TIMEOUT_S = 30.0
TOPIC = DdsOutputConfig().frame_topic


def _wait_matched(writer: DataWriter) -> bool:
    deadline = time.monotonic() + MATCH_TIMEOUT_S
    while not writer.get_matched_subscriptions():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    time.sleep(0.1)  # the reader's side of discovery completes too
    return True


def _decision(line: str) -> tuple[SafetyState, float, int]:
    state, scale, reasons = line.split()
    return SafetyState[state], float(scale), int(reasons)


def run_output(domain: int, connection_id: int) -> int:
    """The real output plus a raw writer for injected frames."""
    config = DdsOutputConfig(domain_id=domain, connection_id=connection_id)
    output = DdsOutput(config)
    participant = join_domain(domain, loopback_only=True)
    topic = Topic(participant, dds_topic(TOPIC), UInt8MultiArray_)
    raw = DataWriter(participant, topic, qos=writer_qos(1))
    output.start()
    if not (_wait_matched(output._frame_writer) and _wait_matched(raw)):
        print("no reader", flush=True)
        return 1
    decision = [(SafetyState.STOP, 0.0, 0)]
    done = threading.Event()

    def decide() -> None:  # re-decide every 10 ms, as the monitor's loop does
        while not done.wait(0.01):
            output.set_state(*decision[0])

    thread = threading.Thread(target=decide, daemon=True)
    print("ready", flush=True)
    for line in sys.stdin:
        line = line.strip()
        if line == "quit":
            break
        if line in ("corrupt", "wrong-id"):
            state, scale, reasons = output.current()
            frame = SafetyFrame(
                connection_id=connection_id + (line == "wrong-id"),
                sequence=output._sequence,  # the sequence the live stream sends next
                sender_time_ns=time.monotonic_ns(),
                state=state, speed_scale=scale, reasons=reasons,
            )  # fmt: skip
            data = bytearray(encode_frame(frame))
            if line == "corrupt":
                data[20] ^= 0x01  # the speed scale, under the CRC
            raw.write(UInt8MultiArray_(data=bytes(data)))
        else:
            decision[0] = _decision(line)
            output.set_state(*decision[0])
            if not thread.is_alive():
                thread.start()
        print("ok", flush=True)
    done.set()
    if thread.is_alive():
        thread.join()
    output.close()
    return 0


def run_rosbags(domain: int, connection_id: int) -> int:
    """Frames serialised by rosbags, written as raw CDR at 50 Hz."""
    import numpy as np
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    t = store.types
    participant = join_domain(domain, loopback_only=True)
    writer = DataWriter(
        participant, Topic(participant, dds_topic(TOPIC), UInt8MultiArray_), qos=writer_qos(1)
    )
    decision = [(SafetyState.STOP, 0.0, 1)]
    done = threading.Event()

    def beat() -> None:
        sequence = 0
        while not done.wait(0.02):
            state, scale, reasons = decision[0]
            frame = SafetyFrame(
                connection_id=connection_id, sequence=sequence,
                sender_time_ns=time.monotonic_ns(), state=state, speed_scale=scale,
                reasons=reasons,
            )  # fmt: skip
            message = t["std_msgs/msg/UInt8MultiArray"](
                layout=t["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0),
                data=np.frombuffer(encode_frame(frame), dtype=np.uint8),
            )
            cdr = bytes(store.serialize_cdr(message, "std_msgs/msg/UInt8MultiArray"))
            cdr = cdr.ljust((len(cdr) + 3) & ~3, b"\0")  # DDS payloads are padded to 4 bytes
            if ddspy_write(writer._ref, cdr) < 0:
                print("error: write failed", flush=True)
            sequence += 1

    if not _wait_matched(writer):
        print("no reader", flush=True)
        return 1
    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    print("ready", flush=True)
    for line in sys.stdin:
        line = line.strip()
        if line == "quit":
            break
        decision[0] = _decision(line)
        print("ok", flush=True)
    done.set()
    thread.join()
    return 0


def main() -> int:
    """Run the peer in the MODE given."""
    mode, domain, connection_id = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if mode == "output":
        return run_output(domain, connection_id)
    if mode == "rosbags":
        return run_rosbags(domain, connection_id)
    print(f"error: unknown mode {mode!r}", flush=True)
    return 2


if __name__ == "__main__":
    sys.exit(main())
