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
