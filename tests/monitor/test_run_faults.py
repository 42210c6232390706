"""Fail-safe paths of `safetymon run`, each with the real process.

Every case starts `safetymon run` as a subprocess on a test-written site (the rendered demo
cell as an image glob, a `safetymon robot-sim` subprocess for the arm's state), a real
`SafetyClient` on its ZeroMQ output in this process, waits for RUN (the monitor was healthy
before the fault), injects the fault for real and checks that the client sees STOP with the
fault's reason within the fault's configured limit plus `SLACK_S` (2 shared cores).
The shared helpers (site, frames, processes, injections) are in `tests/monitor/run_site.py`;
`benchmarks/bench_faults.py` measures the same scenarios into the fault table.
"""

from __future__ import annotations

import signal
import time
import urllib.request
from pathlib import Path

import pytest

from safetymon.signals.frame import SafetyState
from safetymon.signals.keys import generate_keypair
from safetymon.signals.reasons import Reason
from tests.monitor import run_site
from tests.monitor.run_site import (
    SLACK_S,
    WATCHDOG_S,
    Controller,
    FrameSet,
    InputFault,
    end_process,
    port_is_free,
    reasons_text,
    run_cli,
    run_records,
    running,
    start_monitor,
    wait_healthy,
    write_site,
)


@pytest.fixture(scope="session")
def frame_set(tmp_path_factory: pytest.TempPathFactory) -> FrameSet:
    """The rendered empty cell: reference, noisy frames and a smaller frame (written once)."""
    return run_site.render_frame_set(tmp_path_factory.mktemp("cell-frames"))


@pytest.mark.parametrize("fault", run_site.INPUT_FAULTS, ids=lambda f: f.name.split(" (")[0])
def test_input_fault_stops_within_its_limit(
    tmp_path: Path, frame_set: FrameSet, fault: InputFault
) -> None:
    """Camera unplugged/stalled/frozen, detector raising, robot state silent → STOP + reason."""
    outcome = run_site.measure_input_fault(tmp_path, frame_set, fault)
    assert outcome.seen is not None, (
        f"{fault.name}: no STOP with {fault.reason.name} at the controller; it saw "
        f"{[(round(s.time_s, 3), s.state) for s in (outcome.first_after,) if s]}"
    )
    print(
        f"{fault.name}: STOP {reasons_text(outcome.seen.state.reasons)} after "
        f"{outcome.reaction_s * 1000:.0f} ms (limit {outcome.limit_text})"
    )
    assert outcome.seen.state.cause == "frame"  # the monitor said it, not the watchdog
    if fault.logged is not None:  # and the check meant to catch it did
        assert fault.logged in outcome.monitor_stderr, outcome.monitor_stderr[-2000:]
    assert outcome.reaction_s <= fault.limit_s + SLACK_S
    first = outcome.first_after
    assert first is not None and first.state.state is SafetyState.STOP, (
        f"the first change after the fault was not a STOP: {first}"
    )


def test_loop_overrun_stops_and_recovers_after_restart_delay(
    tmp_path: Path, frame_set: FrameSet
) -> None:
    """SIGSTOP for 0.8 s: the watchdog STOPs; after SIGCONT frames say LOOP_OVERRUN, then RUN."""
    outcome = run_site.measure_pause(tmp_path, frame_set, pause_s=0.8)
    assert outcome.watchdog is not None, "the controller's watchdog did not STOP during the pause"
    assert outcome.watchdog_s <= WATCHDOG_S + SLACK_S
    assert outcome.resumed is not None, "no frame accepted after SIGCONT"
    assert outcome.resumed.state.state is SafetyState.STOP
    assert outcome.resumed.state.reasons & Reason.LOOP_OVERRUN, (
        f"first frame after the pause: {reasons_text(outcome.resumed.state.reasons)}"
    )
    assert outcome.run_again is not None, "RUN never came back after the pause"
    assert outcome.overrun is not None
    # RUN needs every cause clear for the restart delay, counted from the overrun frame
    assert outcome.run_again.time_s - outcome.overrun.time_s >= run_site.RESTART_DELAY_S - 0.05
    print(
        f"pause: watchdog STOP after {outcome.watchdog_s * 1000:.0f} ms, LOOP_OVERRUN "
        f"{outcome.overrun_s * 1000:.0f} ms after SIGCONT, RUN again after "
        f"{outcome.run_again_s:.2f} s"
    )


def kill_sender_once_healthy(controller, monitor, sim) -> None:
    """Wait for a healthy RUN, SIGKILL robot-sim and wait for STOP ROBOT_STATE_STALE."""
    wait_healthy(controller, monitor)
    assert sim is not None
    killed = time.monotonic()
    sim.kill()
    stop = controller.wait_stop(5.0, killed, Reason.ROBOT_STATE_STALE)
    assert stop is not None, monitor.stderr()[-3000:]


def test_restarted_robot_state_sender_is_accepted_and_run_returns(
    tmp_path: Path, frame_set: FrameSet
) -> None:
    """robot-sim killed: STOP ROBOT_STATE_STALE; a new robot-sim (sequence from 1, a new
    session): its states are accepted, the restart is logged and counted, and RUN comes back."""
    metrics_port = run_site.free_port()

    def with_metrics(site: dict) -> None:
        site["monitor"]["metrics"] = {"enabled": True, "port": metrics_port}

    site = write_site(tmp_path, frame_set, edit=with_metrics)
    with running(site) as (monitor, controller, sim):
        kill_sender_once_healthy(controller, monitor, sim)
        time.sleep(0.5)  # the old sender is gone for good
        restarted = time.monotonic()
        second = run_site.start_robot_sim(site)
        try:
            again = controller.wait_run(30.0, restarted)
            assert again is not None, monitor.stderr()[-3000:]
            # RUN only after every cause has been clear for the restart delay
            assert again.time_s - restarted >= run_site.RESTART_DELAY_S - 0.05
            url = f"http://127.0.0.1:{metrics_port}/metrics"
            with urllib.request.urlopen(url, timeout=10) as response:
                metrics = response.read().decode()
        finally:
            end_process(second)
        assert "sender restarted (session" in monitor.stderr()
        assert 'safetymon_robot_sender_restarts{robot="arm1"} 1.0' in metrics


def test_curve_robot_state_runs_and_a_forger_without_the_key_is_refused(
    tmp_path: Path, frame_set: FrameSet
) -> None:
    """Issue 15, finding 1: the robot-state input authenticated with CURVE.

    The monitor holds the controller's public key: robot-sim with the matching secret key
    brings it to RUN. Then the real sender dies and a forger (robot-sim with a key pair of its
    own) binds the same port: not one of its states is taken; STOP ROBOT_STATE_STALE holds
    and the failed handshakes are logged.
    """
    public, secret = generate_keypair(tmp_path / "keys", "arm1")
    _, forged = generate_keypair(tmp_path / "forger", "arm1")

    def with_key(site: dict) -> None:
        site["robots"][0]["state_input"]["curve_server_key_file"] = str(public)

    site = write_site(tmp_path, frame_set, edit=with_key)
    with running(site, robot_extra=("--curve-secret-key", str(secret))) as (
        monitor, controller, sim,
    ):  # fmt: skip
        kill_sender_once_healthy(controller, monitor, sim)
        forger = run_site.start_robot_sim(
            site, tmp_path / "forger.log", "--curve-secret-key", str(forged)
        )
        try:
            forged_at = time.monotonic()
            again = controller.wait_run(4.0, forged_at)
            assert again is None, "RUN came back with a forger's states"
        finally:
            end_process(forger)
        assert "CURVE handshake" in monitor.stderr(), monitor.stderr()[-3000:]


@pytest.mark.slow
def test_sigkill_then_restart_starts_in_stop_and_needs_reset(
    tmp_path: Path, frame_set: FrameSet
) -> None:
    """SIGKILL → watchdog STOP; restarted on the same evidence: STOP until SIGUSR1, then RUN."""
    site = write_site(tmp_path, frame_set, startup_requires_reset=True)
    with running(site) as (monitor, controller, sim):
        awaiting = controller.wait_until(
            lambda s: s.cause == "frame" and bool(s.reasons & Reason.AWAITING_RESET), 60.0
        )
        assert awaiting is not None and awaiting.state.state is SafetyState.STOP
        time.sleep(run_site.RESTART_DELAY_S + 0.5)  # inputs up; only the reset missing
        assert controller.client.status.state is SafetyState.STOP
        assert not [s for s in controller.changes if s.state.state is not SafetyState.STOP]
        monitor.send(signal.SIGUSR1)
        wait_healthy(controller, monitor)

        killed = time.monotonic()
        monitor.process.kill()
        stop = controller.wait_until(lambda s: s.state is SafetyState.STOP, 5.0, killed)
        assert stop is not None and stop.state.cause == "watchdog"
        assert stop.time_s - killed <= WATCHDOG_S + SLACK_S
        assert monitor.wait(10.0) == -signal.SIGKILL

        restarted = time.monotonic()
        second = start_monitor(site, name="run2")
        try:
            first = controller.wait_until(lambda s: s.cause == "frame", 60.0, restarted)
            assert first is not None, second.stderr()[-3000:]
            assert first.state.state is SafetyState.STOP
            assert first.state.reasons & Reason.STARTUP
            awaiting = controller.wait_until(
                lambda s: s.cause == "frame" and bool(s.reasons & Reason.AWAITING_RESET),
                60.0,
                restarted,
            )
            assert awaiting is not None
            # once only the latched start-up cause is left (inputs up, restart delay over),
            # it must stay STOP without a reset
            pending = Reason.CAMERA_STALE | Reason.ROBOT_STATE_STALE | Reason.RESTART_DELAY
            only_reset = controller.wait_until(
                lambda s: (
                    s.cause == "frame"
                    and bool(s.reasons & Reason.AWAITING_RESET)
                    and not s.reasons & pending
                ),
                60.0,
                restarted,
            )
            assert only_reset is not None, second.stderr()[-3000:]
            time.sleep(run_site.RESTART_DELAY_S + 0.5)
            before_reset = controller.since(restarted)
            assert all(s.state.state is SafetyState.STOP for s in before_reset), before_reset
            assert controller.client.status.reasons & Reason.AWAITING_RESET
            reset = time.monotonic()
            second.send(signal.SIGUSR1)
            run_again = controller.wait_run(10.0, reset)
            assert run_again is not None, second.stderr()[-3000:]
            assert sim is not None and sim.poll() is None
            second.send(signal.SIGTERM)
            assert second.wait(20.0) == 0, second.stderr()[-3000:]
        finally:
            end_process(second.process)

    verified = run_cli("verify", "--db", str(site.evidence_db))
    assert verified.returncode == 0, verified.stderr + verified.stdout
    runs = run_records(site.evidence_db)
    kinds = [kind for kind, _ in runs]
    # the killed run has no run_stop; the second run stops cleanly
    assert kinds == ["run_start", "run_start", "run_stop"], kinds
    assert runs[-1][1]["clean"] is True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_publishes_stop_flushes_and_exits_0(
    tmp_path: Path, frame_set: FrameSet, sig: signal.Signals
) -> None:
    """SIGTERM/SIGINT: exit 0, the last frame is STOP SHUTDOWN, the evidence run is closed."""
    site = write_site(tmp_path, frame_set)
    with running(site) as (monitor, controller, _sim):
        wait_healthy(controller, monitor)
        sent = time.monotonic()
        monitor.send(sig)
        assert monitor.wait(20.0) == 0, monitor.stderr()[-3000:]
        frames = [s for s in controller.since(sent) if s.state.cause == "frame"]
        assert frames, "no frame after the signal"
        last = frames[-1].state
        assert last.state is SafetyState.STOP
        assert last.reasons & Reason.SHUTDOWN, reasons_text(last.reasons)
    assert f"received {sig.name}" in monitor.stderr()
    verified = run_cli("verify", "--db", str(site.evidence_db))
    assert verified.returncode == 0, verified.stderr + verified.stdout
    runs = run_records(site.evidence_db)
    assert [kind for kind, _ in runs] == ["run_start", "run_stop"]
    assert runs[-1][1]["clean"] is True
    assert runs[-1][1]["reason"] == f"received {sig.name}"


@pytest.mark.slow
def test_sigterm_with_a_blocked_camera_read_still_exits_0(
    tmp_path: Path, frame_set: FrameSet
) -> None:
    """A capture thread stuck in a read (FIFO) must not keep the process from shutting down."""
    site = write_site(tmp_path, frame_set)
    with running(site) as (monitor, controller, _sim):
        wait_healthy(controller, monitor)
        stalled = run_site.stall_camera(site)
        assert controller.wait_stop(5.0, stalled, Reason.CAMERA_STALE) is not None
        sent = time.monotonic()
        monitor.send(signal.SIGTERM)  # the camera thread is still blocked opening the FIFO
        assert monitor.wait(20.0) == 0, monitor.stderr()[-3000:]
        print(f"exit with a blocked camera read took {time.monotonic() - sent:.2f} s")
        frames = [s for s in controller.since(sent) if s.state.cause == "frame"]
        assert frames and frames[-1].state.reasons & Reason.SHUTDOWN
    verified = run_cli("verify", "--db", str(site.evidence_db))
    assert verified.returncode == 0, verified.stderr + verified.stdout


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("max_frame_age_s", -0.5, "max_frame_age_s"),
        ("frozen_after_frames", 1, "frozen_after_frames"),
        ("no_such_field", 3, "no_such_field"),
    ],
)
def test_config_error_exits_2_before_anything_starts(
    tmp_path: Path, frame_set: FrameSet, field: str, value: object, named: str
) -> None:
    """An invalid site: exit 2 naming the field; no port bound, no evidence db created."""

    def edit(site: dict) -> None:
        site["cameras"][0][field] = value

    site = write_site(tmp_path, frame_set, seconds_of_frames=1.0, edit=edit)
    controller = Controller(site.zmq_endpoint).start()
    try:
        monitor = start_monitor(site)
        rc = monitor.wait(60.0)
        # the controller never heard a frame: it stays in its start-up STOP
        assert controller.client.accepted == 0
    finally:
        controller.close()
    stderr = monitor.stderr()
    assert rc == 2, stderr
    assert f"site.yaml: cameras[0].{named}:" in stderr, stderr
    assert "nothing was started" in stderr
    assert not site.evidence_db.exists()
    assert not (site.folder / "snapshots").exists()
    assert port_is_free(site.zmq_port)
