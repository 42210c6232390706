"""`safetymon run` speaks the systemd notify protocol (issue 16, item 2).

A real Unix datagram socket stands in for systemd's ``NOTIFY_SOCKET``. First the rule with
a decision loop on a hand-moved clock (pings only while the loop keeps its rate), then
`safetymon run` as a real process: READY once deciding, STATUS lines, WATCHDOG pings that
stop while the process is stopped (SIGSTOP) and come back after, STOPPING at the end, and
journald's line format when stderr is the journal.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from safetymon.cli.run_cmd import JournalFormatter
from safetymon.config.loader import load_site_config
from safetymon.monitor.decision_loop import DecisionLoop
from safetymon.monitor.sd_notify import LoopNotifier, SystemdNotifier
from safetymon.safety.decision import DecisionEngine
from safetymon.safety.inputs import CycleInput
from safetymon.safety.site import compile_site
from tests.monitor import run_site
from tests.monitor.run_site import FrameSet, end_process, write_site
from tests.web.helpers import Clock

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def frame_set(tmp_path_factory: pytest.TempPathFactory) -> FrameSet:
    """The rendered empty cell (``run_site.render_frame_set``)."""
    return run_site.render_frame_set(tmp_path_factory.mktemp("cell-frames"))


def receiver(tmp_path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(0.05)
    return sock


def drain(sock: socket.socket, seconds: float) -> list[tuple[float, str]]:
    """Datagrams received within ``seconds``, with their arrival times."""
    out, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            out.append((time.monotonic(), sock.recv(4096).decode()))
        except TimeoutError:
            continue
    return out


class Collector:
    """Reads the notify socket in a thread, as systemd does (a Unix datagram socket queues
    only ~10 unread datagrams; beyond them sends fail with EAGAIN)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.messages, self._stop = sock, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except (TimeoutError, OSError):
                continue

    def stop(self) -> list[str]:
        time.sleep(0.1)
        self._stop.set()
        self._thread.join(2)
        return self.messages


def test_pings_only_while_the_loop_keeps_its_rate(tmp_path: Path) -> None:
    sock = receiver(tmp_path)
    collector = Collector(sock)
    env = {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "300000"}
    notifier = SystemdNotifier(env)
    assert notifier.enabled and notifier.watchdog_interval_s == pytest.approx(0.1)
    config = load_site_config(REPO / "zones" / "demo-cell.yaml")
    clock = Clock()
    loop = DecisionLoop(DecisionEngine(compile_site(config)), lambda now: CycleInput(time_s=now),
                        lambda decision: None, clock=clock)  # fmt: skip
    listener = LoopNotifier(notifier, loop.period_s, 3.0, lambda record: "state line")
    loop.add_listener(listener)
    for _ in range(100):  # 1 s on time: READY, then a ping every 0.1 s
        loop.run_cycle()
        clock.now += loop.period_s
    on_time = listener.pings
    assert 9 <= on_time <= 10
    clock.now += 0.5  # the loop stalls for half a second
    loop.run_cycle()
    assert listener.pings == on_time  # the late cycle does not ping
    clock.now += loop.period_s
    loop.run_cycle()
    assert listener.pings == on_time + 1  # on time again
    listener.stopping("received SIGTERM")
    messages = collector.stop()
    assert messages[0] == "READY=1\nSTATUS=state line"
    assert messages.count("WATCHDOG=1") == on_time + 1
    assert "STATUS=state line" in messages
    assert messages[-1] == "STOPPING=1\nSTATUS=stopping: received SIGTERM"
    notifier.close()
    sock.close()


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = SystemdNotifier({})
    assert not notifier.enabled and notifier.watchdog_interval_s is None
    assert notifier.send("READY=1") is False
    other = SystemdNotifier({"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"})
    assert other.address == "\0x" and other.watchdog_interval_s is None  # pings are not ours
    other.close()


def test_journal_lines_carry_the_priority_and_stay_one_line() -> None:
    formatter = JournalFormatter()
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("safetymon.x", logging.ERROR, __file__, 1, "failed: %s",
                                   ("a\nb",), exc_info=sys.exc_info())  # fmt: skip
    line = formatter.format(record)
    assert line.startswith("<3>ERROR ") and "\n" not in line
    assert "failed: a | b" in line and "ValueError: boom" in line


@pytest.mark.slow
def test_safetymon_run_notifies_systemd(tmp_path: Path, frame_set: FrameSet) -> None:
    sock = receiver(tmp_path)
    site = write_site(tmp_path / "site", frame_set)
    env = {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "600000",
           "JOURNAL_STREAM": "8:12345"}  # fmt: skip
    sim = run_site.start_robot_sim(site)
    monitor = run_site.start_monitor(site, env=env)
    try:
        first = drain(sock, 0.0)
        deadline = time.monotonic() + run_site.STARTUP_TIMEOUT_S
        while not any(m.startswith("READY=1") for _, m in first):
            assert time.monotonic() < deadline, monitor.stderr()[-2000:]
            first += drain(sock, 0.5)
        running_pings = [t for t, m in drain(sock, 2.0) if m == "WATCHDOG=1"]
        assert len(running_pings) >= 5  # every 0.2 s
        monitor.send(signal.SIGSTOP)  # the loop stalls: no pings
        stopped = drain(sock, 1.5)
        monitor.send(signal.SIGCONT)
        assert [m for _, m in stopped if m == "WATCHDOG=1"] == []
        after = [m for _, m in drain(sock, 2.0)]
        assert after.count("WATCHDOG=1") >= 5  # back on time, pinging again
        assert any(m.startswith("STATUS=") for m in after)
        monitor.process.terminate()
        monitor.wait(30)
        assert any(m.startswith("STOPPING=1") for _, m in drain(sock, 0.5))
        lines = [line for line in monitor.stderr().splitlines() if line.startswith("<")]
        assert lines and all(line[:3] in ("<2>", "<3>", "<4>", "<6>", "<7>") for line in lines)
    finally:
        end_process(monitor.process)
        end_process(sim)
        sock.close()
