"""Command-line options of the live view, shared by ``safetymon run`` and ``safetymon demo``.

``--http HOST:PORT`` (or ``PORT`` alone for loopback) enables the view; ``--http-token-file``
sets the write token; ``monitor.http`` in the site file gives the defaults (see
``safetymon.config.http.HttpConfig``). Command-line values win over the site file.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from safetymon.config.http import HttpConfig


@dataclass(frozen=True)
class HttpSettings:
    """Where and how to serve the live view (resolved from CLI and site file)."""

    host: str
    port: int
    token: str | None
    allow_remote: bool


def parse_http(value: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPV6]:PORT`` or ``PORT`` (loopback) → (host, port).

    Raises:
        argparse.ArgumentTypeError: not of that form, or a port outside 0..65535.
    """
    text = value.strip()
    if text.isascii() and text.isdigit():
        host, port_text = "127.0.0.1", text
    elif text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = text.rpartition(":")
    digits = port_text.isascii() and port_text.isdigit()  # "²".isdigit(), int("²") fails
    if not host or not digits or not 0 <= int(port_text) <= 65535:
        raise argparse.ArgumentTypeError(
            f"--http: expected HOST:PORT (e.g. 127.0.0.1:8080) or PORT, got {value!r}"
        )
    return host, int(port_text)


def add_http_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--http HOST:PORT``, ``--http-token-file FILE`` and ``--http-allow-remote``."""
    parser.add_argument(
        "--http",
        type=parse_http,
        metavar="HOST:PORT",
        default=None,
        help="serve the live view here (loopback unless --http-allow-remote; "
        "default: monitor.http of the site file, off)",
    )
    parser.add_argument(
        "--http-token-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="bearer token for the live view's write actions (operator reset); "
        "without one they are refused",
    )
    parser.add_argument(
        "--http-allow-remote",
        action="store_true",
        help="allow serving the live view on a non-loopback address",
    )


def resolve_http(
    args: argparse.Namespace, config: HttpConfig | None, base_dir: Path
) -> HttpSettings | None:
    """The live view settings from the options and ``monitor.http``, or None when off.

    A relative ``token_file`` of the site file is against ``base_dir`` (the site file's
    folder); one given on the command line is against the working directory.

    Raises:
        ValueError: the token file cannot be read or its token is too short (names the file).
        RemoteBindError (a ValueError): non-loopback host without allow-remote.
    """
    from safetymon.web.security import check_bind_host, read_token_file

    config = config or HttpConfig()
    chosen = getattr(args, "http", None)
    if chosen is None and not config.enabled:
        return None
    host, port = chosen if chosen is not None else (config.host, config.port)
    allow_remote = bool(getattr(args, "http_allow_remote", False)) or config.allow_remote
    check_bind_host(host, allow_remote)
    token_file = getattr(args, "http_token_file", None)
    if token_file is None and config.token_file is not None:
        token_file = config.token_file
        if not token_file.is_absolute():
            token_file = Path(base_dir) / token_file
    token = read_token_file(token_file) if token_file is not None else None
    return HttpSettings(host, port, token, allow_remote)
