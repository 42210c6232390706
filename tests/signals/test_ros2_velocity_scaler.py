"""``hw/examples/ros2_velocity_scaler.py`` end to end: three processes on a loopback domain.

The scaler runs as a subprocess; the safety publisher is ``dds_peer.py`` (the real
``DdsOutput``) in another; this process writes ``geometry_msgs/Twist`` commands and reads
the scaled ones: × 1 on RUN, × speed scale on SLOW, zero on STOP and on the publisher's
silence (SIGKILL: the receiver's watchdog).
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.signals.dds_helpers import REPO, Peer, needs_dds, random_domain

CONN = 77
SCALER = REPO / "hw" / "examples" / "ros2_velocity_scaler.py"
IN_TOPIC, OUT_TOPIC = "/test/cmd_vel_raw", "/test/cmd_vel"
COMMAND = ((0.8, -0.2, 0.0), (0.0, 0.0, 1.2))
"""The Twist written: linear (m/s), angular (rad/s)."""


class TwistLink:
    """A Twist writer on the scaler's input and a reader of its output, in this process."""

    def __init__(self, domain: int) -> None:
        from cyclonedds.pub import DataWriter
        from cyclonedds.qos import Policy, Qos
        from cyclonedds.sub import DataReader
        from cyclonedds.topic import Topic

        from safetymon.dds.domain import join_domain
        from safetymon.dds.msgs import Twist_, Vector3_
        from safetymon.dds.topics import dds_topic

        participant = join_domain(domain, loopback_only=True)
        qos = Qos(Policy.Reliability.Reliable(max_blocking_time=10_000_000),
                  Policy.History.KeepLast(64), Policy.Durability.Volatile)  # fmt: skip
        self.writer = DataWriter(participant, Topic(participant, dds_topic(IN_TOPIC), Twist_),
                                 qos=qos)  # fmt: skip
        self.reader = DataReader(participant, Topic(participant, dds_topic(OUT_TOPIC), Twist_),
                                 qos=qos)  # fmt: skip
        (lx, ly, lz), (ax, ay, az) = COMMAND
        self.command = Twist_(linear=Vector3_(lx, ly, lz), angular=Vector3_(ax, ay, az))

    def outputs_until(self, test: Callable[[tuple[float, ...]], bool], timeout_s: float) -> list:
        """Write the command every 20 ms and read outputs until one passes ``test``; all
        outputs read (as 6-tuples), ending with that one ([] on timeout)."""
        seen: list[tuple[float, ...]] = []
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            self.writer.write(self.command)
            time.sleep(0.02)
            for s in self.reader.take(N=256):
                if getattr(s.sample_info, "valid_data", False):
                    seen.append((s.linear.x, s.linear.y, s.linear.z,
                                 s.angular.x, s.angular.y, s.angular.z))  # fmt: skip
                    if test(seen[-1]):
                        return seen
        return []


def _scaled(factor: float) -> tuple[float, ...]:
    return tuple(v * factor for part in COMMAND for v in part)


def _is(expected: tuple[float, ...]) -> Callable[[tuple[float, ...]], bool]:
    def test(got: tuple[float, ...]) -> bool:
        return all(math.isclose(a, b, abs_tol=1e-9) for a, b in zip(got, expected, strict=True))

    return test


def test_the_velocity_scaler_scales_and_stops(tmp_path: Any) -> None:
    needs_dds()
    domain = random_domain()
    link = TwistLink(domain)
    log = open(tmp_path / "scaler.log", "w+")  # noqa: SIM115 (the child's stderr)
    scaler = subprocess.Popen(
        [sys.executable, str(SCALER), "--domain", str(domain), "--connection-id", str(CONN),
         "--in", IN_TOPIC, "--out", OUT_TOPIC, "--watchdog-ms", "500", "--same-clock",
         "--duration", "120"],
        stdout=subprocess.DEVNULL, stderr=log, cwd=REPO,
    )  # fmt: skip
    peer = None
    try:
        # start-up: STOP, so the command comes out as zero
        assert link.outputs_until(_is(_scaled(0.0)), 60.0), "no zero Twist at start-up"
        peer = Peer("output", domain, CONN)
        peer.send("RUN 1.0 0")
        assert link.outputs_until(_is(_scaled(1.0)), 20.0), "RUN did not pass the command"
        peer.send("SLOW 0.25 4")
        quantised = round(0.25 * 65535) / 65535  # the frame's 1/65535 grid
        assert link.outputs_until(_is(_scaled(quantised)), 20.0), "SLOW did not scale"
        peer.send("STOP 0 2")
        assert link.outputs_until(_is(_scaled(0.0)), 20.0), "STOP did not give zero"
        link.outputs_until(lambda got: False, 0.1)  # a command scaled just before the change
        held = link.outputs_until(any, 0.5)
        assert held == [], f"non-zero output during STOP: {held[-1:]}"
        peer.send("RUN 1.0 0")
        assert link.outputs_until(_is(_scaled(1.0)), 20.0)
        peer.kill()  # silence: the scaler's watchdog gives zero
        assert link.outputs_until(_is(_scaled(0.0)), 20.0), "silence did not give zero"
        link.outputs_until(lambda got: False, 0.1)
        held = link.outputs_until(any, 1.0)
        assert held == [], f"non-zero output after the watchdog: {held[-1:]}"
    finally:
        if peer is not None:
            peer.end()
        scaler.terminate()
        try:
            code = scaler.wait(20)
        except subprocess.TimeoutExpired:
            scaler.kill()
            code = scaler.wait(10)
        log.seek(0)
        text = log.read()
        log.close()
    assert code == 0, text
    assert "STOP" in text and "RUN speed_scale=1.000" in text and "(watchdog)" in text


@pytest.mark.parametrize("state, scale, factor", [("RUN", 0.7, 0.7), ("SLOW", 0.3, 0.3),
                                                  ("STOP", 0.9, 0.0)])  # fmt: skip
def test_permitted_factor(state: str, scale: float, factor: float) -> None:
    needs_dds()
    sys.path.insert(0, str(SCALER.parent))
    try:
        import ros2_velocity_scaler as node
    finally:
        sys.path.remove(str(SCALER.parent))
    from safetymon.signals.frame import SafetyState
    from safetymon.signals.receiver import PermittedState

    status = PermittedState(SafetyState[state], scale, 0, "frame", 1, 0)
    assert node.permitted_factor(status) == factor
    doubled = node.scaled(node.Twist_(linear=node.Vector3_(1.0, 2.0, 3.0)), 2.0)
    assert (doubled.linear.x, doubled.linear.y, doubled.linear.z) == (2.0, 4.0, 6.0)
