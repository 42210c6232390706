"""The decision state machine: one table row or test per rule and per failure path."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from safetymon.config.loader import parse_site_config
from safetymon.geometry.ssm import max_robot_speed
from safetymon.safety.decision import DecisionEngine, DecisionMemory
from safetymon.safety.inputs import CameraStatus, CycleInput, HumanBatch, RobotSnapshot
from safetymon.safety.site import compile_site
from safetymon.signals.frame import SafetyState
from safetymon.signals.reasons import Reason

RUN, SLOW, STOP = SafetyState.RUN, SafetyState.SLOW, SafetyState.STOP

SITE = {
    "site": "test-cell",
    "cameras": [
        {
            "id": "cam1",
            "source": 0,
            "latency_s": 0.0,  # the formulas below count none; its own test adds one
            "floor_homography": [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
        }
    ],
    "robots": [
        {
            "id": "arm",
            "max_speed_mps": 1.0,
            "stopping": {"deceleration_mps2": 4.0},
            "reaction_time_s": 0.05,
            "uncertainty_m": 0.02,
            "max_state_age_s": 0.1,
            "permitted_zone": "envelope",
        }
    ],
    "zones": [
        {"id": "envelope", "type": "envelope", "polygon": [[-1, -1], [1, -1], [1, 1], [-1, 1]]},
        {"id": "guard", "type": "protective", "polygon": [[4, -1], [5, -1], [5, 1], [4, 1]]},
        {
            "id": "latch",
            "type": "protective",
            "manual_reset": True,
            "polygon": [[4, 5], [5, 5], [5, 6], [4, 6]],
        },
        {
            "id": "aisle",
            "type": "warning",
            "slow_speed_scale": 0.4,
            "polygon": [[4, 10], [5, 10], [5, 12], [4, 12]],
        },
        {"id": "walkway", "type": "restricted", "polygon": [[1.2, -1], [2, -1], [2, 1], [1.2, 1]]},
    ],
    "safety": {
        "human_speed_mps": 1.6,
        "reaction_time_s": 0.1,
        "intrusion_distance_m": 0.2,
        "human_uncertainty_m": 0.1,
        "human_radius_m": 0.3,
        "warning_margin_m": 0.5,
        "hysteresis_m": 0.1,
        "restart_delay_s": 1.0,
    },
}

FAR = (-30.0, 20.0)  # a person far from everything


def make_engine(*, envelope: bool = True, **safety: object) -> DecisionEngine:
    robot = {**SITE["robots"][0], "permitted_zone": "envelope" if envelope else None}
    data = {**SITE, "robots": [robot], "safety": {**SITE["safety"], **safety}}
    return DecisionEngine(compile_site(parse_site_config(data)))


def arm(
    *,
    age: float = 0.01,
    tip: tuple[float, float, float] = (0.5, 0.0, 0.8),
    speed: float = 0.0,
    **change: object,
) -> RobotSnapshot:
    """A two-link arm standing at the origin; its tip moves at ``speed`` m/s along +x."""
    snapshot = RobotSnapshot(
        robot_id="arm",
        age_s=age,
        link_a=np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.8]]),
        link_b=np.array([[0.0, 0.0, 0.8], list(tip)]),
        link_radius_m=np.array([0.1, 0.08]),
        link_vel_a=np.zeros((2, 3)),
        link_vel_b=np.array([[0.0, 0.0, 0.0], [speed, 0.0, 0.0]]),
    )
    return replace(snapshot, **change)


def people(*points: tuple[float, float], velocity: tuple[float, float] = (0.0, 0.0)) -> HumanBatch:
    n = len(points)
    return HumanBatch.build(
        list(range(1, n + 1)), list(points), [velocity] * n, [0.3] * n, [0.1] * n
    )


def cycle(t: float, humans: HumanBatch | None = None, **change: object) -> CycleInput:
    base = CycleInput(
        time_s=t,
        humans=humans if humans is not None else people(FAR),
        robots=(arm(),),
        cameras=(CameraStatus("cam1", 0.03),),
    )
    return replace(base, **change)


def running(engine: DecisionEngine, t: float = 2.0) -> DecisionMemory:
    """Memory of a monitor that has started and cleared its start-up delay."""
    memory = engine.initial_memory(0.0)
    decision, memory = engine.step(cycle(t), memory)
    assert decision.state is RUN, decision.causes
    return memory


@pytest.fixture
def engine() -> DecisionEngine:
    return make_engine()


def test_starts_in_stop_and_runs_after_restart_delay(engine: DecisionEngine) -> None:
    memory = engine.initial_memory(0.0)
    decision, memory = engine.step(cycle(0.0), memory)
    assert decision.state is STOP and Reason.STARTUP in decision.reasons
    decision, memory = engine.step(cycle(0.99), memory)
    assert decision.state is STOP and Reason.RESTART_DELAY in decision.reasons
    decision, _ = engine.step(cycle(1.0), memory)
    assert decision.state is RUN
    assert decision.speed_scale == 1.0 and decision.reasons == Reason(0)


# One row per rule / failure path: the cycle input that must stop or slow, and why.
CASES = [
    ("person within S_p", cycle(3, people((1.3, 0.0))), STOP, Reason.SEPARATION),
    ("protective zone", cycle(3, people((4.5, 0.0))), STOP, Reason.PROTECTIVE_ZONE),
    ("body overlapping zone edge", cycle(3, people((3.65, 0.0))), STOP, Reason.PROTECTIVE_ZONE),
    ("warning zone", cycle(3, people((4.5, 11.0))), SLOW, Reason.WARNING_ZONE),
    (
        "robot over restricted zone",
        cycle(3, robots=(arm(tip=(1.3, 0.0, 0.8)),)),
        STOP,
        Reason.ROBOT_OUT_OF_BOUNDS,
    ),
    (
        "robot leaves envelope",
        cycle(3, robots=(arm(tip=(0.5, 0.98, 0.8)),)),
        STOP,
        Reason.ROBOT_OUT_OF_BOUNDS,
    ),
    (
        "camera frame stale",
        cycle(3, cameras=(CameraStatus("cam1", 0.25),)),
        STOP,
        Reason.CAMERA_STALE,
    ),
    (
        "camera age NaN",
        cycle(3, cameras=(CameraStatus("cam1", math.nan),)),
        STOP,
        Reason.CAMERA_STALE,
    ),
    ("camera never seen", cycle(3, cameras=()), STOP, Reason.CAMERA_STALE),
    (
        "camera frozen",
        cycle(3, cameras=(CameraStatus("cam1", 0.02, fault="frozen image"),)),
        STOP,
        Reason.CAMERA_FAULT,
    ),
    (
        "detector raised",
        cycle(3, cameras=(CameraStatus("cam1", 0.02, detector_fault="boom"),)),
        STOP,
        Reason.DETECTOR_FAULT,
    ),
    (
        "calibration missing",
        cycle(3, cameras=(CameraStatus("cam1", 0.02, calibrated=False),)),
        STOP,
        Reason.CALIBRATION_MISSING,
    ),
    (
        "unknown camera",
        cycle(3, cameras=(CameraStatus("cam1", 0.02), CameraStatus("x", 0.0))),
        STOP,
        Reason.INTERNAL_ERROR,
    ),
    ("robot state stale", cycle(3, robots=(arm(age=0.2),)), STOP, Reason.ROBOT_STATE_STALE),
    ("robot state missing", cycle(3, robots=()), STOP, Reason.ROBOT_STATE_STALE),
    (
        "robot state NaN",
        cycle(3, robots=(arm(tip=(math.nan, 0, 0.8)),)),
        STOP,
        Reason.ROBOT_STATE_INVALID,
    ),
    (
        "robot state malformed",
        cycle(3, robots=(arm(link_radius_m=np.array([0.1])),)),
        STOP,
        Reason.ROBOT_STATE_INVALID,
    ),
    (
        "robot fault flag",
        cycle(3, robots=(arm(fault="bad message"),)),
        STOP,
        Reason.ROBOT_STATE_INVALID,
    ),
    (
        "unknown robot",
        cycle(3, robots=(arm(), arm(robot_id="ghost"))),
        STOP,
        Reason.ROBOT_STATE_INVALID,
    ),
    ("person NaN", cycle(3, people((math.nan, 0.0))), STOP, Reason.HUMAN_STATE_INVALID),
    ("operator stop", cycle(3, operator_stop=True), STOP, Reason.OPERATOR_STOP),
    (
        "evidence store failing",
        cycle(3, faults=(("EVIDENCE_FAULT", "disk full"),)),
        STOP,
        Reason.EVIDENCE_FAULT,
    ),
    (
        "loop overrun",
        cycle(3, faults=(("LOOP_OVERRUN", "31 ms > 10 ms"),)),
        STOP,
        Reason.LOOP_OVERRUN,
    ),
]


@pytest.mark.parametrize(("name", "inputs", "state", "reason"), CASES, ids=[c[0] for c in CASES])
def test_rule(
    engine: DecisionEngine, name: str, inputs: CycleInput, state: SafetyState, reason: Reason
) -> None:
    memory = running(engine)
    decision, _ = engine.step(inputs, memory)
    assert decision.state is state, decision.causes
    assert reason in decision.reasons
    if state is STOP:
        assert decision.speed_scale == 0.0


def test_warning_zone_uses_its_scale(engine: DecisionEngine) -> None:
    decision, _ = engine.step(cycle(3, people((4.5, 11.0))), running(engine))
    assert decision.speed_scale == pytest.approx(0.4)


def test_velocity_scaling_keeps_distance_at_least_sp(engine: DecisionEngine) -> None:
    """In the warning band the permitted speed is the ISO/TS 15066 velocity-scaling limit."""
    decision, _ = engine.step(
        cycle(3, people((2.0, 0.0)), robots=(arm(speed=0.3),)), running(engine)
    )
    assert decision.state is SLOW, decision.causes
    assert Reason.SEPARATION_WARNING in decision.reasons
    closest = decision.closest
    assert closest is not None and closest.distance_m > closest.protective_separation_m
    reaction = 0.1 + 0.05 + 0.03 + 0.01  # monitor + controller + camera age + robot age
    expected = max_robot_speed(
        distance_m=closest.distance_m, human_speed_mps=1.6, reaction_time_s=reaction,
        deceleration_mps2=4.0, intrusion_distance_m=0.2, human_uncertainty_m=0.1,
        robot_uncertainty_m=0.02,
    )  # fmt: skip
    assert decision.speed_scale == pytest.approx(expected / 1.0)
    assert 0.0 < decision.speed_scale < 1.0


def _scale_at_latency(engine: DecisionEngine) -> tuple[float, float]:
    """(permitted speed scale, distance) with a person in the warning band."""
    decision, _ = engine.step(
        cycle(3, people((2.3, 0.0)), robots=(arm(speed=0.3),)), running(engine)
    )
    assert decision.state is not STOP and decision.closest is not None, decision.causes
    return decision.speed_scale, decision.closest.distance_m


@pytest.mark.parametrize(
    ("camera", "resolved", "latency_s"),
    [
        ({"latency_s": 0.2}, None, 0.2),  # site file
        ({"latency_s": 0.0}, {"cam1": 0.25}, 0.25),  # resolved with the calibration file
        ({}, None, 0.15),  # a device camera without a measured latency: the default
    ],
)
def test_camera_latency_counts_in_the_reaction_time(
    camera: dict, resolved: dict[str, float] | None, latency_s: float
) -> None:
    """The glass-to-frame latency is added to the frame age in T_r (issue 17)."""
    cam = {k: v for k, v in SITE["cameras"][0].items() if k != "latency_s"} | camera
    config = parse_site_config({**SITE, "cameras": [cam]})
    engine = DecisionEngine(compile_site(config, resolved))
    scale, distance = _scale_at_latency(engine)
    reaction = 0.1 + 0.05 + 0.03 + latency_s + 0.01
    expected = max_robot_speed(
        distance_m=distance, human_speed_mps=1.6, reaction_time_s=reaction,
        deceleration_mps2=4.0, intrusion_distance_m=0.2, human_uncertainty_m=0.1,
        robot_uncertainty_m=0.02,
    )  # fmt: skip
    assert scale == pytest.approx(expected) and 0.0 < scale < 1.0
    assert _scale_at_latency(make_engine())[0] == 1.0  # without the latency: full speed


def test_compiled_latencies_must_name_every_camera() -> None:
    config = parse_site_config(SITE)
    with pytest.raises(ValueError, match="missing"):
        compile_site(config, {})
    with pytest.raises(ValueError, match="unknown"):
        compile_site(config, {"cam1": 0.1, "cam9": 0.1})
    with pytest.raises(ValueError, match="finite"):
        compile_site(config, {"cam1": float("nan")})


def test_faster_robot_needs_more_distance(engine: DecisionEngine) -> None:
    memory = running(engine)
    slow_arm, _ = engine.step(cycle(3, people((2.2, 0.0)), robots=(arm(speed=0.0),)), memory)
    fast_arm, _ = engine.step(cycle(3, people((2.2, 0.0)), robots=(arm(speed=1.0),)), memory)
    assert fast_arm.closest.protective_separation_m > slow_arm.closest.protective_separation_m


def test_input_age_adds_to_reaction_time(engine: DecisionEngine) -> None:
    memory = running(engine)
    fresh, _ = engine.step(cycle(3, people((2.5, 0.0))), memory)
    older = cycle(3, people((2.5, 0.0)), cameras=(CameraStatus("cam1", 0.19),))
    late, _ = engine.step(older, memory)
    gained = late.closest.protective_separation_m - fresh.closest.protective_separation_m
    assert gained == pytest.approx(1.6 * (0.19 - 0.03))


def test_person_walking_toward_robot_counts_measured_speed(engine: DecisionEngine) -> None:
    memory = running(engine)
    walking = engine.step(cycle(3, people((3.0, 0.0), velocity=(-2.5, 0.0))), memory)[0]
    assert walking.closest.human_speed_mps == pytest.approx(2.5)
    away = engine.step(cycle(3, people((3.0, 0.0), velocity=(2.5, 0.0))), memory)[0]
    assert away.closest.human_speed_mps == pytest.approx(1.6)  # never below the floor


def test_restart_only_after_every_cause_clear_for_delay(engine: DecisionEngine) -> None:
    memory = running(engine)
    decision, memory = engine.step(cycle(3.0, people((4.5, 0.0))), memory)
    assert decision.state is STOP
    decision, memory = engine.step(cycle(3.5, people(FAR)), memory)
    assert decision.state is STOP
    assert Reason.RESTART_DELAY in decision.reasons and Reason.PROTECTIVE_ZONE in decision.reasons
    assert [c.active for c in decision.causes] == [False]
    # a second cause appears and clears later: RUN waits for the later one
    decision, memory = engine.step(cycle(3.8, cameras=(CameraStatus("cam1", 0.5),)), memory)
    decision, memory = engine.step(cycle(4.0), memory)  # zone clear for 1.0 s, camera 0.2 s
    assert decision.state is STOP and Reason.CAMERA_STALE in decision.reasons
    assert Reason.PROTECTIVE_ZONE not in decision.reasons
    decision, memory = engine.step(cycle(4.79), memory)
    assert decision.state is STOP
    decision, _ = engine.step(cycle(4.8), memory)
    assert decision.state is RUN


def test_manual_reset_zone_latches_until_reset_after_clear(engine: DecisionEngine) -> None:
    memory = running(engine)
    inside = people((4.5, 5.5))
    decision, memory = engine.step(cycle(3.0, inside), memory)
    assert decision.state is STOP and Reason.PROTECTIVE_ZONE in decision.reasons
    decision, memory = engine.step(cycle(3.1, inside, reset_requested=True), memory)
    assert decision.state is STOP  # a reset while the cause is present does nothing
    decision, memory = engine.step(cycle(10.0), memory)
    assert decision.state is STOP and Reason.AWAITING_RESET in decision.reasons
    decision, memory = engine.step(cycle(11.0, reset_requested=True), memory)
    assert decision.state is RUN  # clear for longer than the restart delay: runs at once


def test_reset_before_delay_still_waits_for_delay(engine: DecisionEngine) -> None:
    memory = running(engine)
    _, memory = engine.step(cycle(3.0, people((4.5, 5.5))), memory)
    decision, memory = engine.step(cycle(3.2, reset_requested=True), memory)
    assert decision.state is STOP and Reason.RESTART_DELAY in decision.reasons
    decision, _ = engine.step(cycle(4.0), memory)
    assert decision.state is RUN


def test_startup_can_require_reset() -> None:
    engine = make_engine(startup_requires_reset=True)
    memory = engine.initial_memory(0.0)
    decision, memory = engine.step(cycle(5.0), memory)
    assert decision.state is STOP and Reason.AWAITING_RESET in decision.reasons
    decision, _ = engine.step(cycle(5.1, reset_requested=True), memory)
    assert decision.state is RUN


def test_zone_hysteresis_prevents_chattering() -> None:
    """A body hovering at a zone edge within the hysteresis band does not toggle."""
    engine = make_engine(restart_delay_s=0.0)
    memory = running(engine)
    edge = 4.0 - 0.3 - 0.1  # zone starts at x=4; body radius 0.3 + uncertainty 0.1
    states = []
    for k, x in enumerate(
        [edge - 0.01, edge + 0.01, edge - 0.05, edge + 0.01, edge - 0.09, edge - 0.11]
    ):
        decision, memory = engine.step(cycle(3 + 0.01 * k, people((x, 0.0))), memory)
        states.append(decision.state)
    assert states == [RUN, STOP, STOP, STOP, STOP, RUN]


def test_separation_hysteresis_prevents_chattering() -> None:
    engine = make_engine(restart_delay_s=0.0, warning_margin_m=0.0)
    memory = running(engine)
    probe, _ = engine.step(cycle(3, people((3.0, 0.0))), memory)
    s_p = probe.closest.protective_separation_m
    offset = 3.0 - probe.closest.distance_m  # person x minus distance

    def at(distance: float) -> float:
        return offset + distance

    states = []
    for k, d in enumerate([s_p + 0.01, s_p - 0.01, s_p + 0.05, s_p + 0.09, s_p + 0.11]):
        decision, memory = engine.step(cycle(3 + 0.01 * k, people((at(d), 0.0))), memory)
        states.append(decision.state)
    assert states == [RUN, STOP, STOP, STOP, RUN]


@pytest.mark.parametrize("bad_time", [math.nan, 1.0])
def test_bad_clock_stops(engine: DecisionEngine, bad_time: float) -> None:
    memory = running(engine, t=2.0)
    decision, memory2 = engine.step(cycle(bad_time), memory)
    assert decision.state is STOP and Reason.INTERNAL_ERROR in decision.reasons
    assert memory2.time_s == memory.time_s


def test_internal_error_stops_instead_of_raising(engine: DecisionEngine) -> None:
    memory = running(engine)
    broken = replace(cycle(3.0), humans="not a batch")
    decision, memory = engine.step(broken, memory)
    assert decision.state is STOP and Reason.INTERNAL_ERROR in decision.reasons
    decision, _ = engine.step(cycle(3.5), memory)
    assert decision.state is STOP  # held for the restart delay like any cause


@pytest.mark.parametrize("garbage", [None, "cycle", CycleInput(time_s="soon")])  # type: ignore[arg-type]
def test_garbage_cycle_stops_instead_of_raising(engine: DecisionEngine, garbage: object) -> None:
    memory = running(engine)
    decision, memory2 = engine.step(garbage, memory)  # type: ignore[arg-type]
    assert decision.state is STOP and Reason.INTERNAL_ERROR in decision.reasons
    assert memory2.time_s == memory.time_s


def test_worst_of_two_causes_with_one_key_wins() -> None:
    """Two SLOW causes under one key in one cycle: the lower speed scale is kept."""
    from safetymon.safety.decision import _Collector

    found = _Collector(1.0)
    found.slow(Reason.WARNING_ZONE, "z", 0.5, "first")
    found.slow(Reason.WARNING_ZONE, "z", 0.2, "slower")
    found.slow(Reason.WARNING_ZONE, "z", 0.7, "faster")
    assert found.causes[(Reason.WARNING_ZONE, "z")].speed_scale == 0.2
    found.stop(Reason.WARNING_ZONE, "z", "stop wins")
    found.slow(Reason.WARNING_ZONE, "z", 0.1, "after stop")
    assert found.causes[(Reason.WARNING_ZONE, "z")].state is STOP


def test_robot_zone_hysteresis() -> None:
    """A link hovering at a restricted zone's edge within the hysteresis band stays a breach."""
    engine = make_engine(envelope=False, restart_delay_s=0.0)
    memory = running(engine)
    edge = 1.2 - 0.08 - 0.02  # walkway starts at x=1.2; tip radius 0.08 + Z_r 0.02
    states = []
    for k, x in enumerate([edge - 0.01, edge + 0.01, edge - 0.05, edge - 0.09, edge - 0.11]):
        decision, memory = engine.step(cycle(3 + 0.01 * k, robots=(arm(tip=(x, 0, 0.8)),)), memory)
        states.append(decision.state)
    assert states == [RUN, STOP, STOP, STOP, RUN]


def test_robot_envelope_hysteresis() -> None:
    engine = make_engine(restart_delay_s=0.0)
    memory = running(engine)
    edge = 1.0 - 0.08 - 0.02  # envelope ends at y=1
    states = []
    for k, y in enumerate([edge - 0.01, edge + 0.01, edge - 0.05, edge - 0.09, edge - 0.11]):
        decision, memory = engine.step(cycle(3 + 0.01 * k, robots=(arm(tip=(0, y, 0.8)),)), memory)
        states.append(decision.state)
    assert states == [RUN, STOP, STOP, STOP, RUN]


def test_malformed_person_batch_stops(engine: DecisionEngine) -> None:
    bad = HumanBatch(np.array([1]), np.zeros((1, 3)), np.zeros((1, 2)), np.ones(1), np.ones(1))
    decision, _ = engine.step(cycle(3.0, bad), running(engine))
    assert decision.state is STOP and Reason.HUMAN_STATE_INVALID in decision.reasons


def test_deterministic(engine: DecisionEngine) -> None:
    memory = running(engine)
    inputs = cycle(3.0, people((2.2, 0.0), (4.5, 11.0)), robots=(arm(speed=0.4),))
    first = engine.step(inputs, memory)
    second = engine.step(inputs, memory)
    assert first == second


def test_zones_reported_per_id(engine: DecisionEngine) -> None:
    decision, _ = engine.step(cycle(3.0, people((4.5, 11.0))), running(engine))
    assert dict(decision.zones_occupied) == {"guard": False, "latch": False, "aisle": True}


def test_zones_only_site_runs_without_robots() -> None:
    data = {**SITE, "robots": []}
    engine = DecisionEngine(compile_site(parse_site_config(data)))
    memory = engine.initial_memory(0.0)
    decision, memory = engine.step(cycle(2.0, robots=()), memory)
    assert decision.state is RUN and decision.closest is None
    decision, _ = engine.step(cycle(2.1, people((4.5, 0.0)), robots=()), memory)
    assert decision.state is STOP


def test_implausible_person_speed_stops(engine: DecisionEngine) -> None:
    """A track moving at 1e308 m/s (even away from the robot) is bad data: STOP."""
    memory = running(engine)
    decision, _ = engine.step(cycle(3.0, people((3.0, 0.0), velocity=(1e308, 0.0))), memory)
    assert decision.state is STOP and Reason.HUMAN_STATE_INVALID in decision.reasons
    decision, _ = engine.step(cycle(3.0, people((3.0, 0.0), velocity=(11.0, 0.0))), memory)
    assert decision.state is RUN  # fast, but possible
