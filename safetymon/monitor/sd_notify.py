"""The systemd notify protocol, spoken by ``safetymon run`` itself (no libsystemd needed).

Under a unit with ``Type=notify`` systemd sets ``NOTIFY_SOCKET`` (a Unix datagram socket path,
or an abstract name starting with ``@``) and, with ``WatchdogSec=``, ``WATCHDOG_USEC``. The
monitor sends one datagram per message (``sd_notify(3)``):

- ``READY=1`` once the first decision has been handed to the outputs;
- ``STATUS=...`` the state line (state, speed, reasons), at most once a second;
- ``WATCHDOG=1`` from the decision loop's own thread, every ``WATCHDOG_USEC / 3``, **only
  while the loop keeps its rate**: a cycle that started more than ``overrun_factor`` periods
  after the previous one sends nothing until the loop is back on time. A stalled or dead loop
  stops the pings and systemd kills and restarts the process (``Restart=on-failure``);
- ``STOPPING=1`` when the monitor stops.

This restarts the *software*. What stops the *robot* when the monitor stalls is the
controller's own watchdog on the safety frames (``hw/PROTOCOL.md``), well before systemd's.

Without ``NOTIFY_SOCKET`` every call is a no-op. A send that fails (the socket gone, its
buffer full) is dropped and logged once: notifying must never block or end the loop.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

from safetymon.monitor.decision_loop import CycleRecord

log = logging.getLogger(__name__)

STATUS_INTERVAL_S = 1.0
"""Shortest time between two STATUS messages, seconds."""


class SystemdNotifier:
    """Sends sd_notify datagrams to ``NOTIFY_SOCKET`` (a no-op without one).

    Args:
        environ: the process environment (``NOTIFY_SOCKET``, ``WATCHDOG_USEC``,
            ``WATCHDOG_PID``).
        clock: monotonic seconds.
    """

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self._clock = clock
        self._socket: socket.socket | None = None
        self._failed = False
        if self.address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.setblocking(False)
        pid = env.get("WATCHDOG_PID")
        usec = env.get("WATCHDOG_USEC", "")
        for_us = pid is None or (pid.isdigit() and int(pid) == os.getpid())
        self.watchdog_interval_s = (
            int(usec) / 1e6 / 3.0 if usec.isdigit() and int(usec) > 0 and for_us else None
        )

    @property
    def enabled(self) -> bool:
        """Whether a notify socket is configured."""
        return self._socket is not None

    def send(self, message: str) -> bool:
        """Send one message (``KEY=VALUE`` lines); False when disabled or it failed."""
        if self._socket is None:
            return False
        try:
            self._socket.sendto(message.encode("utf-8", errors="replace"), self.address)
            return True
        except OSError as error:
            if not self._failed:
                self._failed = True
                log.warning("systemd notify to %r failed (dropped): %s", self.address, error)
            return False

    def close(self) -> None:
        """Close the socket."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None


class LoopNotifier:
    """Decision-loop listener: READY, STATUS and the rate-gated WATCHDOG pings.

    Args:
        notifier: where the messages go.
        period_s: the decision loop's period, seconds.
        overrun_factor: a cycle starting later than this many periods after the previous
            one means the loop is not keeping its rate: no ping until it is again.
        status: the state line of a cycle record (``monitor.status.format_status``).
    """

    def __init__(
        self,
        notifier: SystemdNotifier,
        period_s: float,
        overrun_factor: float,
        status: Callable[[CycleRecord], str],
    ) -> None:
        self.notifier = notifier
        self.late_s = overrun_factor * period_s
        self._status = status
        self._ready = False
        self._previous_start: float | None = None
        self._last_ping: float = -float("inf")
        self._last_status: float = -float("inf")
        self.pings = 0

    def __call__(self, record: CycleRecord) -> None:
        """Called by the decision loop after each cycle (in its thread)."""
        start = record.cycle.time_s
        on_time = self._previous_start is not None and start - self._previous_start <= self.late_s
        self._previous_start = start
        now = record.signal_sent_s
        if not self._ready:
            self._ready = True
            self.notifier.send("READY=1\nSTATUS=" + self._status(record))
            self._last_status = now
        elif now - self._last_status >= STATUS_INTERVAL_S:
            self._last_status = now
            self.notifier.send("STATUS=" + self._status(record))
        interval = self.notifier.watchdog_interval_s
        due = interval is not None and on_time and now - self._last_ping >= interval
        if due and self.notifier.send("WATCHDOG=1"):
            self._last_ping = now
            self.pings += 1

    def stopping(self, reason: str) -> None:
        """Tell systemd the monitor is stopping."""
        self.notifier.send(f"STOPPING=1\nSTATUS=stopping: {reason}")
