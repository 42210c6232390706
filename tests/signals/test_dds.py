"""The ROS 2 (DDS) safety output and its receiver: ROS 2's CDR, two processes on loopback.

(a) our IDL types serialise byte for byte as ``rosbags`` (ROS 2's encoding) does; (b) a
publisher process (``dds_peer.py``: the real ``DdsOutput``) and the receiver
(``DdsSafetyClient``) in this process on a loopback domain: states arrive, a killed
publisher is a watchdog STOP, corrupt and wrong-id frames are rejected, two publishers hold
STOP, frames encoded by rosbags are accepted; (c) what goes on the wire decodes with
rosbags; (d) ``safetymon publish --dds`` / ``subscribe --dds`` as processes.

Needs ``cyclonedds`` (and ``rosbags`` for (a), (c) and one of (b)): skipped without them,
failed with ``SAFETYMON_REQUIRE_OPTIONAL=1`` (CI).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from safetymon.config.outputs import DdsOutputConfig
from safetymon.signals.frame import SafetyFrame, SafetyState, decode_frame, encode_frame
from safetymon.signals.reasons import Reason
from tests.signals.dds_helpers import REPO, Peer, needs_dds, random_domain, wait_for

CONN = 4242
WATCHDOG_S = 0.5
"""The receiver's watchdog in these tests (generous: 2 shared cores), seconds."""


def _frame(state: SafetyState, scale: float, reasons: int, sequence: int = 7) -> SafetyFrame:
    return SafetyFrame(
        connection_id=CONN, sequence=sequence, sender_time_ns=123_456_789_012,
        state=state, speed_scale=scale, reasons=reasons,
    )  # fmt: skip


def _typestore() -> Any:
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_HUMBLE)


# -- (a) our CDR is ROS 2's ------------------------------------------------------------------
def test_frame_message_cdr_is_rosbags_cdr_both_ways() -> None:
    needs_dds(rosbags=True)
    import numpy as np

    from safetymon.signals.dds_types import (
        MultiArrayDimension_,
        MultiArrayLayout_,
        UInt8MultiArray_,
    )

    store = _typestore()
    t = store.types
    frame = encode_frame(_frame(SafetyState.SLOW, 0.5, int(Reason.WARNING_ZONE)))
    for dims in ([], [("safetymon_frame", 32, 32)]):
        ours = UInt8MultiArray_(
            layout=MultiArrayLayout_(dim=[MultiArrayDimension_(*d) for d in dims]), data=frame
        )
        theirs = t["std_msgs/msg/UInt8MultiArray"](
            layout=t["std_msgs/msg/MultiArrayLayout"](
                dim=[t["std_msgs/msg/MultiArrayDimension"](label=a, size=b, stride=c)
                     for a, b, c in dims],
                data_offset=0,
            ),
            data=np.frombuffer(frame, dtype=np.uint8),
        )  # fmt: skip
        raw = bytes(store.serialize_cdr(theirs, "std_msgs/msg/UInt8MultiArray"))
        assert ours.serialize() == raw
        assert bytes(UInt8MultiArray_.deserialize(raw).data) == frame
        back = store.deserialize_cdr(ours.serialize(), "std_msgs/msg/UInt8MultiArray")
        assert back.data.tobytes() == frame
    assert UInt8MultiArray_.__idl_typename__ == "std_msgs::msg::dds_::UInt8MultiArray_"


def test_status_message_cdr_is_rosbags_cdr_both_ways() -> None:
    needs_dds(rosbags=True)
    from safetymon.signals.dds_output import status_message
    from safetymon.signals.dds_types import DiagnosticStatus_

    store = _typestore()
    t = store.types
    status = status_message(_frame(SafetyState.STOP, 0.0, 0b1010), "safetymon")
    theirs = t["diagnostic_msgs/msg/DiagnosticStatus"](
        level=2, name="safetymon", message=status.message,
        hardware_id=f"safetymon-{CONN}",
        values=[t["diagnostic_msgs/msg/KeyValue"](key=kv.key, value=kv.value)
                for kv in status.values],
    )  # fmt: skip
    raw = bytes(store.serialize_cdr(theirs, "diagnostic_msgs/msg/DiagnosticStatus"))
    assert status.serialize() == raw
    assert DiagnosticStatus_.deserialize(raw) == status
    back = store.deserialize_cdr(status.serialize(), "diagnostic_msgs/msg/DiagnosticStatus")
    assert (back.level, back.name, back.hardware_id) == (2, "safetymon", f"safetymon-{CONN}")
    assert back.level == t["diagnostic_msgs/msg/DiagnosticStatus"].ERROR
    assert DiagnosticStatus_.__idl_typename__ == "diagnostic_msgs::msg::dds_::DiagnosticStatus_"


def test_twist_cdr_is_rosbags_cdr() -> None:
    needs_dds(rosbags=True)
    from safetymon.dds.msgs import Twist_, Vector3_

    store = _typestore()
    t = store.types
    g = "geometry_msgs/msg/"
    theirs = t[g + "Twist"](
        linear=t[g + "Vector3"](x=0.5, y=-0.25, z=0.0),
        angular=t[g + "Vector3"](x=0.0, y=0.0, z=1.5),
    )
    ours = Twist_(linear=Vector3_(0.5, -0.25, 0.0), angular=Vector3_(0.0, 0.0, 1.5))
    assert ours.serialize() == bytes(store.serialize_cdr(theirs, g + "Twist"))
    assert Twist_.__idl_typename__ == "geometry_msgs::msg::dds_::Twist_"


def test_status_message_levels_and_values() -> None:
    needs_dds()
    from safetymon.signals.dds_output import status_message

    run = status_message(_frame(SafetyState.RUN, 1.0, 0), "cell-7")
    assert (run.level, run.name) == (0, "cell-7")
    assert run.message == "RUN at 1.000 of the programmed speed"
    slow = status_message(_frame(SafetyState.SLOW, 0.25, int(Reason.SEPARATION_WARNING)), "x")
    assert slow.level == 1
    assert slow.message == "SLOW at 0.250 of the programmed speed: SEPARATION_WARNING"
    stop = status_message(
        _frame(SafetyState.STOP, 0.0, int(Reason.SEPARATION | Reason.PROTECTIVE_ZONE)), "x"
    )
    assert stop.level == 2 and stop.message == "STOP: SEPARATION, PROTECTIVE_ZONE"
    values = {kv.key: kv.value for kv in stop.values}
    assert values == {
        "state": "STOP", "speed_scale": "0.00000", "reasons": "SEPARATION,PROTECTIVE_ZONE",
        "reason_mask": "0x0000000a", "sequence": "7", "connection_id": str(CONN),
        "sender_time_ns": "123456789012",
    }  # fmt: skip
    assert {kv.key: kv.value for kv in slow.values}["speed_scale"] == "0.25000"


# -- (b) two processes on a loopback domain --------------------------------------------------
class Receiver:
    """A ``DdsSafetyClient`` in this process that keeps every change it saw."""

    def __init__(self, domain: int, **options: Any) -> None:
        from safetymon.signals.dds_client import DdsSafetyClient

        self.changes: list[Any] = []
        self._lock = threading.Lock()
        self.client = DdsSafetyClient(
            CONN, domain_id=domain, watchdog_s=WATCHDOG_S, same_clock=True,
            on_change=self._changed, **options,
        ).start()  # fmt: skip

    def _changed(self, state: Any) -> None:
        with self._lock:
            self.changes.append(state)

    def seen(self, test: Any) -> bool:
        """Whether some change so far passes ``test``."""
        with self._lock:
            return any(test(change) for change in self.changes)

    def wait_state(self, state: SafetyState, timeout_s: float = 20.0) -> bool:
        """Wait until the permitted state (watchdog applied) is ``state``."""
        return wait_for(lambda: self.client.state is state, timeout_s)


@pytest.fixture
def domain() -> int:
    needs_dds()
    return random_domain()


def test_run_slow_stop_arrive_and_quit_sends_shutdown(domain: int) -> None:
    receiver = Receiver(domain)
    peer = Peer("output", domain, CONN)
    try:
        assert receiver.client.matched_publishers >= 1
        peer.send("RUN 1.0 0")
        assert receiver.wait_state(SafetyState.RUN)
        assert receiver.client.speed_scale == 1.0
        peer.send(f"SLOW 0.4 {int(Reason.WARNING_ZONE)}")
        assert receiver.wait_state(SafetyState.SLOW)
        assert receiver.client.speed_scale == pytest.approx(0.4, abs=1e-4)
        assert receiver.client.reasons == int(Reason.WARNING_ZONE)
        peer.send(f"STOP 0 {int(Reason.SEPARATION)}")
        assert receiver.wait_state(SafetyState.STOP)
        assert wait_for(lambda: receiver.client.status.cause == "frame", 5.0)
        assert receiver.client.reasons == int(Reason.SEPARATION)
        peer.send("RUN 1.0 0")
        assert receiver.wait_state(SafetyState.RUN)
        assert peer.quit() == 0
        assert receiver.wait_state(SafetyState.STOP)
        assert receiver.seen(
            lambda s: s.cause == "frame" and s.reasons & Reason.SHUTDOWN
        ), receiver.changes
        counters = receiver.client.counters
        assert counters["corruption"] == counters["addressing"] == counters["masquerade"] == 0
        assert receiver.client.two_publishers == 0
    finally:
        peer.end()
        receiver.client.close()
    assert receiver.client.status.cause == "closed"


def test_killed_publisher_is_a_watchdog_stop(domain: int) -> None:
    receiver = Receiver(domain)
    peer = Peer("output", domain, CONN)
    try:
        peer.send("SLOW 0.5 0")
        assert receiver.wait_state(SafetyState.SLOW)
        killed = time.monotonic()
        peer.kill()
        assert receiver.wait_state(SafetyState.STOP, 10.0)
        assert time.monotonic() - killed < WATCHDOG_S + 5.0
        status = receiver.client.status
        assert status.cause == "watchdog" and status.reasons & Reason.OUTPUT_FAULT
        time.sleep(0.3)
        assert receiver.client.state is SafetyState.STOP  # nothing brings RUN back
    finally:
        peer.end()
        receiver.client.close()


def test_corrupt_and_wrong_id_frames_are_rejected(domain: int) -> None:
    receiver = Receiver(domain)
    peer = Peer("output", domain, CONN)
    try:
        peer.send("RUN 1.0 0")
        assert receiver.wait_state(SafetyState.RUN)
        peer.send("corrupt")
        assert wait_for(lambda: receiver.seen(lambda s: s.cause == "rejected: corruption"), 20)
        assert receiver.client.counters["corruption"] == 1
        assert receiver.wait_state(SafetyState.RUN)  # the live stream goes on: RUN again
        peer.send("wrong-id")
        assert wait_for(lambda: receiver.seen(lambda s: s.cause == "rejected: addressing"), 20)
        assert receiver.client.counters["addressing"] == 1
        rejected = [s for s in receiver.changes if s.cause.startswith("rejected")]
        assert all(s.state is SafetyState.STOP and s.speed_scale == 0.0 for s in rejected)
        assert receiver.wait_state(SafetyState.RUN)
        assert receiver.client.two_publishers == 0  # one rejection is not a second stream
    finally:
        peer.end()
        receiver.client.close()


def test_two_publishers_hold_stop_until_one_is_gone(domain: int) -> None:
    from safetymon.signals.receiver import TWO_PUBLISHERS

    receiver = Receiver(domain)
    first = Peer("output", domain, CONN)
    second = None
    try:
        first.send("RUN 1.0 0")
        assert receiver.wait_state(SafetyState.RUN)
        second = Peer("output", domain, CONN)
        second.send("RUN 1.0 0")
        assert wait_for(lambda: receiver.client.status.cause == TWO_PUBLISHERS, 20.0)
        assert receiver.client.two_publishers >= 1
        latched = len(receiver.changes)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:  # both stay RUN: the receiver stays in STOP
            assert receiver.client.state is SafetyState.STOP
            time.sleep(0.01)
        assert not any(s.state is not SafetyState.STOP for s in receiver.changes[latched:])
        second.kill()
        assert receiver.wait_state(SafetyState.RUN, 20.0)  # never a lock-out
    finally:
        first.end()
        if second is not None:
            second.end()
        receiver.client.close()


def test_frames_encoded_by_rosbags_are_accepted(domain: int) -> None:
    needs_dds(rosbags=True)
    receiver = Receiver(domain)
    peer = Peer("rosbags", domain, CONN)
    try:
        peer.send(f"SLOW 0.3 {int(Reason.SEPARATION_WARNING)}")
        assert receiver.wait_state(SafetyState.SLOW)
        assert receiver.client.speed_scale == pytest.approx(0.3, abs=1e-4)
        peer.send("RUN 1.0 0")
        assert receiver.wait_state(SafetyState.RUN)
        assert receiver.client.counters["corruption"] == 0
    finally:
        peer.end()
        receiver.client.close()


# -- (c) the wire decodes with rosbags -------------------------------------------------------
def _raw_reader(participant: Any, ros_topic: str, kind: type) -> Any:
    from cyclonedds.sub import DataReader
    from cyclonedds.topic import Topic

    from safetymon.dds.topics import dds_topic
    from safetymon.signals.dds_client import reader_qos

    topic = Topic(participant, dds_topic(ros_topic), kind)
    return DataReader(participant, topic, qos=reader_qos(64))


def test_what_the_output_writes_decodes_with_rosbags(domain: int) -> None:
    """Raw CDR taken off the wire (not our decoder) → rosbags: ROS 2 nodes read it."""
    needs_dds(rosbags=True)
    from cyclonedds._clayer import ddspy_take
    from cyclonedds.core import InstanceState, SampleState, ViewState

    from safetymon.dds.domain import join_domain
    from safetymon.signals.dds_output import DdsOutput
    from safetymon.signals.dds_types import DiagnosticStatus_, UInt8MultiArray_

    config = DdsOutputConfig(domain_id=domain, connection_id=CONN, status_name="cell")
    participant = join_domain(domain, loopback_only=True)
    frames = _raw_reader(participant, config.frame_topic, UInt8MultiArray_)
    statuses = _raw_reader(participant, config.status_topic or "", DiagnosticStatus_)
    store = _typestore()
    mask = SampleState.Any | ViewState.Any | InstanceState.Any
    taken: dict[str, list[Any]] = {"frame": [], "status": []}
    with DdsOutput(config) as output:
        assert wait_for(lambda: output.matched_readers >= 1, 20.0)
        output.set_state(SafetyState.SLOW, 0.75, int(Reason.WARNING_ZONE))

        def got_slow() -> bool:
            for name, reader, kind in (("frame", frames, "std_msgs/msg/UInt8MultiArray"),
                                       ("status", statuses,
                                        "diagnostic_msgs/msg/DiagnosticStatus")):  # fmt: skip
                for raw, info in ddspy_take(reader._ref, mask, 64):
                    if info.valid_data:
                        taken[name].append(store.deserialize_cdr(raw, kind))
            return any(m.level == 1 for m in taken["status"]) and any(
                decode_frame(m.data.tobytes()).state is SafetyState.SLOW for m in taken["frame"]
            )

        assert wait_for(got_slow, 20.0)
    frame = next(decode_frame(m.data.tobytes()) for m in taken["frame"]
                 if decode_frame(m.data.tobytes()).state is SafetyState.SLOW)  # fmt: skip
    assert frame.connection_id == CONN and frame.reasons == int(Reason.WARNING_ZONE)
    assert all(len(m.data) == 32 and not m.layout.dim for m in taken["frame"])
    status = next(m for m in taken["status"] if m.level == 1)
    values = {kv.key: kv.value for kv in status.values}
    assert status.name == "cell" and values["state"] == "SLOW"
    assert values["speed_scale"] == "0.75000" and values["reasons"] == "WARNING_ZONE"
    assert values["connection_id"] == str(CONN)


def test_a_failed_write_is_a_fault_and_the_receiver_stops(domain: int) -> None:
    """A writer that fails (deleted under the output) is counted, flagged and logged; the
    heartbeat thread lives on; the receiver sees silence: watchdog STOP."""
    from safetymon.signals.dds_output import DdsOutput

    errors: list[BaseException] = []
    receiver = Receiver(domain)
    config = DdsOutputConfig(domain_id=domain, connection_id=CONN)
    output = DdsOutput(config, on_error=errors.append)
    output.start()
    try:
        output.set_state(SafetyState.RUN, 1.0, 0)
        assert receiver.wait_state(SafetyState.RUN)
        output._frame_writer.__del__()  # the DDS entity is gone: every write now fails
        assert wait_for(lambda: output.fault and output.errors >= 2, 10.0)
        assert errors and output.last_error is errors[-1]
        assert output._thread is not None and output._thread.is_alive()
        assert receiver.wait_state(SafetyState.STOP, 10.0)
        assert receiver.client.status.cause == "watchdog"
    finally:
        output.close()
        receiver.client.close()


# -- (d) the command line --------------------------------------------------------------------
def test_cli_publish_and_subscribe_over_dds(domain: int) -> None:
    cli = [sys.executable, "-m", "safetymon"]
    sub = subprocess.Popen(
        [*cli, "subscribe", "--dds", str(domain), "--connection-id", str(CONN), "--json",
         "--same-clock", "--watchdog-ms", "500", "--duration", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    pub = subprocess.Popen(
        [*cli, "publish", "--dds", str(domain), "--connection-id", str(CONN), "--state", "SLOW",
         "--speed-scale", "0.6", "--duration", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    records: list[dict[str, Any]] = []
    stderr: dict[int, str] = {}
    try:
        assert sub.stdout is not None
        for line in sub.stdout:
            records.append(json.loads(line))
            if records[-1].get("state") == "SLOW" and records[-1]["event"] == "change":
                break
        change = records[-1]
        assert change["speed_scale"] == pytest.approx(0.6, abs=1e-4)
        assert change["cause"] == "frame"
        pub.terminate()  # SIGTERM: the publisher closes, sending STOP (SHUTDOWN)
        for line in sub.stdout:
            records.append(json.loads(line))
            if records[-1]["event"] == "change" and records[-1]["state"] == "STOP":
                break
        assert records[-1]["cause"] == "frame" and "SHUTDOWN" in records[-1]["reason_names"]
        assert pub.wait(20) == 0
        assert "sent STOP" in (pub.stdout.read() if pub.stdout else "")
    finally:
        for proc in (pub, sub):
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
            stderr[proc.pid] = proc.stderr.read() if proc.stderr else ""
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
    assert "DDS is unauthenticated" in stderr[sub.pid]
