"""The monitor's signal outputs, received by the real controller client over ZeroMQ."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from safetymon.config.outputs import OutputsConfig, SerialOutputConfig, ZmqOutputConfig
from safetymon.monitor.outputs import SignalOutputs
from safetymon.signals.client import SafetyClient
from safetymon.signals.frame import SafetyState
from safetymon.signals.reasons import Reason


def test_zmq_output_reaches_the_client_and_close_sends_stop(tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/safety.sock"
    config = OutputsConfig(zmq=ZmqOutputConfig(endpoint=endpoint, connection_id=5))
    outputs = SignalOutputs.open(config)
    try:
        assert outputs.zmq_endpoint == endpoint
        with SafetyClient(endpoint, 5, watchdog_s=1.0, same_clock=True) as client:
            outputs.send(SafetyState.RUN, 1.0, 0)
            assert client.wait_for(SafetyState.RUN, 5.0)
            outputs.send(SafetyState.SLOW, 0.4, int(Reason.WARNING_ZONE))
            assert client.wait_for(SafetyState.SLOW, 5.0)
            assert client.speed_scale == pytest.approx(0.4, abs=0.01)
            outputs.close()
            assert client.wait_for(SafetyState.STOP, 5.0)
            assert client.reasons & Reason.SHUTDOWN
    finally:
        outputs.close()
    assert outputs.faults() == []


def test_endpoint_override_opens_a_publisher_without_config(tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/demo.sock"
    outputs = SignalOutputs.open(OutputsConfig(), zmq_endpoint=endpoint)
    try:
        assert outputs.zmq_endpoint == endpoint
    finally:
        outputs.close()


def test_a_serial_port_that_cannot_open_is_a_fault(tmp_path: Path) -> None:
    """pyserial opens in the output's own thread and retries: the failure is a fault."""
    config = OutputsConfig(serial=SerialOutputConfig(port=str(tmp_path / "no-such-tty")))
    outputs = SignalOutputs.open(config)
    try:
        outputs.send(SafetyState.RUN, 1.0, 0)
        deadline = time.monotonic() + 5
        while not outputs.faults() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert any("serial" in fault and "no-such-tty" in fault for fault in outputs.faults())
        assert outputs.error_count >= 1
    finally:
        outputs.close()


def test_an_endpoint_in_use_refuses_start(tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/taken.sock"
    first = SignalOutputs.open(OutputsConfig(zmq=ZmqOutputConfig(endpoint=endpoint)))
    try:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        tcp = f"tcp://127.0.0.1:{port}"
        second = SignalOutputs.open(OutputsConfig(zmq=ZmqOutputConfig(endpoint=tcp)))
        try:
            with pytest.raises(OSError, match="signal outputs"):
                SignalOutputs.open(OutputsConfig(zmq=ZmqOutputConfig(endpoint=tcp)))
        finally:
            second.close()
    finally:
        first.close()


def test_dds_output_reaches_the_dds_client_and_a_failure_is_a_fault() -> None:
    """``outputs.dds`` beside ZeroMQ: each decision reaches a real ``DdsSafetyClient`` on a
    loopback domain; a failing writer is a fault (the monitor's OUTPUT_FAULT STOP) while
    the receiver's watchdog sees the silence; close sends STOP (SHUTDOWN) first."""
    from tests.signals.dds_helpers import needs_dds, random_domain, wait_for

    needs_dds()
    from safetymon.config.outputs import DdsOutputConfig
    from safetymon.signals.dds_client import DdsSafetyClient

    domain = random_domain()
    config = OutputsConfig(dds=DdsOutputConfig(domain_id=domain, connection_id=9))
    with DdsSafetyClient(9, domain_id=domain, watchdog_s=0.5, same_clock=True) as client:
        outputs = SignalOutputs.open(config)
        try:
            assert outputs.dds_output is not None
            assert wait_for(lambda: client.matched_publishers >= 1, 20.0)

            def decide(state: SafetyState, scale: float, reasons: int) -> bool:
                outputs.send(state, scale, reasons)  # every cycle, as the decision loop does
                return client.state is state

            assert wait_for(lambda: decide(SafetyState.RUN, 1.0, 0), 20.0)
            reasons = int(Reason.SEPARATION_WARNING)
            assert wait_for(lambda: decide(SafetyState.SLOW, 0.4, reasons), 20.0)
            assert client.speed_scale == pytest.approx(0.4, abs=1e-4)
            assert client.reasons == reasons
            assert outputs.faults() == []
            outputs.close()
            assert wait_for(lambda: client.state is SafetyState.STOP, 20.0)
            assert client.reasons & Reason.SHUTDOWN and client.status.cause == "frame"
        finally:
            outputs.close()
        # a writer that fails: fault, counted, never raised into the loop
        outputs = SignalOutputs.open(config)
        try:
            assert wait_for(lambda: decide(SafetyState.RUN, 1.0, 0), 20.0)
            outputs.dds_output._frame_writer.__del__()  # type: ignore[attr-defined]
            assert wait_for(lambda: bool(outputs.faults()), 10.0)
            assert any(f.startswith("dds output failing") for f in outputs.faults())
            assert outputs.error_count >= 1
            outputs.send(SafetyState.RUN, 1.0, 0)  # raises nothing
            assert wait_for(lambda: client.state is SafetyState.STOP, 10.0)
            assert client.status.cause == "watchdog"
        finally:
            outputs.close()


def test_a_dds_output_on_a_domain_joined_otherwise_refuses_start() -> None:
    """One process joins a DDS domain one way; an output that disagrees is refused (OSError
    naming outputs.dds and the domain), never half opened."""
    from tests.signals.dds_helpers import needs_dds, random_domain

    needs_dds()
    from safetymon.config.outputs import DdsOutputConfig
    from safetymon.dds.domain import join_domain

    domain = random_domain()
    participant = join_domain(domain, loopback_only=True)  # e.g. the ros2 robot input
    config = OutputsConfig(dds=DdsOutputConfig(domain_id=domain, loopback_only=False))
    with pytest.raises(OSError, match=rf"outputs.dds \(domain {domain}\).*loopback_only"):
        SignalOutputs.open(config)
    participant.__del__()
