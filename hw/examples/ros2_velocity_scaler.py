"""A ROS 2 velocity-scaling node without a ROS install: cmd_vel × safetymon's speed scale.

Run:  python hw/examples/ros2_velocity_scaler.py --domain 0 --connection-id 1
      [--in /cmd_vel_raw] [--out /cmd_vel] [--frame-topic /safetymon/safety_frame]
      [--network] [--watchdog-ms 100] [--same-clock] [--rate 50] [--input-timeout 0.5]
      [--duration S]

Joins the DDS domain with Cyclone DDS (the ``cyclonedds`` package; loopback only unless
``--network``) and, with ROS 2's DDS names, so that ROS 2 nodes on the domain talk to it:

- reads the safety frames (``std_msgs/msg/UInt8MultiArray`` on ``--frame-topic``) with
  safetymon's real receiver (``DdsSafetyClient``: CRC, connection id, sequence, sender clock,
  age, two-publisher rule, watchdog: hw/PROTOCOL.md, "Receiver rules");
- reads the planner's velocity commands (``geometry_msgs/msg/Twist`` on ``--in``, m/s and
  rad/s) and writes each one on ``--out`` multiplied by the permitted speed scale: RUN and
  SLOW give ``speed_scale`` (0..1), STOP -- a STOP frame, a rejected frame, the watchdog on
  silence, start-up -- gives 0;
- writes a zero Twist at once when the permitted state becomes STOP, and every
  ``1 / --rate`` seconds while it is STOP or the newest command is older than
  ``--input-timeout`` (a planner that went quiet is not replayed).

Scaling both the linear and the angular velocity keeps the path (a curve stays the same
curve, driven slower). This node is the monitoring layer's speed override, not the robot's
rated safety function: keep the robot's own protective stop and its rated watchdog.
Prints one line per change of the permitted state to stderr; exits 0 after ``--duration``
or on SIGINT/SIGTERM (writing a zero Twist last).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

from cyclonedds.core import InstanceState, ReadCondition, SampleState, ViewState, WaitSet
from cyclonedds.pub import DataWriter
from cyclonedds.qos import Policy, Qos
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration

from safetymon.dds.domain import join_domain
from safetymon.dds.msgs import Twist_, Vector3_
from safetymon.dds.topics import dds_topic
from safetymon.signals.dds_client import DEFAULT_FRAME_TOPIC, DdsSafetyClient
from safetymon.signals.frame import SafetyState
from safetymon.signals.reasons import Reason
from safetymon.signals.receiver import PermittedState

ZERO = Twist_()
"""Standstill."""


def scaled(twist: Twist_, factor: float) -> Twist_:
    """``twist`` with linear (m/s) and angular (rad/s) velocity multiplied by ``factor``."""
    lin, ang = twist.linear, twist.angular
    return Twist_(
        linear=Vector3_(x=lin.x * factor, y=lin.y * factor, z=lin.z * factor),
        angular=Vector3_(x=ang.x * factor, y=ang.y * factor, z=ang.z * factor),
    )


def permitted_factor(status: PermittedState) -> float:
    """The speed factor a permitted state allows: its speed scale for RUN/SLOW, else 0."""
    if status.state in (SafetyState.RUN, SafetyState.SLOW):
        return min(1.0, max(0.0, status.speed_scale))
    return 0.0


class VelocityScaler:
    """Scale Twists from ``in_topic`` onto ``out_topic`` by the permitted speed scale.

    Args:
        client: the safety receiver (started by :meth:`run`).
        in_topic: ROS 2 topic of the commands to scale.
        out_topic: ROS 2 topic of the scaled commands.
        rate_hz: how often zero is re-sent while STOP or the input is stale, hertz.
        input_timeout_s: a command older than this is not scaled any more, seconds.
    """

    def __init__(
        self,
        client: DdsSafetyClient,
        in_topic: str,
        out_topic: str,
        rate_hz: float = 50.0,
        input_timeout_s: float = 0.5,
    ) -> None:
        """Create the Twist reader and writer on the client's domain."""
        self.client = client
        self.rate_hz = rate_hz
        self.input_timeout_s = input_timeout_s
        self._lock = threading.Lock()
        self._last_input_s = -1e9
        participant = join_domain(client.domain_id, client.loopback_only)
        qos = Qos(
            Policy.Reliability.Reliable(max_blocking_time=duration(milliseconds=10)),
            Policy.History.KeepLast(1),
            Policy.Durability.Volatile,
            Policy.DataRepresentation(use_cdrv0_representation=True),
        )
        self._participant = participant
        in_ = Topic(participant, dds_topic(in_topic), Twist_)
        out = Topic(participant, dds_topic(out_topic), Twist_)
        self._reader = DataReader(participant, in_, qos=qos)
        self._writer = DataWriter(participant, out, qos=qos)
        self._waitset = WaitSet(participant)
        mask = SampleState.Any | ViewState.Any | InstanceState.Any
        self._waitset.attach(ReadCondition(self._reader, mask))
        self.forwarded = 0
        client.on_change = self._on_change

    def _on_change(self, status: PermittedState) -> None:
        names = ",".join(Reason(status.reasons).names) or "-"
        print(f"{status.state.name} speed_scale={status.speed_scale:.3f} reasons={names} "
              f"({status.cause})", file=sys.stderr, flush=True)  # fmt: skip
        if status.state is SafetyState.STOP:
            self._write(ZERO)  # at once, not at the next command

    def _write(self, twist: Twist_) -> None:
        with self._lock:
            self._writer.write(twist)

    def run(self, stop: threading.Event, until_s: float) -> None:
        """Scale commands until ``stop`` is set or monotonic ``until_s``; zero last."""
        period = 1.0 / self.rate_hz
        next_zero = time.monotonic()
        while not stop.is_set() and time.monotonic() < until_s:
            self._waitset.wait(duration(seconds=min(period, 0.02)))
            for sample in self._reader.take(N=64):
                if not getattr(sample.sample_info, "valid_data", False):
                    continue
                self._last_input_s = time.monotonic()
                # the watchdog is applied on this read: a silent monitor gives 0 here
                self._write(scaled(sample, permitted_factor(self.client.status)))
                self.forwarded += 1
            now = time.monotonic()
            idle = self.client.state is SafetyState.STOP or (
                now - self._last_input_s > self.input_timeout_s
            )
            if idle and now >= next_zero:
                self._write(ZERO)
                next_zero = now + period
        self._write(ZERO)


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the node, write zero on the way out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", type=int, default=0, help="DDS domain id (ROS_DOMAIN_ID)")
    parser.add_argument("--connection-id", type=int, default=1)
    parser.add_argument("--frame-topic", default=DEFAULT_FRAME_TOPIC)
    parser.add_argument("--in", dest="in_topic", default="/cmd_vel_raw")
    parser.add_argument("--out", dest="out_topic", default="/cmd_vel")
    parser.add_argument("--network", action="store_true", help="not loopback only")
    parser.add_argument("--watchdog-ms", type=float, default=100.0)
    parser.add_argument(
        "--same-clock", action="store_true", help="the monitor runs on this host: exact ages"
    )
    parser.add_argument("--rate", type=float, default=50.0, help="zero re-send rate, Hz")
    parser.add_argument("--input-timeout", type=float, default=0.5, help="seconds")
    parser.add_argument("--duration", type=float, default=float("inf"), help="seconds")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    client = DdsSafetyClient(
        args.connection_id, domain_id=args.domain, loopback_only=not args.network,
        frame_topic=args.frame_topic, watchdog_s=args.watchdog_ms / 1000,
        same_clock=args.same_clock,
    )  # fmt: skip
    node = VelocityScaler(client, args.in_topic, args.out_topic, args.rate, args.input_timeout)
    with client:
        print(f"scaling {args.in_topic} -> {args.out_topic} by {client.endpoint}",
              file=sys.stderr, flush=True)  # fmt: skip
        node.run(stop, time.monotonic() + args.duration)
    print(f"forwarded {node.forwarded} commands", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
