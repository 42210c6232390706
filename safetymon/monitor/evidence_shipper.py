"""Continuous shipping of the monitor's evidence store to the central PostgreSQL.

A background thread runs ``safetymon.fleet.ship.ship_store`` (the same code as `safetymon
evidence ship`) every ``evidence.ship.interval_s`` seconds. It is off the real-time path by
construction: it reads the store through its own read-only SQLite connection (WAL: readers
never block the writer, and it never takes the writer's lock), talks to PostgreSQL on its
own connection, and nothing in the decision loop waits for it or reads its state. A slow,
absent or refusing centre only makes the centre's copy lag: the local store keeps recording
(the evidence writer is untouched) and the decision is unchanged. Shipping is not a safety
function, so a shipping failure is never a STOP cause; it is logged and exported as metrics.

Health (:class:`ShipperHealth`) is logged when it changes (the centre became unreachable,
the error changed, shipping resumed), not at every attempt; a refusal by the centre (the
local chain no longer extends what the centre accepted, another key, a bad signature) is
logged as an error and ends shipping until the monitor restarts (every retry would be
refused again and add a row to ``fleet_refusals``).

Units: seconds (monotonic unless named ``_utc``), records.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from safetymon.config.evidence import EvidenceShipConfig

log = logging.getLogger(__name__)

KEEPALIVE = {
    "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}  # fmt: skip
"""libpq parameters so that a centre that vanishes mid-transfer (cable pulled, host frozen)
fails the call within about 30 s instead of blocking the shipper forever."""


@dataclass(frozen=True)
class ShipperHealth:
    """The shipper's view of how far the centre holds the store.

    Attributes:
        state: ``starting``, ``ok`` (the last run succeeded), ``failing`` (the centre is
            unreachable or failed a request; retried every interval) or ``refused`` (the
            centre refused the store; shipping stopped).
        centre_seq: the last record the centre acknowledged (0: none known yet).
        local_seq: the store's last record when last looked at.
        lag_records: ``local_seq - centre_seq``.
        lag_s: age of the oldest record the centre does not hold (wall clock, seconds; 0
            when it holds everything).
        last_error: the last failure's message (None once a run succeeds).
        last_success_s: monotonic time of the last successful run (None: none yet).
    """

    state: str = "starting"
    centre_seq: int = 0
    local_seq: int = 0
    lag_records: int = 0
    lag_s: float = 0.0
    last_error: str | None = None
    last_success_s: float | None = None


class _StoppingError(Exception):
    """Raised from the batch callback to end a run early when the shipper is stopped."""


def _local_position(db_path: Path, centre_seq: int) -> tuple[int, float]:
    """(the store's head seq, age in seconds of its first record after ``centre_seq``).

    Read through a short-lived read-only connection (never the writer's)."""
    from safetymon.evidence.reader import open_readonly

    conn = open_readonly(db_path)
    try:
        row = conn.execute("SELECT MAX(seq) FROM records").fetchone()
        head = int(row[0] or 0)
        if head <= centre_seq:
            return head, 0.0
        first = conn.execute(
            "SELECT time_utc FROM records WHERE seq > ? ORDER BY seq LIMIT 1", (centre_seq,)
        ).fetchone()
    finally:
        conn.close()
    if first is None:
        return head, 0.0
    try:
        written = datetime.fromisoformat(str(first[0]).replace("Z", "+00:00"))
    except ValueError:
        return head, 0.0
    return head, max(0.0, (datetime.now(timezone.utc) - written).total_seconds())


class ShipperMetrics:
    """Prometheus gauges of the shipper in the monitor's registry."""

    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter, Gauge

        self.centre_seq = Gauge(
            "safetymon_evidence_shipped_seq",
            "Last evidence record the central PostgreSQL acknowledged.", registry=registry,
        )  # fmt: skip
        self.lag_records = Gauge(
            "safetymon_evidence_ship_lag_records",
            "Evidence records the centre does not hold yet.", registry=registry,
        )  # fmt: skip
        self.lag_s = Gauge(
            "safetymon_evidence_ship_lag_seconds",
            "Age of the oldest evidence record the centre does not hold (0: none).",
            registry=registry,
        )
        self.up = Gauge(
            "safetymon_evidence_ship_up",
            "1 when the last shipping run succeeded, else 0.", registry=registry,
        )  # fmt: skip
        self.refused = Gauge(
            "safetymon_evidence_ship_refused",
            "1 when the centre refused this store (shipping stopped), else 0.",
            registry=registry,
        )
        self.failures = Counter(
            "safetymon_evidence_ship_failures",
            "Shipping runs that failed (centre unreachable, lost, failing or refusing).",
            registry=registry,
        )

    def update(self, health: ShipperHealth) -> None:
        """Set the gauges from ``health``."""
        self.centre_seq.set(health.centre_seq)
        self.lag_records.set(health.lag_records)
        self.lag_s.set(health.lag_s)
        self.up.set(1 if health.state == "ok" else 0)
        self.refused.set(1 if health.state == "refused" else 0)


class EvidenceShipper:
    """Ships ``db_path`` to the centre of ``config`` from a daemon thread.

    Args:
        db_path: the monitor's evidence database (its key file ``<db>.key`` signs batches).
        config: the site's ``evidence.ship``.
        registry: the monitor's Prometheus registry (None: no metrics).
        on_health: called with the new health after every run (tests, live view).
    """

    def __init__(
        self,
        db_path: Path,
        config: EvidenceShipConfig,
        *,
        registry: Any = None,
        on_health: Callable[[ShipperHealth], None] | None = None,
    ) -> None:
        self.db_path = Path(db_path)
        self.config = config
        self.metrics = ShipperMetrics(registry) if registry is not None else None
        self.on_health = on_health
        self._health = ShipperHealth()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._abort = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Any = None
        self._last_full_audit_s = -float("inf")

    @property
    def health(self) -> ShipperHealth:
        """The latest health (a frozen copy; thread-safe)."""
        with self._lock:
            return self._health

    def start(self) -> None:
        """Start the thread (the first run begins at once)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="evidence-shipper", daemon=True)
        self._thread.start()

    def stop(self, *, final_run: bool = True, timeout_s: float = 5.0) -> None:
        """Stop the thread; with ``final_run`` ship once more (the run's last records) unless
        that takes longer than ``timeout_s`` seconds, in which case the run is abandoned at
        its next batch (what the centre acknowledged stays; the next start resumes)."""
        thread = self._thread
        if thread is None:
            return
        if not final_run:
            self._abort.set()
        self._stopping.set()
        self._wake.set()
        thread.join(timeout_s)
        if thread.is_alive():
            self._abort.set()
            thread.join(1.0)
            log.warning(
                "evidence shipping: stopped while the centre was still busy (it holds records "
                "up to #%d); the next start resumes", self.health.centre_seq,
            )  # fmt: skip
        self._thread = None

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        while not self._stopping.is_set():
            self.ship_once()
            if self.health.state == "refused":
                break
            self._wake.wait(self.config.interval_s)
        if not self._abort.is_set() and self.health.state != "refused":
            self.ship_once()
        self._close_connection()

    def ship_once(self) -> ShipperHealth:
        """One shipping run (connect if needed, ship what the centre lacks); never raises."""
        import psycopg

        from safetymon.evidence.reader import ReadError
        from safetymon.fleet.centre.ingest import Centre, RefusedError
        from safetymon.fleet.connect import CentreConnectionError
        from safetymon.fleet.schema import CentreSchemaError
        from safetymon.fleet.ship import ShipError, ship_store

        previous = self.health
        centre_seq = previous.centre_seq
        error: str | None = None
        refused = False

        def progress(accepted: Any) -> None:
            nonlocal centre_seq
            centre_seq = accepted.head_seq
            if self._abort.is_set():
                raise _StoppingError()

        try:
            conn = self._connection()
            full = time.monotonic() - self._last_full_audit_s >= self.config.full_audit_interval_s
            report = ship_store(
                self.db_path, Centre(conn), batch_rows=self.config.batch_rows,
                on_batch=progress, full_audit=full,
            )  # fmt: skip
            centre_seq = report.head_seq
            if full:
                self._last_full_audit_s = time.monotonic()
        except _StoppingError:
            pass
        except RefusedError as exc:
            error, refused = str(exc), True
        except (ShipError, CentreConnectionError, CentreSchemaError, ReadError) as exc:
            error = str(exc)
        except psycopg.Error as exc:  # migration or a call outside ship_store's wrapping
            error = f"the centre failed: {type(exc).__name__}: {str(exc).strip()}"
        except Exception as exc:  # a shipper bug must not end the thread silently
            error = f"unexpected {type(exc).__name__}: {exc}"
        if error is not None:
            self._close_connection()
        try:
            local_seq, lag_s = _local_position(self.db_path, centre_seq)
        except (ReadError, sqlite3.Error) as exc:
            local_seq, lag_s = previous.local_seq, previous.lag_s
            error = error or f"cannot read the local store: {exc}"
        now = time.monotonic()
        health = ShipperHealth(
            state="refused" if refused else ("failing" if error else "ok"),
            centre_seq=centre_seq,
            local_seq=local_seq,
            lag_records=max(0, local_seq - centre_seq),
            lag_s=lag_s,
            last_error=error,
            last_success_s=previous.last_success_s if error else now,
        )
        self._publish(previous, health)
        return health

    def _connection(self) -> Any:
        """The open centre connection, or a new one (migrated; a full audit follows)."""
        from safetymon.fleet.connect import connect
        from safetymon.fleet.schema import migrate

        if self._conn is not None and not self._conn.closed:
            return self._conn
        conn = connect(self.config.to, connect_timeout_s=self.config.connect_timeout_s,
                       **KEEPALIVE)  # fmt: skip
        try:
            migrate(conn)
        except Exception:
            conn.close()
            raise
        self._conn = conn
        self._last_full_audit_s = -float("inf")  # what happened while we were away?
        return conn

    def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _publish(self, previous: ShipperHealth, health: ShipperHealth) -> None:
        with self._lock:
            self._health = health
        if self.metrics is not None:
            self.metrics.update(health)
            if health.last_error is not None:
                self.metrics.failures.inc()
        _log_change(previous, health, self.config.to)
        if self.on_health is not None:
            with contextlib.suppress(Exception):
                self.on_health(replace(health))


def _log_change(previous: ShipperHealth, health: ShipperHealth, url: str) -> None:
    """Log a change of state or of the error message (not every attempt)."""
    from safetymon.fleet.connect import describe

    where = describe(url)
    if health.state == "refused":
        log.error(
            "evidence shipping to %s REFUSED by the centre (the local store no longer extends "
            "what the centre accepted: possible tampering): %s; shipping stopped until the "
            "monitor restarts; local recording continues", where, health.last_error,
        )  # fmt: skip
    elif health.state == "failing" and (
        previous.state != "failing" or previous.last_error != health.last_error
    ):
        log.warning(
            "evidence shipping to %s failing (retry every interval; local recording and the "
            "decision are not affected): %s; %d record(s) not shipped", where,
            health.last_error, health.lag_records,
        )  # fmt: skip
    elif health.state == "ok" and previous.state != "ok":
        log.info(
            "evidence shipping to %s %s: the centre holds records up to #%d (%d behind)",
            where, "resumed" if previous.state == "failing" else "running",
            health.centre_seq, health.lag_records,
        )  # fmt: skip
