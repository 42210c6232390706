"""The fixed-rate decision loop: overruns, failing inputs, listeners and outputs all STOP."""

from __future__ import annotations

import time

import pytest

from safetymon.config.loader import load_site_config
from safetymon.monitor.decision_loop import CycleRecord, DecisionLoop
from safetymon.safety.decision import DecisionEngine
from safetymon.safety.inputs import CameraStatus, CycleInput
from safetymon.safety.site import compile_site
from safetymon.signals.frame import SafetyState
from safetymon.signals.reasons import Reason
from tests.conftest import REPO


class FakeClock:
    """A settable monotonic clock (seconds)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def engine() -> DecisionEngine:
    config = load_site_config(REPO / "zones" / "service-counter.yaml")
    return DecisionEngine(compile_site(config))


def healthy(engine: DecisionEngine):
    cameras = tuple(CameraStatus(cam.id, 0.01) for cam in engine.site.config.cameras)

    def gather(now: float) -> CycleInput:
        return CycleInput(time_s=now, cameras=cameras)

    return gather


def test_a_late_cycle_is_a_loop_overrun_stop(engine: DecisionEngine) -> None:
    clock = FakeClock()
    sent = []
    loop = DecisionLoop(engine, healthy(engine), sent.append, rate_hz=100, clock=clock)
    loop.run_cycle()
    clock.now += 0.01
    assert not loop.run_cycle().decision.reasons & Reason.LOOP_OVERRUN
    clock.now += 0.2  # 20 periods late
    record = loop.run_cycle()
    assert record.decision.state is SafetyState.STOP
    assert record.decision.reasons & Reason.LOOP_OVERRUN
    assert loop.overruns == 1
    assert sent[-1] is record.decision


def test_a_stall_before_signalling_sends_stop_not_the_stale_decision(
    engine: DecisionEngine,
) -> None:
    """The process froze (SIGSTOP, VM pause) after the inputs were read: the decision made
    from them must not reach the robot as RUN 0.8 s later (one CI run of the SIGSTOP test
    saw exactly that RUN, 4 ms after SIGCONT)."""
    clock = FakeClock()
    sent = []
    stall = {"s": 0.0}
    healthy_gather = healthy(engine)

    def gather(now: float) -> CycleInput:
        cycle = healthy_gather(now)
        clock.now += stall["s"]  # the freeze happens after the inputs were taken
        return cycle

    loop = DecisionLoop(engine, gather, sent.append, rate_hz=100, clock=clock)
    for _ in range(200):  # healthy for 2 s: past the restart delay
        loop.run_cycle()
        clock.now += 0.01
    assert sent[-1].state is SafetyState.RUN
    stall["s"] = 0.8
    record = loop.run_cycle()
    assert sent[-1] is record.decision
    assert record.decision.state is SafetyState.STOP
    assert record.decision.reasons & Reason.LOOP_OVERRUN
    assert any("decision ready 800 ms" in cause.detail for cause in record.decision.causes)
    assert loop.overruns == 1
    # and the overrun is a cause like any other: RUN only after the restart delay
    stall["s"] = 0.0
    delay = engine.site.config.safety.restart_delay_s
    runs = []
    for _ in range(int(delay / 0.01) + 50):
        clock.now += 0.01
        runs.append((clock.now, loop.run_cycle().decision.state))
    first_run = next(t for t, state in runs if state is SafetyState.RUN)
    assert first_run - record.cycle.time_s >= delay
    assert loop.overruns == 1  # one stall, counted once (not again by the next cycle)


def test_gather_failure_is_an_internal_error_stop(engine: DecisionEngine) -> None:
    def broken(now: float) -> CycleInput:
        raise RuntimeError("tracker exploded")

    loop = DecisionLoop(engine, broken, lambda d: None, clock=FakeClock())
    record = loop.run_cycle()
    assert record.decision.state is SafetyState.STOP
    assert record.decision.reasons & Reason.INTERNAL_ERROR
    assert any("tracker exploded" in cause.detail for cause in record.decision.causes)


def test_failing_listener_and_output_stop_the_next_cycle(engine: DecisionEngine) -> None:
    clock = FakeClock()
    calls = {"listener": 0, "signal": 0}

    def listener(record: CycleRecord) -> None:
        calls["listener"] += 1
        if calls["listener"] == 1:
            raise ValueError("evidence hook broke")

    def signal(decision) -> None:
        calls["signal"] += 1
        if calls["signal"] == 2:
            raise OSError("port gone")

    loop = DecisionLoop(engine, healthy(engine), signal, listeners=(listener,), clock=clock)
    loop.run_cycle()
    clock.now += 0.01
    second = loop.run_cycle()
    assert second.decision.reasons & Reason.INTERNAL_ERROR
    clock.now += 0.01
    third = loop.run_cycle()
    assert third.decision.reasons & Reason.OUTPUT_FAULT


def test_thread_runs_cycles_and_stops(engine: DecisionEngine) -> None:
    decisions = []
    loop = DecisionLoop(engine, healthy(engine), decisions.append, rate_hz=200)
    loop.start()
    deadline = time.monotonic() + 5
    while loop.cycles < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    loop.stop()
    assert not loop.alive
    assert loop.cycles >= 20
    times = [d.time_s for d in decisions]
    assert times == sorted(times)
    assert decisions[0].state is SafetyState.STOP  # starts in STOP
    assert loop.loop_rate_hz > 0


def test_rate_must_be_positive(engine: DecisionEngine) -> None:
    with pytest.raises(ValueError, match="rate_hz"):
        DecisionLoop(engine, healthy(engine), lambda d: None, rate_hz=0)
