"""Bind ZeroMQ sockets without destroying a file or sharing an endpoint with a live peer.

ZeroMQ's ``ipc://PATH`` bind unlinks whatever is at PATH and puts its own socket there: an
evidence database named by mistake is deleted, and a second publisher binding the path of
a live one succeeds silently, leaving controllers already connected to the first one (the
one that keeps sending RUN). TCP refuses a second bind on its own; ipc does not. So before
an ipc bind:

- a PATH that exists and is not a Unix socket is refused (nothing is touched);
- a Unix socket at PATH that accepts a connection belongs to a live process: refused;
- a socket file that refuses connections is a leftover of a process that died: ZeroMQ may
  replace it.

Abstract ipc names (``ipc://@name``, Linux) have no file and are bound as given; there a
second bind fails inside ZeroMQ. Between the check and the bind another process could still
bind the same path (a window of microseconds): the check is against mistakes and leftovers,
not against a local attacker with write access to the folder, who could do worse.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from pathlib import Path

import zmq

IPC_PREFIX = "ipc://"
PROBE_TIMEOUT_S = 0.5
"""How long a connection to an existing socket file may take to say whether it is live."""


class EndpointInUseError(OSError):
    """An endpoint that must not be bound: a file that is not a socket, or a live socket."""


def ipc_path(endpoint: str) -> Path | None:
    """The file of an ``ipc://`` endpoint; None for other transports and abstract names."""
    if not endpoint.startswith(IPC_PREFIX):
        return None
    name = endpoint[len(IPC_PREFIX) :]
    if not name or name.startswith("@") or name == "*":
        return None
    return Path(name)


def socket_is_live(path: Path, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """True when a process accepts connections on the Unix socket file ``path``.

    A refused connection (``ECONNREFUSED``: nobody listens) or a file that went away is not
    live. Other errors (permissions, timeouts) count as live: binding over a socket one
    cannot even probe is not safe.
    """
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(timeout_s)
    try:
        probe.connect(str(path))
    except OSError as error:
        return error.errno not in (errno.ECONNREFUSED, errno.ENOENT)
    finally:
        probe.close()
    return True


def check_bindable(endpoint: str) -> None:
    """Refuse an ``ipc://`` endpoint whose file is not a socket or is a live one.

    Raises:
        EndpointInUseError: naming the endpoint and what is there.
    """
    path = ipc_path(endpoint)
    if path is None:
        return
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        kind = "folder" if stat.S_ISDIR(mode) else "link" if stat.S_ISLNK(mode) else "file"
        raise EndpointInUseError(
            f"{endpoint!r} names an existing {kind} {str(path)!r}, not a socket: binding "
            "would delete it; choose another ipc path"
        )
    if socket_is_live(path):
        raise EndpointInUseError(
            f"{endpoint!r} is in use: a live process accepts connections on {str(path)!r} "
            "(another publisher?); stop it or choose another endpoint"
        )


def bind_checked(sock: zmq.Socket, endpoint: str) -> None:
    """``sock.bind(endpoint)`` after :func:`check_bindable`.

    Raises:
        EndpointInUseError: see :func:`check_bindable` (the socket is left unbound).
        zmq.ZMQError: ZeroMQ itself refuses the bind.
    """
    check_bindable(endpoint)
    sock.bind(endpoint)


__all__ = ["EndpointInUseError", "bind_checked", "check_bindable", "ipc_path", "socket_is_live"]
