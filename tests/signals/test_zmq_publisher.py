"""ZeroMQ publisher: heartbeat, publish on change, STOP on close, CURVE from key files."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq
from pydantic import ValidationError

from safetymon.config.outputs import ZmqOutputConfig
from safetymon.signals.client import SafetyClient
from safetymon.signals.frame import SafetyFrame, SafetyState, decode_frame
from safetymon.signals.keys import KeyFileError, generate_keypair, load_keypair, load_public_key
from safetymon.signals.reasons import Reason
from safetymon.signals.zmq_publisher import ZmqPublisher


@pytest.fixture
def sub() -> Iterator[zmq.Socket]:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.setsockopt(zmq.RCVTIMEO, 5000)
    yield sock
    ctx.destroy(linger=0)


def recv(sock: zmq.Socket) -> SafetyFrame:
    return decode_frame(sock.recv())


def test_heartbeat_rate_sequence_and_startup_stop(sub: zmq.Socket, tmp_path: Path) -> None:
    cfg = ZmqOutputConfig(endpoint=f"ipc://{tmp_path}/p.ipc", connection_id=11, heartbeat_hz=100)
    with ZmqPublisher(cfg):
        sub.connect(cfg.endpoint)
        f0 = recv(sub)
        assert f0.state is SafetyState.STOP and f0.reasons == Reason.STARTUP
        assert f0.connection_id == 11
        frames = [recv(sub) for _ in range(50)]
    seqs = [f0.sequence] + [f.sequence for f in frames]
    assert seqs == list(range(seqs[0], seqs[0] + 51))
    times = [f.sender_time_ns for f in [f0, *frames]]
    assert all(b > a for a, b in itertools.pairwise(times))
    rate = 50 / ((times[-1] - times[0]) / 1e9)
    assert 60 <= rate <= 110  # 100 Hz nominal, loose for a noisy machine


def test_publish_on_change_is_immediate(sub: zmq.Socket) -> None:
    cfg = ZmqOutputConfig(endpoint="tcp://127.0.0.1:0", connection_id=1, heartbeat_hz=1)
    with ZmqPublisher(cfg) as pub:
        sub.connect(pub.endpoint)
        time.sleep(0.2)  # subscription propagates
        sent = pub.publish(SafetyState.SLOW, 0.5, Reason.WARNING_ZONE)
        assert sent is not None
        t0 = time.monotonic()
        frame = recv(sub)
        assert time.monotonic() - t0 < 0.5  # not waiting for the 1 s heartbeat
        assert frame == sent
        assert pub.publish(SafetyState.SLOW, 0.5, Reason.WARNING_ZONE) is None  # no change


def test_publish_normalises_input(sub: zmq.Socket) -> None:
    cfg = ZmqOutputConfig(endpoint="tcp://127.0.0.1:0", connection_id=1)
    with ZmqPublisher(cfg) as pub:
        f = pub.publish(SafetyState.STOP, 0.7, Reason.SEPARATION)
        assert f is not None and f.speed_scale == 0.0
        f = pub.publish(SafetyState.RUN, 3.0, 0)
        assert f is not None and f.speed_scale == 1.0
        f = pub.publish(SafetyState.SLOW, float("nan"), 0)
        assert f is not None and f.speed_scale == 0.0
        with pytest.raises(ValueError, match="u32"):
            pub.publish(SafetyState.RUN, 1.0, 1 << 32)
        with pytest.raises(ValueError):
            pub.publish(7, 1.0, 0)  # type: ignore[arg-type]


def test_close_sends_stop_repeatedly_even_on_exception(sub: zmq.Socket) -> None:
    cfg = ZmqOutputConfig(endpoint="tcp://127.0.0.1:0", connection_id=1, heartbeat_hz=1)
    with pytest.raises(RuntimeError, match="boom"), ZmqPublisher(cfg) as pub:
        sub.connect(pub.endpoint)
        time.sleep(0.2)
        pub.publish(SafetyState.RUN, 1.0, 0)
        assert recv(sub).state is SafetyState.RUN
        raise RuntimeError("boom")
    stops = [recv(sub) for _ in range(3)]
    assert all(f.state is SafetyState.STOP and f.reasons == Reason.SHUTDOWN for f in stops)
    with pytest.raises(RuntimeError, match="closed"):
        pub.publish(SafetyState.RUN, 1.0, 0)
    pub.close()  # idempotent


def test_stale_decision_turns_heartbeat_into_stop(sub: zmq.Socket) -> None:
    """A hung decision loop must not leave the heartbeat repeating RUN."""
    cfg = ZmqOutputConfig(
        endpoint="tcp://127.0.0.1:0", connection_id=1, heartbeat_hz=100, state_timeout_s=0.3
    )
    with ZmqPublisher(cfg) as pub:
        sub.connect(pub.endpoint)
        time.sleep(0.2)
        pub.publish(SafetyState.RUN, 1.0, 0)
        t0 = time.monotonic()
        frame = recv(sub)
        while frame.state is not SafetyState.RUN:  # skip start-up STOP heartbeats
            frame = recv(sub)
        while frame.state is SafetyState.RUN:
            frame = recv(sub)
        waited = time.monotonic() - t0
        assert frame.reasons == Reason.LOOP_OVERRUN
        assert 0.25 <= waited < 1.5
        assert pub.publish(SafetyState.RUN, 1.0, 0) is not None  # a fresh decision resumes


def test_bind_failure_names_endpoint() -> None:
    cfg = ZmqOutputConfig(endpoint="tcp://127.0.0.1:0", connection_id=1)
    with ZmqPublisher(cfg) as pub:
        taken = ZmqOutputConfig(endpoint=pub.endpoint, connection_id=1)
        with pytest.raises(OSError, match="cannot bind"):
            ZmqPublisher(taken)


def test_config_validation() -> None:
    with pytest.raises(ValidationError):
        ZmqOutputConfig(endpoint="udp://x:1")
    with pytest.raises(ValidationError):
        ZmqOutputConfig(heartbeat_hz=0)
    with pytest.raises(ValidationError):
        ZmqOutputConfig(connection_id=2**32)
    with pytest.raises(ValidationError):
        ZmqOutputConfig(unknown=1)  # type: ignore[call-arg]


def test_curve_from_key_files(tmp_path: Path) -> None:
    public_file, secret_file = generate_keypair(tmp_path / "keys", "monitor")
    assert secret_file.stat().st_mode & 0o077 == 0
    cfg = ZmqOutputConfig(
        endpoint="tcp://127.0.0.1:0",
        connection_id=5,
        curve_secret_key_file=str(secret_file),
        state_timeout_s=60,
    )
    with ZmqPublisher(cfg) as pub:
        pub.publish(SafetyState.RUN, 1.0, 0)
        server_key = load_public_key(public_file)
        with SafetyClient(pub.endpoint, 5, curve_server_key=server_key, same_clock=True) as c:
            assert c.wait_for(SafetyState.RUN, 5.0)
    with pytest.raises(KeyFileError, match="no secret key"):
        load_keypair(public_file)
    with pytest.raises(KeyFileError, match="not found"):
        load_public_key(tmp_path / "missing.key")
    (tmp_path / "junk.key").write_text("nothing here\n")
    with pytest.raises(KeyFileError, match="not a CURVE certificate"):
        load_public_key(tmp_path / "junk.key")
