"""The shared heartbeat of the serial and DDS outputs (``signals/heartbeat.py``), through a
transport that fails on request (the real transports are tested with a pty and Cyclone DDS
in test_serial_output.py and test_dds.py)."""

from __future__ import annotations

from dataclasses import dataclass

from safetymon.monitor.outputs import SignalOutputs
from safetymon.signals.frame import SafetyFrame, SafetyState
from safetymon.signals.heartbeat import HeartbeatOutput
from safetymon.signals.reasons import Reason


@dataclass(frozen=True)
class Settings:
    connection_id: int = 7
    heartbeat_hz: float = 50.0
    state_timeout_s: float = 0.2


class FailingTransport(HeartbeatOutput):
    """Keeps every frame written; raises OSError while ``failing`` is set."""

    def __init__(self) -> None:
        super().__init__(Settings(), label="test output /dev/null")
        self.failing = False
        self.written: list[SafetyFrame] = []

    def _write_frame(self, frame: SafetyFrame) -> None:
        if self.failing:
            raise OSError("write failed")
        self.written.append(frame)

    def _close_transport(self) -> None:
        pass


def test_a_failed_write_is_reported_even_after_a_good_one() -> None:
    output = FailingTransport()  # not started: writes happen only when _send is called
    outputs = SignalOutputs(dds_output=output)
    assert output._send() and outputs.faults() == []
    output.failing = True
    assert not output._send()
    output.failing = False
    assert output._send() and not output.fault  # the failure is already over ...
    faults = outputs.faults()  # ... but the decision loop did not see it yet: reported once
    assert faults == ["dds output failing (test output /dev/null): write failed"]
    assert outputs.faults() == []  # reported, and nothing failed since


def test_a_state_or_scale_that_is_not_a_number_is_an_internal_error_stop() -> None:
    output = FailingTransport()
    for state, scale, reasons in ((None, None, 0), (SafetyState.RUN, "fast", 0),
                                  (SafetyState.RUN, 1.0, "x"), (9, 1.0, 0),
                                  (SafetyState.SLOW, float("nan"), 0)):  # fmt: skip
        output.set_state(state, speed_scale=scale, reasons=reasons)  # type: ignore[arg-type]
        permitted, speed, why = output.current()
        assert permitted is SafetyState.STOP and speed == 0.0
        assert why & Reason.INTERNAL_ERROR, (state, scale, reasons)
    output.set_state(SafetyState.SLOW, speed_scale=0.4, reasons=int(Reason.WARNING_ZONE))
    assert output.current() == (SafetyState.SLOW, 0.4, int(Reason.WARNING_ZONE))


def test_a_permitted_state_allows_run_1_slow_its_scale_and_nothing_else() -> None:
    from safetymon.signals.receiver import PermittedState

    def allowed(state: SafetyState, scale: float) -> float:
        return PermittedState(state, scale, 0, "frame", 1, 0).allowed_scale()

    assert allowed(SafetyState.RUN, 0.2) == 1.0
    assert allowed(SafetyState.SLOW, 0.3) == 0.3
    assert allowed(SafetyState.SLOW, 1.7) == 1.0 and allowed(SafetyState.SLOW, -0.5) == 0.0
    assert allowed(SafetyState.STOP, 1.0) == 0.0
