"""`safetymon run`: the live monitor of one site.

Exit codes: 0 after SIGINT/SIGTERM (or ``--duration``) with STOP published and evidence
flushed; 1 when a part cannot be opened (output endpoint in use, evidence store broken,
robot input unavailable); 2 when the configuration is invalid, before anything starts.
SIGUSR1 is the operator reset (``safety.startup_requires_reset``, latched causes): only
the process's owner (or root) can send it.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from safetymon.config.loader import ConfigError, load_site_config
from safetymon.monitor.app import Monitor, MonitorParts, status_line
from safetymon.monitor.sd_notify import LoopNotifier, SystemdNotifier
from safetymon.web.cli import add_http_argument, resolve_http


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `run` command."""
    parser = subparsers.add_parser(
        "run",
        help="run the live monitor: cameras, robot state, decision, outputs, evidence",
        description=(
            "Watch the cell and signal RUN/SLOW/STOP until SIGINT or SIGTERM (then STOP is "
            "published and the evidence flushed). SIGUSR1 requests an operator reset."
        ),
    )
    parser.add_argument("--config", required=True, help="site configuration (YAML)")
    parser.add_argument("--zmq", metavar="ENDPOINT", help="publish on this endpoint instead")
    parser.add_argument(
        "--evidence", metavar="DB", help="evidence database (default: evidence.db_path)"
    )
    parser.add_argument(
        "--duration", type=float, metavar="S", help="stop after S seconds (commissioning, tests)"
    )
    parser.add_argument("--models-dir", help="folder of models/manifest.yaml")
    parser.add_argument("--no-status", action="store_true", help="no live status line")
    add_http_argument(parser)
    parser.add_argument(
        "--log-level", default="WARNING", choices=("DEBUG", "INFO", "WARNING", "ERROR")
    )
    parser.set_defaults(func=run)


SYSLOG_PRIORITY = {
    logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6,
    logging.DEBUG: 7,
}  # fmt: skip
"""Python log level → syslog priority, for journald's ``<N>`` line prefix (sd-daemon(3))."""


class JournalFormatter(logging.Formatter):
    """One line per event for journald: ``<N>LEVEL thread logger: message``.

    journald stamps the time itself and reads the priority from the ``<N>`` prefix; a
    traceback stays in the same line (its lines joined with `` | ``) so an event is one
    journal entry.
    """

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(threadName)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record).replace("\r", "").replace("\n", " | ")
        priority = SYSLOG_PRIORITY.get(record.levelno, 6 if record.levelno < 30 else 3)
        return f"<{priority}>{text}"


def configure_logging(level: str, environ: dict[str, str] | None = None) -> None:
    """Log to stderr: with time and thread on a terminal (the status line shares it); in
    journald's form when stderr is the journal (``JOURNAL_STREAM`` set by systemd)."""
    env = os.environ if environ is None else environ
    handler = logging.StreamHandler(sys.stderr)
    if env.get("JOURNAL_STREAM"):
        handler.setFormatter(JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"
        ))  # fmt: skip
    logging.basicConfig(level=getattr(logging, level), handlers=[handler])


def build_monitor(args: argparse.Namespace, parts: MonitorParts) -> Monitor | int:
    """Load the site and build the monitor, or return the exit code of the refusal."""
    site_file = Path(args.config)
    try:
        config = load_site_config(site_file)
        args.http_settings = resolve_http(args, config.monitor.http, site_file.parent)
        return Monitor.build(config, site_file.parent, site_file=site_file, parts=parts)
    except ConfigError as error:
        for issue in error.issues:
            print(f"error: {issue}", file=sys.stderr)
        print("error: configuration invalid; nothing was started", file=sys.stderr)
        return 2
    except ValueError as error:  # live view settings: token file, non-loopback host
        print(f"error: {site_file}: monitor.http: {error}", file=sys.stderr)
        print("error: configuration invalid; nothing was started", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def run_until_stopped(
    monitor: Monitor,
    duration_s: float | None,
    on_tick: Callable[[], None] | None = None,
) -> str:
    """Start the monitor and wait for SIGINT/SIGTERM or ``duration_s``; return why it ended.

    SIGUSR1 requests an operator reset while it runs. The caller stops the monitor.
    """
    done = threading.Event()
    why = {"reason": f"ran for {duration_s} s"}

    def on_stop(signum: int, _frame: object) -> None:
        why["reason"] = f"received {signal.Signals(signum).name}"
        done.set()

    def on_reset(_signum: int, _frame: object) -> None:
        monitor.request_reset()

    previous = {
        sig: signal.signal(sig, handler)
        for sig, handler in (
            (signal.SIGINT, on_stop),
            (signal.SIGTERM, on_stop),
            (signal.SIGUSR1, on_reset),
        )
    }
    try:
        monitor.start()
        deadline = None if duration_s is None else duration_s
        waited = 0.0
        while not done.is_set():
            step = 0.1 if deadline is None else min(0.1, max(0.0, deadline - waited))
            if deadline is not None and waited >= deadline:
                break
            done.wait(step)
            waited += step
            if on_tick is not None:
                on_tick()
            if not monitor.loop.alive:
                why["reason"] = "the decision loop ended unexpectedly"
                break
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return why["reason"]


def run(args: argparse.Namespace) -> int:
    """Run the live monitor until SIGINT/SIGTERM (or ``--duration``)."""
    configure_logging(args.log_level)
    if args.duration is not None and not args.duration > 0:
        print(f"error: --duration must be > 0, got {args.duration}", file=sys.stderr)
        return 2
    parts = MonitorParts(
        zmq_endpoint=args.zmq,
        evidence_db=Path(args.evidence) if args.evidence else None,
        status_stream=None if args.no_status else sys.stderr,
        models_dir=Path(args.models_dir) if args.models_dir else None,
    )
    monitor = build_monitor(args, parts)
    if isinstance(monitor, int):
        return monitor
    systemd = SystemdNotifier()  # a no-op unless run by systemd with Type=notify
    notifier = None
    if systemd.enabled:
        notifier = LoopNotifier(
            systemd, monitor.loop.period_s, monitor.config.monitor.overrun_factor, status_line
        )
        monitor.loop.add_listener(notifier)
    recorder = monitor.recorder
    print(
        f"safetymon run: site {monitor.config.site!r}, pid {os.getpid()}, publishing on "
        f"{monitor.zmq_endpoint or 'no ZeroMQ output'}, evidence "
        f"{recorder.db_path if recorder else 'off'}"
        + (f", DDS on {dds.endpoint}" if (dds := monitor.outputs.dds_output) else "")  # type: ignore[attr-defined]
        + (f", metrics on port {monitor.metrics_port}" if monitor.metrics_port else ""),
        file=sys.stderr,
        flush=True,
    )
    server = None
    settings = args.http_settings
    if settings is not None:
        from safetymon.web import attach

        try:
            server = attach(
                monitor, monitor.config, Path(args.config).parent, host=settings.host,
                port=settings.port, token=settings.token, allow_remote=settings.allow_remote,
            )  # fmt: skip
        except (OSError, ValueError, ConfigError) as error:
            print(f"error: live view: {error}", file=sys.stderr)
            monitor.stop(reason=f"live view failed to start: {error}", clean=False)
            return 1
        print(f"safetymon run: live view on {server.url}", file=sys.stderr, flush=True)
    try:
        reason = run_until_stopped(monitor, args.duration)
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        monitor.stop(reason=f"failed to start: {error}", clean=False)
        return 1
    finally:
        if server is not None:
            server.stop()
    clean = reason.startswith(("received", "ran for"))
    if notifier is not None:
        notifier.stopping(reason)
    monitor.stop(reason=reason, clean=clean)
    systemd.close()
    where = f"{recorder.episodes} episode(s) in {recorder.db_path}" if recorder else "not recorded"
    print(f"safetymon run: {reason}; STOP published; evidence: {where}", file=sys.stderr)
    return 0 if clean else 1
