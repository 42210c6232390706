"""Start the live view beside a running monitor (``safetymon run/demo --http HOST:PORT``)."""

from __future__ import annotations

from pathlib import Path

from safetymon.config.site import SiteConfig
from safetymon.monitor.app import Monitor
from safetymon.web.app import DEFAULT_MAX_FPS, create_app
from safetymon.web.security import LOOPBACK_HOSTS, check_bind_host, check_token
from safetymon.web.server import LiveServer
from safetymon.web.source import MonitorSource
from safetymon.web.zones import ZoneEditor


def attach(
    monitor: Monitor,
    config: SiteConfig,
    base_dir: Path,
    *,
    host: str,
    port: int,
    token: str | None,
    allow_remote: bool = False,
    max_fps: float = DEFAULT_MAX_FPS,
) -> LiveServer:
    """Serve the live view of ``monitor`` on ``host:port``; returns the started server.

    Call it after ``Monitor.build`` (before or after ``monitor.start``) and call the
    server's ``stop()`` when the monitor stops. The view never writes to the monitor except
    ``request_reset`` on an authenticated ``POST /api/reset``.

    Args:
        monitor: the monitor to show.
        config: its site.
        base_dir: the site file's folder.
        host, port: where to listen (port 0: any free port, see ``LiveServer.port``).
        token: bearer token for write actions, or None (write actions refused).
        allow_remote: allow a non-loopback host (then any Host header is accepted).
        max_fps: most frames per second per camera stream.

    Raises:
        RemoteBindError (a ValueError): non-loopback host without ``allow_remote``.
        ValueError: a token shorter than 16 characters or with whitespace.
        ConfigError: the floor plan cannot be drawn from the site (calibration files).
        OSError: the address cannot be bound.
    """
    check_bind_host(host, allow_remote)
    if token is not None:
        check_token(token)
    source = MonitorSource(monitor, config, Path(base_dir))
    app = create_app(
        source,
        token=token,
        allowed_hosts=None if allow_remote else (*LOOPBACK_HOSTS, host.strip("[]").lower()),
        max_fps=max_fps,
        zones=ZoneEditor(monitor, source.plan_geometry, writable=token is not None),
    )
    return LiveServer(app, host, port, allow_remote=allow_remote).start()
