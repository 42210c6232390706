"""The live web view: cameras, floor plan, decision, input health and episodes in a browser.

``attach(monitor, config, base_dir, host=, port=, token=)`` serves a running monitor's view
(``safetymon run --http 127.0.0.1:8080``). Parts: ``create_app`` (Starlette app over a
``LiveSource``), ``LiveServer`` (uvicorn in a daemon thread), ``MonitorSource`` (the
adapter over a ``Monitor``). See ``docs/LIVE_VIEW.md``.
"""

from __future__ import annotations

from safetymon.web.app import create_app
from safetymon.web.attach import attach
from safetymon.web.security import RemoteBindError
from safetymon.web.server import LiveServer
from safetymon.web.source import LiveSource, MonitorSource

__all__ = ["LiveServer", "LiveSource", "MonitorSource", "RemoteBindError", "attach", "create_app"]
