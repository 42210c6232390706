"""Dead input threads are restarted (issue 15: "a supervisor that turns a dying thread into
a logged fault and restarts it").

The rule with a hand clock first; then real threads: a robot-state receiver whose ZeroMQ
socket is closed under it, and the running demo monitor losing its receiver and its camera
worker, each taken back into service while the cell stays in STOP until it runs again.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
import zmq

from safetymon.config.robots import ZmqStateInputConfig
from safetymon.monitor.supervisor import FIRST_BACKOFF_S, Supervised, Supervisor
from safetymon.robot.receiver import ZmqStateReceiver
from safetymon.robot.store import RobotStateStore
from tests.robot.helpers import encode, links_message, robot
from tests.robot.test_receivers import wait_for
from tests.web.helpers import Clock, running_demo


class Thread:
    """A stand-in thread for the rule test: dies and restarts on command."""

    def __init__(self, failures: int = 0) -> None:
        self.running, self.failures, self.starts = True, failures, 0

    def restart(self) -> None:
        self.starts += 1
        if self.failures:
            self.failures -= 1
            raise OSError("port still gone")
        self.running = True


def test_a_dead_thread_is_restarted_after_a_doubling_back_off(caplog) -> None:
    clock, thread = Clock(), Thread(failures=1)
    item = Supervised("robot-state receiver x", lambda: thread.running, thread.restart)
    supervisor = Supervisor([item], clock=clock)
    supervisor.check()
    assert thread.starts == 0  # alive: nothing to do
    thread.running = False
    with caplog.at_level(logging.WARNING, logger="safetymon.monitor.supervisor"):
        supervisor.check()  # noticed and logged, not yet restarted
        assert thread.starts == 0 and "stopped (STOP until it runs again)" in caplog.text
        clock.now += FIRST_BACKOFF_S
        supervisor.check()  # the first restart fails: logged, the next waits twice as long
        assert thread.starts == 1 and "restarting robot-state receiver x failed" in caplog.text
        supervisor.check()
        clock.now += 2 * FIRST_BACKOFF_S - 0.01
        supervisor.check()
        assert thread.starts == 1
        clock.now += 0.02
        supervisor.check()
        assert thread.starts == 2 and thread.running and item.restarts == 2
        assert "robot-state receiver x restarted (restart 2)" in caplog.text


def test_a_receiver_whose_socket_died_is_reopened_and_its_fault_cleared() -> None:
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.bind("tcp://127.0.0.1:*")
    endpoint = pub.getsockopt_string(zmq.LAST_ENDPOINT)
    store = RobotStateStore([robot(max_state_age_s=5.0)])
    receivers = [ZmqStateReceiver(store, ZmqStateInputConfig(endpoint=endpoint), ["arm1"])]
    receivers[0].start()
    sequence = 0

    def delivered(before: int) -> bool:
        nonlocal sequence
        sequence += 1
        pub.send_multipart([b"robot_state", encode(links_message(sequence, sequence))])
        return store.counters().accepted > before

    def reopen() -> None:
        receivers[0] = receivers[0].reopened()

    supervisor = Supervisor([Supervised("receiver", lambda: receivers[0].alive, reopen)])
    supervisor.start()
    try:
        wait_for(lambda: delivered(0))
        receivers[0]._sock.close(0)  # the socket dies under the thread: ZMQError, thread ends
        wait_for(lambda: store.snapshot("arm1", time.monotonic()).fault is not None)
        assert "safetymon-robot-zmq failed" in store.snapshot("arm1", time.monotonic()).fault
        accepted = store.counters().accepted
        wait_for(lambda: delivered(accepted), timeout_s=15)  # reopened: states flow again
        assert store.snapshot("arm1", time.monotonic()).fault is None
        assert supervisor.items[0].restarts == 1
    finally:
        supervisor.stop()
        receivers[0].close()
        pub.close(0)
        ctx.term()


@pytest.mark.slow
def test_the_monitor_takes_its_dead_input_threads_back(tmp_path: Path) -> None:
    with running_demo(tmp_path) as cell:
        monitor = cell.monitor

        def robot_fresh() -> bool:
            snapshot = monitor.robots.snapshots(time.monotonic())[0]
            return snapshot.fault is None and snapshot.age_s < 0.5

        wait_for(robot_fresh, 30)
        old = monitor._receivers[0]
        old._sock.close(0)  # the receiver thread dies
        wait_for(lambda: not old.alive, 10)
        wait_for(lambda: monitor._receivers[0] is not old and robot_fresh(), 15)

        camera = monitor.hub.camera_ids[0]
        frames = monitor.hub.views()[camera].frames
        worker = monitor.hub._cameras[camera].thread
        with monitor.hub._lock:  # make the worker's next tracker update fail hard
            tracker = monitor.hub._tracker
            real_update = tracker.update

            def dying_update(*args, **kwargs):
                tracker.update = real_update  # once only
                raise SystemExit("tracker bug")

            tracker.update = dying_update
        wait_for(lambda: not worker.is_alive(), 10)
        statuses = monitor.hub.camera_statuses(time.monotonic())
        assert "camera worker failed: SystemExit" in (statuses[0].detector_fault or "")
        wait_for(lambda: monitor.hub.views()[camera].frames > frames + 5, 15)
        assert monitor.hub.worker_alive(camera)
        assert monitor.hub.camera_statuses(time.monotonic())[0].detector_fault is None
        assert [item.restarts for item in monitor.supervisor.items] == [1, 1]
