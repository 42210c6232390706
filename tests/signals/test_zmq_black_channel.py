"""Each IEC 61784-3 error injected on a real ZeroMQ socket: the client counts it and never
grants RUN from it.

A raw PUB socket (the "wire") sends crafted frames to a :class:`SafetyClient` on loopback.
The client shares this host's monotonic clock (``same_clock=True``), so ages are exact.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import zmq

from safetymon.config.outputs import ZmqOutputConfig
from safetymon.signals.client import PermittedState, SafetyClient
from safetymon.signals.frame import SafetyFrame, SafetyState, encode_frame
from safetymon.signals.zmq_publisher import ZmqPublisher

CONN = 42
WATCHDOG_S = 0.5  # generous: this is about detection, not timing (see test_client_failsafe)
MAX_DELAY_S = 0.1
WAIT_S = 5.0


class Wire:
    """A raw PUB socket that sends hand-made frames with its own sequence and clock."""

    def __init__(self, ctx: zmq.Context) -> None:
        self.sock = ctx.socket(zmq.PUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind("tcp://127.0.0.1:*")
        self.endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self.seq = 100
        self.last: bytes = b""

    def frame(
        self,
        state: SafetyState = SafetyState.RUN,
        *,
        seq: int | None = None,
        t_ns: int | None = None,
        conn: int = CONN,
    ) -> bytes:
        """Encode a frame; by default the next sequence number and the current time."""
        if seq is None:
            seq, self.seq = self.seq, self.seq + 1
        return encode_frame(
            SafetyFrame(
                connection_id=conn,
                sequence=seq,
                sender_time_ns=time.monotonic_ns() if t_ns is None else t_ns,
                state=state,
                speed_scale=0.0 if state is SafetyState.STOP else 1.0,
            )
        )

    def send(self, data: bytes | list[bytes]) -> None:
        if isinstance(data, list):
            self.sock.send_multipart(data)
        else:
            self.sock.send(data)
            self.last = data


def wait_until(predicate, timeout_s: float = WAIT_S) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.002)
    return bool(predicate())


@pytest.fixture
def ctx() -> Iterator[zmq.Context]:
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


@pytest.fixture
def link(ctx: zmq.Context) -> Iterator[tuple[Wire, SafetyClient, list[PermittedState]]]:
    """A connected wire and client; the client has accepted valid STOP frames."""
    wire = Wire(ctx)
    changes: list[PermittedState] = []
    client = SafetyClient(
        wire.endpoint,
        CONN,
        watchdog_s=WATCHDOG_S,
        max_delay_s=MAX_DELAY_S,
        same_clock=True,
        on_change=changes.append,
    ).start()
    # Slow joiner: send STOP until the subscription has arrived and frames get through.
    assert wait_until(lambda: client.accepted > 0 or wire.send(wire.frame(SafetyState.STOP)))
    # Settle: the client has seen the newest frame (none still in flight).
    wire.send(wire.frame(SafetyState.STOP))
    assert wait_until(lambda: client.status.sequence == wire.seq - 1)
    yield wire, client, changes
    client.close()


def inject_and_check(
    wire: Wire, client: SafetyClient, changes: list[PermittedState], kind: str, data: bytes
) -> None:
    """From a valid STOP, send an erroneous RUN frame: counted, STOP kept, RUN never granted."""
    before = client.counters[kind]
    wire.send(data)
    assert wait_until(lambda: client.counters[kind] > before), client.last_error
    assert client.state is SafetyState.STOP
    assert all(c.state is not SafetyState.RUN for c in changes)
    assert kind in client.last_error


def run_then_reject(wire: Wire, client: SafetyClient, kind: str, make: Callable[[], bytes]) -> None:
    """From RUN, an erroneous frame (made after the RUN frame) stops the client at once."""
    wire.send(wire.frame(SafetyState.RUN))
    assert client.wait_for(SafetyState.RUN, WAIT_S)
    before = client.counters[kind]
    data = make()
    t0 = time.monotonic()
    wire.send(data)
    assert wait_until(lambda: client.counters[kind] > before)
    assert client.state is SafetyState.STOP
    assert client.status.cause == f"rejected: {kind}"
    assert time.monotonic() - t0 < WAIT_S


def test_corruption_detected(link: tuple[Wire, SafetyClient, list[PermittedState]]) -> None:
    wire, client, changes = link
    bad = bytearray(wire.frame(SafetyState.RUN))
    bad[3] ^= 0x01  # RUN (2) -> unknown state 3, CRC no longer matches
    inject_and_check(wire, client, changes, "corruption", bytes(bad))
    inject_and_check(wire, client, changes, "corruption", wire.frame(SafetyState.RUN)[:31])
    before = client.counters["corruption"]
    wire.send([wire.frame(SafetyState.RUN), b"extra"])  # two-part message
    assert wait_until(lambda: client.counters["corruption"] > before)
    assert client.state is SafetyState.STOP
    run_then_reject(wire, client, "corruption", lambda: wire.frame(SafetyState.RUN)[:-1] + b"\0")


def test_repetition_detected(link: tuple[Wire, SafetyClient, list[PermittedState]]) -> None:
    wire, client, changes = link
    wire.send(wire.frame(SafetyState.STOP))
    inject_and_check(wire, client, changes, "unintended_repetition", wire.frame(seq=wire.seq - 1))
    # From RUN, an exact copy of the last frame stops the client.
    wire.send(wire.frame(SafetyState.RUN))
    assert client.wait_for(SafetyState.RUN, WAIT_S)
    wire.send(wire.last)
    assert wait_until(lambda: client.counters["unintended_repetition"] == 2)
    assert client.state is SafetyState.STOP
    assert client.status.cause == "rejected: unintended_repetition"


def test_incorrect_sequence_detected(link: tuple[Wire, SafetyClient, list[PermittedState]]) -> None:
    wire, client, changes = link
    inject_and_check(wire, client, changes, "incorrect_sequence", wire.frame(seq=wire.seq - 2))
    run_then_reject(wire, client, "incorrect_sequence", lambda: wire.frame(seq=wire.seq - 3))


def test_loss_counted_and_watchdog_stops(
    link: tuple[Wire, SafetyClient, list[PermittedState]],
) -> None:
    wire, client, _ = link
    wire.send(wire.frame(SafetyState.RUN))
    assert client.wait_for(SafetyState.RUN, WAIT_S)
    wire.seq += 4  # four frames "lost" on the wire
    wire.send(wire.frame(SafetyState.RUN))
    assert wait_until(lambda: client.counters["loss"] == 4)
    assert client.state is SafetyState.RUN  # a valid frame after a gap is accepted
    # Then total loss: silence. The watchdog must stop the client.
    t0 = time.monotonic()
    assert client.wait_for(SafetyState.STOP, WATCHDOG_S + 2.0)
    assert time.monotonic() - t0 >= WATCHDOG_S * 0.8
    assert client.status.cause == "watchdog"


def test_delay_detected(link: tuple[Wire, SafetyClient, list[PermittedState]]) -> None:
    wire, client, changes = link

    def delayed() -> bytes:
        data = wire.frame(SafetyState.RUN)  # the next frame, stamped now...
        time.sleep(3 * MAX_DELAY_S)  # ...held back on the wire (less than the watchdog)
        return data

    inject_and_check(wire, client, changes, "unacceptable_delay", delayed())
    run_then_reject(wire, client, "unacceptable_delay", delayed)


def test_insertion_detected(link: tuple[Wire, SafetyClient, list[PermittedState]]) -> None:
    wire, client, changes = link
    inject_and_check(wire, client, changes, "insertion", wire.frame(seq=wire.seq + 10_000))
    run_then_reject(wire, client, "insertion", lambda: wire.frame(seq=wire.seq + 1_000_000))


def test_masquerade_detected(link: tuple[Wire, SafetyClient, list[PermittedState]]) -> None:
    wire, client, changes = link
    # A second sender with our connection id and the right next sequence, but its own clock.
    wire.send(wire.frame(SafetyState.STOP))
    other_clock = time.monotonic_ns() - 10**9
    inject_and_check(
        wire, client, changes, "masquerade", wire.frame(seq=wire.seq, t_ns=other_clock)
    )
    run_then_reject(wire, client, "masquerade", lambda: wire.frame(seq=wire.seq, t_ns=other_clock))


def test_addressing_detected(link: tuple[Wire, SafetyClient, list[PermittedState]]) -> None:
    wire, client, changes = link
    inject_and_check(wire, client, changes, "addressing", wire.frame(conn=CONN + 1))
    run_then_reject(wire, client, "addressing", lambda: wire.frame(conn=0))


def test_curve_wrong_server_key_never_runs() -> None:
    server = zmq.curve_keypair()
    impostor_key = zmq.curve_keypair()[0]
    cfg = ZmqOutputConfig(
        endpoint="tcp://127.0.0.1:0", connection_id=CONN, heartbeat_hz=100, state_timeout_s=60
    )
    with ZmqPublisher(cfg, curve_keys=server) as pub:
        pub.publish(SafetyState.RUN, 1.0)
        good = SafetyClient(pub.endpoint, CONN, curve_server_key=server[0], same_clock=True)
        bad = SafetyClient(pub.endpoint, CONN, curve_server_key=impostor_key, same_clock=True)
        with good, bad:
            assert good.wait_for(SafetyState.RUN, WAIT_S)
            assert wait_until(lambda: bad.counters["masquerade"] > 0), bad.last_error
            assert bad.received == 0 and bad.state is SafetyState.STOP
    # Plain (non-CURVE) subscribers get nothing from a CURVE publisher either.
    with ZmqPublisher(cfg, curve_keys=server) as pub:
        pub.publish(SafetyState.RUN, 1.0)
        with SafetyClient(pub.endpoint, CONN) as plain:
            assert not plain.wait_for(SafetyState.RUN, 0.5)
            assert plain.received == 0
