"""The live web view's HTTP server (``monitor.http`` in a site file).

The live view (``safetymon.web``) shows each camera's annotated stream, the floor plan with
live tracks, the decision with its reasons, input health and the latest evidence episodes.
It is read-only for everyone who can reach it; write actions (operator reset, later the
zone editor) need the bearer token read from ``token_file``. Without a token file every
write action is refused. It binds to loopback unless ``allow_remote`` is set.

Example::

    monitor:
      http: {enabled: true, host: 127.0.0.1, port: 8080, token_file: live-view.token}
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from safetymon.config.base import StrictModel

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
"""Host names taken as loopback without resolving them."""


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (an IP literal, optionally in brackets, or a name) is loopback only.

    Only IP literals in 127.0.0.0/8 or ``::1`` and the names in ``LOOPBACK_NAMES`` count;
    any other name, and the wildcard addresses ``0.0.0.0`` / ``::``, are not loopback.
    """
    text = host.strip().lower()
    if text in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(text.strip("[]")).is_loopback
    except ValueError:
        return False


class HttpConfig(StrictModel):
    """Live web view server (opt-in; ``safetymon run --http HOST:PORT`` also enables it)."""

    enabled: bool = Field(False, description="Serve the live view while the monitor runs.")
    host: str = Field(
        "127.0.0.1",
        description="Address to bind. Loopback unless allow_remote is true.",
    )
    port: int = Field(8080, ge=0, le=65535, description="TCP port (0: any free port).")
    token_file: Path | None = Field(
        None,
        description=(
            "File holding the bearer token that write actions (operator reset) require, "
            "relative to the site file's folder. Without one, write actions are refused."
        ),
    )
    allow_remote: bool = Field(
        False,
        description=(
            "Allow binding a non-loopback address (other machines can then watch the view; "
            "use a token file and a trusted network)."
        ),
    )

    @field_validator("host")
    @classmethod
    def _check_host(cls, host: str) -> str:
        if not host.strip() or any(ch.isspace() for ch in host):
            raise ValueError(f"not a host address: {host!r}")
        return host

    @model_validator(mode="after")
    def _loopback_unless_allowed(self) -> HttpConfig:
        if not self.allow_remote and not is_loopback_host(self.host):
            raise ValueError(
                f"host {self.host!r} is not a loopback address: the live view binds to "
                f"loopback unless allow_remote is true"
            )
        return self
