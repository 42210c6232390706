"""Restart input threads that died, with the cell in STOP until they run again.

The monitor's input threads (one robot-state receiver per input, one detection worker per
camera) each turn their own death into a fault the decision sees (the receiver marks its
robots' state invalid, the worker its camera's detector as failed): STOP. Without more, that
STOP lasts until the process restarts. The supervisor watches them (``CHECK_S``) and
restarts a dead one after a back-off that doubles with each restart of the same thread
(``FIRST_BACKOFF_S`` up to ``MAX_BACKOFF_S``), logging each death and restart. The fault
clears only when the restarted thread runs (its own next good input then lets RUN come back
through the decision's restart delay). A restart that fails (a port still gone) is logged
and tried again after the next back-off.

Not supervised: the decision loop (its death ends ``safetymon run`` with STOP and exit 1,
for the service manager to restart the whole process: a loop that died may have died of a
state that a restart in place would keep), and the output heartbeats (their death shows as
the controller's own watchdog STOP).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

CHECK_S = 0.2
"""How often the threads are checked, seconds."""
FIRST_BACKOFF_S = 0.5
"""Wait before the first restart of a thread, seconds; doubled for each further restart."""
MAX_BACKOFF_S = 30.0


@dataclass
class Supervised:
    """One restartable thread.

    Attributes:
        name: what it is, for the log ("robot-state receiver tcp://...", "camera cam1").
        alive: whether it runs now.
        restart: start it again (raises when it cannot, e.g. the port is gone).
        restarts: restarts so far.
    """

    name: str
    alive: Callable[[], bool]
    restart: Callable[[], None]
    restarts: int = 0
    _due_s: float | None = field(default=None, repr=False)


class Supervisor:
    """Checks ``items`` every ``CHECK_S`` in its own thread and restarts dead ones.

    Args:
        items: the threads to watch (more may be added before ``start``).
        clock: monotonic seconds.
    """

    def __init__(
        self, items: Sequence[Supervised] = (), clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.items = list(items)
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start watching."""
        self._thread = threading.Thread(target=self._run, name="safetymon-supervisor",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop watching (before the watched threads are stopped on purpose)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def check(self) -> None:
        """One round: note dead threads, restart those whose back-off has passed."""
        now = self._clock()
        for item in self.items:
            try:
                if item.alive():
                    item._due_s = None
                    continue
                if item._due_s is None:
                    wait = min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2.0**item.restarts)
                    item._due_s = now + wait
                    log.error("%s stopped (STOP until it runs again); restarting in %.1f s",
                              item.name, wait)  # fmt: skip
                    continue
                if now < item._due_s:
                    continue
                item.restarts += 1
                item._due_s = None
                item.restart()
                log.warning("%s restarted (restart %d)", item.name, item.restarts)
            except Exception:  # a failed restart: next back-off, never the supervisor's end
                log.exception("restarting %s failed; trying again later", item.name)

    def _run(self) -> None:
        while not self._stop.wait(CHECK_S):
            self.check()
