"""Runs the live view's ASGI app with uvicorn in a daemon thread of the monitor process.

The listening socket is bound in :meth:`LiveServer.start` itself, so an address in use or a
refused bind is an ``OSError`` there (the monitor refuses to start), not a log line from a
thread. uvicorn installs no signal handlers outside the main thread, so SIGINT, SIGTERM and
SIGUSR1 stay the monitor's. The server's thread only reads what the monitor keeps; if it
dies, the live view is gone (``alive`` False, logged) and the monitor runs on.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp

from safetymon.web.security import check_bind_host

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0
"""Longest wait for the server to accept connections after binding, seconds."""


class LiveServer:
    """The live view's HTTP server.

    Args:
        app: the ASGI app (``create_app``).
        host: address to bind (an IP literal or ``localhost``).
        port: TCP port; 0 picks a free one (see :attr:`port` after ``start``).
        allow_remote: allow a non-loopback ``host``.

    Raises:
        RemoteBindError: ``host`` is not loopback and ``allow_remote`` is False.
        ValueError: port out of range.
    """

    def __init__(self, app: ASGIApp, host: str, port: int, *, allow_remote: bool = False) -> None:
        check_bind_host(host, allow_remote)
        if not 0 <= port <= 65535:
            raise ValueError(f"live view port must be 0..65535, got {port}")
        self.app = app
        self.host = host.strip("[]")
        self._requested_port = port
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.fault: str | None = None

    @property
    def port(self) -> int:
        """The bound TCP port (the requested one before ``start``)."""
        if self._socket is None:
            return self._requested_port
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        """Base URL of the view, e.g. ``http://127.0.0.1:8080``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def alive(self) -> bool:
        """Whether the server thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> LiveServer:
        """Bind, start serving in a daemon thread, and wait until it accepts connections.

        Raises:
            OSError: the address cannot be bound (names host and port) or the server did not
                come up.
        """
        if self._thread is not None:
            raise RuntimeError("live view server already started")
        self._socket = _bind(self.host, self._requested_port)
        config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            loop="asyncio",
            http="h11",
            ws="none",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="safetymon-live-view", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise OSError(
                    f"live view on {self.host}:{self.port} did not start: {self.fault or 'timeout'}"
                )
            time.sleep(0.01)
        log.info("live view serving on %s", self.url)
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """End open streams, stop the server and wait for its thread. Idempotent."""
        closing = getattr(getattr(self.app, "state", None), "closing", None)
        if isinstance(closing, threading.Event):
            closing.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("live view server did not stop within %.1f s", timeout_s)
        if self._socket is not None:
            self._socket.close()

    def _run(self) -> None:
        assert self._server is not None and self._socket is not None
        try:
            asyncio.run(self._server.serve(sockets=[self._socket]))
        except BaseException as exc:  # the view is gone; the monitor runs on (logged)
            self.fault = f"{type(exc).__name__}: {exc}"
            log.exception("live view server failed")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(64)
        sock.set_inheritable(True)
    except OSError as exc:
        sock.close()
        raise OSError(f"live view cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock
