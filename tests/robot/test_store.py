"""RobotStateStore: acceptance, every rejection kind counted, clocks, faults, staleness → STOP."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from safetymon.config.loader import load_site_config
from safetymon.robot.store import SILENT_SESSION_S, Rejection, RobotStateStore
from safetymon.safety.decision import DecisionEngine
from safetymon.safety.inputs import CameraStatus, CycleInput
from safetymon.safety.site import compile_site
from safetymon.signals.frame import SafetyState
from tests.robot.helpers import encode, links_message, robot

SHARED = {"state_input": {"clock": "shared_monotonic"}}


def test_receiver_clock_age_counts_from_arrival() -> None:
    store = RobotStateStore([robot()])
    result = store.submit(encode(links_message(1, 500.0)), arrival_s=10.0)
    assert result.accepted and result.robot_id == "arm1"
    snapshot = store.snapshot("arm1", 10.04)
    assert snapshot.age_s == pytest.approx(0.04)
    assert snapshot.fault is None and snapshot.problem() is None
    np.testing.assert_allclose(snapshot.link_vel_b[1], [0.0, 0.5, 0.0])


def test_shared_clock_age_counts_from_capture() -> None:
    store = RobotStateStore([robot(**SHARED)])
    assert store.submit(encode(links_message(1, 9.97)), arrival_s=10.0).accepted
    assert store.snapshot("arm1", 10.0).age_s == pytest.approx(0.03)
    # a stamp slightly ahead (within future_tolerance_s) is accepted; its age clamps at 0
    assert store.submit(encode(links_message(2, 10.003)), arrival_s=10.0).accepted
    assert store.snapshot("arm1", 10.0).age_s == 0.0


def test_no_state_yet_is_infinitely_old() -> None:
    snapshot = RobotStateStore([robot()]).snapshot("arm1", 5.0)
    assert math.isinf(snapshot.age_s)
    with pytest.raises(KeyError):
        RobotStateStore([robot()]).snapshot("arm9", 5.0)


def test_every_rejection_kind_is_counted() -> None:
    store = RobotStateStore([robot(**SHARED)])
    assert store.submit(encode(links_message(5, 10.0)), 10.0).accepted
    cases: list[tuple[bytes, Rejection, str]] = [
        (b"{", Rejection.MALFORMED, "not JSON"),
        (encode({**links_message(6, 10.01), "sequence": "six"}), Rejection.SCHEMA, "sequence"),
        (encode(links_message(6, 10.01, robot_id="arm9")), Rejection.UNKNOWN_ROBOT, "'arm9'"),
        (encode(links_message(6, 10.01)).replace(b"10.01", b"NaN"), Rejection.NON_FINITE, "NaN"),
        (encode(links_message(5, 10.01)), Rejection.OUT_OF_ORDER, "sequence: 5"),
        (encode(links_message(6, 10.0)), Rejection.OUT_OF_ORDER, "capture_time_s: 10.0"),
        (encode(links_message(6, 9.8)), Rejection.OUT_OF_ORDER, "capture_time_s"),
        (encode(links_message(7, 10.02)), Rejection.TOO_OLD, "ms old on arrival"),
        (encode(links_message(8, 10.5)), Rejection.FROM_FUTURE, "ahead"),
        (encode({**links_message(9, 10.2), "joints": {"positions": [0.0]}, "links": None}),
         Rejection.GEOMETRY, "geometry is capsules"),
    ]  # fmt: skip
    arrivals = [10.2] * len(cases)
    arrivals[7] = 10.2  # capture 10.02 arrives 180 ms later: older than max_state_age_s
    for (raw, kind, needle), arrival in zip(cases, arrivals, strict=True):
        result = store.submit(raw, arrival)
        assert not result.accepted
        assert result.rejection is kind, (kind, result)
        assert needle in result.detail
    counters = store.counters()
    assert counters.accepted == 1
    assert counters.rejected == {
        "malformed": 1, "schema": 1, "unknown_robot": 1, "non_finite": 1, "out_of_order": 3,
        "too_old": 1, "from_future": 1, "geometry": 1,
    }  # fmt: skip
    # rejections that named arm1 count against it; the previous valid state simply ages
    assert counters.per_robot["arm1"]["out_of_order"] == 3
    assert "malformed" not in counters.per_robot["arm1"]  # no source robot given
    assert store.snapshot("arm1", 10.05).age_s == pytest.approx(0.05)


def test_source_robots_attribute_unparseable_messages_and_filter_others() -> None:
    store = RobotStateStore([robot(), robot(id="arm2")])
    assert store.submit(b"garbage", 1.0, source_robots=["arm1"]).robot_id == "arm1"
    other = store.submit(encode(links_message(1, 1.0, robot_id="arm2")), 1.0, ["arm1"])
    assert other.rejection is Rejection.UNKNOWN_ROBOT
    assert store.counters().per_robot["arm1"] == {"accepted": 0, "malformed": 1}


def test_consecutive_rejections_become_a_fault_until_a_valid_message() -> None:
    store = RobotStateStore([robot(state_input={"max_consecutive_rejections": 3})])
    assert store.submit(encode(links_message(10, 1.0)), 1.0).accepted
    # spread out (0.6 s apart): three out-of-order messages within 1 s would be taken for a
    # second sender, a fault of its own (test_two_senders_*)
    for index, sequence in enumerate((3, 4, 5)):
        arrival = 1.01 + 0.6 * index
        assert not store.submit(encode(links_message(sequence, arrival)), arrival).accepted
    snapshot = store.snapshot("arm1", 2.22)
    assert snapshot.fault is not None
    assert "last 3 state messages rejected" in snapshot.fault
    assert "out_of_order: sequence: 5" in snapshot.fault
    assert store.submit(encode(links_message(11, 2.22)), 2.22).accepted
    assert store.snapshot("arm1", 2.23).fault is None


def test_velocity_by_differencing_when_the_message_has_none() -> None:
    store = RobotStateStore([robot()])
    first = links_message(1, 2.0)
    del first["links"]["vel_a"], first["links"]["vel_b"]
    assert store.submit(encode(first), 2.0).accepted
    assert "velocity unknown" in (store.snapshot("arm1", 2.0).fault or "")
    second = links_message(2, 2.01)
    del second["links"]["vel_a"], second["links"]["vel_b"]
    second["links"]["b"][1] = [0.5, 0.005, 0.8]  # tip moved 5 mm in 10 ms
    assert store.submit(encode(second), 2.01).accepted
    snapshot = store.snapshot("arm1", 2.01)
    assert snapshot.fault is None
    np.testing.assert_allclose(snapshot.link_vel_b[1], [0.0, 0.5, 0.0], atol=1e-9)
    np.testing.assert_allclose(snapshot.link_vel_a, 0.0)
    third = links_message(3, 2.5)  # 490 ms later: too long ago to difference
    del third["links"]["vel_a"], third["links"]["vel_b"]
    assert store.submit(encode(third), 2.5).accepted
    assert "velocity unknown" in (store.snapshot("arm1", 2.5).fault or "")


def test_kinematics_that_cannot_be_built_refuse_to_start() -> None:
    urdf = robot(geometry={"kind": "urdf", "path": "no/such.urdf"})
    with pytest.raises(ValueError, match=r"robots\[0\] \(arm1\): geometry.path"):
        RobotStateStore([urdf])


def test_source_fault_is_reported() -> None:
    store = RobotStateStore([robot()])
    store.submit(encode(links_message(1, 1.0)), 1.0)
    store.set_source_fault(["arm1"], "serial receiver failed: port gone")
    assert store.snapshot("arm1", 1.0).fault == "serial receiver failed: port gone"
    store.set_source_fault(["arm1"], None)
    assert store.snapshot("arm1", 1.0).fault is None


def test_stale_snapshot_makes_the_decision_stop(repo) -> None:
    config = load_site_config(repo / "zones" / "demo-cell.yaml")
    engine = DecisionEngine(compile_site(config))
    store = RobotStateStore(config.robots)
    base = {"x_m": 1.0, "y_m": 0.75, "yaw_rad": 0.0, "vx_mps": 0, "vy_mps": 0, "yaw_rate_radps": 0}
    assert store.submit(encode(links_message(1, 0.0, base=base)), arrival_s=0.0).accepted
    cameras = (CameraStatus("cam1", 0.02),)
    memory = engine.initial_memory(0.0)

    def decide(now: float):
        nonlocal memory
        decision, memory = engine.step(
            CycleInput(now, robots=store.snapshots(now), cameras=cameras), memory
        )
        return decision

    fresh = decide(0.05)
    assert "ROBOT_STATE_STALE" not in fresh.reason_names
    assert "ROBOT_STATE_INVALID" not in fresh.reason_names
    stale = decide(0.15)  # 150 ms after arrival > max_state_age_s 100 ms
    assert stale.state is SafetyState.STOP
    assert "ROBOT_STATE_STALE" in stale.reason_names
    never = DecisionEngine(compile_site(config)).step(
        CycleInput(0.0, robots=RobotStateStore(config.robots).snapshots(0.0), cameras=cameras),
        engine.initial_memory(0.0),
    )[0]
    assert "ROBOT_STATE_STALE" in never.reason_names
    store.set_source_fault(["arm1"], "zmq receiver failed")
    store.submit(encode(links_message(2, 0.2, base=base)), arrival_s=0.2)
    invalid = decide(0.21)
    assert invalid.state is SafetyState.STOP
    assert "ROBOT_STATE_INVALID" in invalid.reason_names


def test_concurrent_submitters_and_readers_stay_consistent() -> None:
    arm = robot(
        geometry={"kind": "dh", "joints": [{"a_m": 0.5}] * 3},
        state_input={"max_consecutive_rejections": 10_000},  # racing senders reject a lot
    )
    store = RobotStateStore([arm])
    total = 400
    raws = [
        encode({"schema": "safetymon.robot_state/1", "robot_id": "arm1", "sequence": i,
                "capture_time_s": i * 0.001, "joints": {"positions": [0.1, 0.2, 0.3],
                                                       "velocities": [0.1, 0.0, 0.0]}})
        for i in range(1, total + 1)
    ]  # fmt: skip
    snapshots = []

    def feed(part: list[bytes]) -> None:
        for raw in part:
            store.submit(raw, 1.0)
            snapshots.append(store.snapshot("arm1", 1.0))

    threads = [threading.Thread(target=feed, args=(raws[k::2],)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counters = store.counters()
    assert counters.accepted + counters.rejected.get("out_of_order", 0) == total
    assert set(counters.rejected) <= {"out_of_order"}
    # racing senders are two senders: a named fault, but every snapshot is whole
    problems = {s.problem() for s in snapshots} - {None}
    assert all(p.startswith("two senders for one robot") for p in problems), problems
    assert all(s.link_a.shape == (3, 3) for s in snapshots if s.age_s < 1e9)


def test_a_new_session_restarts_the_order_and_retires_the_old_one(caplog) -> None:
    store = RobotStateStore([robot(**SHARED)])
    assert store.submit(encode(links_message(500, 100.0, session="run-1")), 100.0).accepted
    # the sender restarts: sequence from 1 again; with a shared clock time goes on
    restarted = links_message(1, 101.05, session="run-2")
    del restarted["links"]["vel_a"], restarted["links"]["vel_b"]
    with caplog.at_level("WARNING", logger="safetymon.robot.store"):
        assert store.submit(encode(restarted), 101.05).accepted
    assert "sender restarted (session 'run-2' replaces 'run-1', sequence 1)" in caplog.text
    assert store.counters().restarts == {"arm1": 1}
    # velocity is not differenced across two runs of the sender
    assert "velocity unknown" in (store.snapshot("arm1", 101.05).fault or "")
    # the old sender, still running, is refused from now on
    late = store.submit(encode(links_message(501, 101.06, session="run-1")), 101.06)
    assert late.rejection is Rejection.OUT_OF_ORDER
    assert late.detail == "session: 'run-1' was replaced by 'run-2'"
    # and still sending beside its successor, it is a second sender: a fault for 2 s
    assert "two senders" in (store.snapshot("arm1", 101.08).fault or "")
    # within the new session the order holds as before
    again = store.submit(encode(links_message(1, 101.07, session="run-2")), 101.07)
    assert again.rejection is Rejection.OUT_OF_ORDER and "sequence: 1" in again.detail
    assert store.submit(encode(links_message(2, 101.08, session="run-2")), 101.08).accepted
    assert store.snapshot("arm1", 103.07).fault is None  # 2 s after the old sender's last
    # a new session is still checked for age on a shared clock
    stale = store.submit(encode(links_message(1, 101.0, session="run-3")), 102.2)
    assert stale.rejection is Rejection.TOO_OLD
    assert store.counters().restarts == {"arm1": 1}


def test_without_a_session_a_restarted_sequence_stays_refused() -> None:
    store = RobotStateStore([robot()])
    assert store.submit(encode(links_message(500, 100.0)), 100.0).accepted
    refused = store.submit(encode(links_message(1, 3.0)), 100.05)  # sender host rebooted
    assert refused.rejection is Rejection.OUT_OF_ORDER and "sequence: 1" in refused.detail
    # a session-less sender that now names a session is a restart; its old form is retired
    assert store.submit(encode(links_message(1, 3.0, session="boot-7")), 101.06).accepted
    old = store.submit(encode(links_message(501, 101.1)), 101.1)
    assert old.rejection is Rejection.OUT_OF_ORDER
    assert old.detail == "session: None was replaced by 'boot-7'"


def test_a_session_per_message_is_refused_and_the_robot_goes_stale() -> None:
    """A sender that makes up a new session for every message (a misplaced session id)
    would turn the order checks off: a session must last a second before another replaces
    it, so such a sender delivers one state a second at most and the robot is stale."""
    store = RobotStateStore([robot()])
    assert store.submit(encode(links_message(1, 5.0, session="s0")), 10.0).accepted
    results = [
        store.submit(encode(links_message(1, 5.0 + k * 0.01, session=f"s{k}")), 10.0 + k * 0.01)
        for k in range(1, 50)
    ]
    assert not any(r.accepted for r in results)
    assert all(r.rejection is Rejection.OUT_OF_ORDER for r in results)
    assert results[0].detail == (
        "session: 's1' would replace 's0' only 10 ms after it began (minimum 1 s): a sender "
        "keeps one session for its whole run"
    )
    snapshot = store.snapshot("arm1", 10.49)
    assert snapshot.age_s > robot().max_state_age_s  # stale: the decision stops the robot
    assert snapshot.fault is not None  # and the run of rejections is a fault as well
    # a session that has lasted a second may be replaced (a real restart)
    assert store.submit(encode(links_message(1, 6.0, session="s99")), 11.0).accepted
    assert store.counters().restarts == {"arm1": 1}


def test_two_senders_a_session_hijack_is_a_named_fault_not_a_lock_out(caplog) -> None:
    """Issue 15, finding 6: 28 messages in 0.3 s naming a new session replaced the real
    sender's session for good (its states refused: STOP until a restart), unnamed."""
    store = RobotStateStore([robot()])
    real = iter(range(1, 10_000))

    def from_real(t: float):
        return store.submit(encode(links_message(next(real), t, session="controller")), t)

    t = 10.0
    while t < 11.5:  # the controller at 50 Hz for 1.5 s
        assert from_real(t).accepted
        t += 0.02
    with caplog.at_level("WARNING", logger="safetymon.robot.store"):
        hijack = [
            store.submit(encode(links_message(k, t + k * 0.01, session="forged")), t + k * 0.01)
            for k in range(1, 29)
        ]  # the first one is taken as a sender restart
        assert hijack[0].accepted
        # the controller goes on sending: two senders, a named fault (STOP), logged once
        t += 0.3
        for _ in range(10):
            assert not from_real(t).accepted
            t += 0.02
    assert "two senders for one robot" in (store.snapshot("arm1", t).fault or "")
    assert caplog.text.count("two senders") == 1
    # the forger stops; after SILENT_SESSION_S the controller's session is taken back
    taken_back = None
    while t < 16.0:
        result = from_real(t)
        if result.accepted and taken_back is None:
            taken_back = t
        t += 0.02
    assert taken_back is not None and taken_back - (10.0 + 1.5 + 0.28) >= SILENT_SESSION_S
    # and once no sign came for SECOND_SENDER_HOLD_S the robot may run again
    assert store.snapshot("arm1", t).fault is None
    assert store.snapshot("arm1", t).age_s < 0.1


def test_two_senders_interleaved_forged_states_are_a_named_fault() -> None:
    """Issue 15, finding 1 (its detection part): a man in the middle forwarding forged
    copies beside the real states had about half refused as out of order, but only
    consecutive rejections were a fault, so the mix went unnoticed."""
    store = RobotStateStore([robot()])
    t = 20.0
    for sequence in range(1, 20):
        assert store.submit(encode(links_message(sequence, t)), t).accepted
        forged = links_message(sequence, t)  # a copy with the velocities zeroed
        forged["links"]["vel_b"] = [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
        assert not store.submit(encode(forged), t + 0.001).accepted
        t += 0.02
    fault = store.snapshot("arm1", t).fault or ""
    assert "two senders for one robot: 3 out-of-order messages within 1 s" in fault
    # the forger goes away: the fault ends SECOND_SENDER_HOLD_S after its last message
    for sequence in range(20, 200):
        assert store.submit(encode(links_message(sequence, t)), t).accepted
        t += 0.02
    assert store.snapshot("arm1", t).fault is None


def test_a_single_duplicate_is_not_a_second_sender() -> None:
    store = RobotStateStore([robot()])
    assert store.submit(encode(links_message(1, 30.0)), 30.0).accepted
    assert not store.submit(encode(links_message(1, 30.0)), 30.01).accepted  # repeated once
    assert store.submit(encode(links_message(2, 30.02)), 30.02).accepted
    assert store.snapshot("arm1", 30.03).fault is None
