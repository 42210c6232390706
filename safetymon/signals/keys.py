"""CURVE key pairs for the ZeroMQ safety channel, in the ``zmq.auth`` certificate format.

``generate_keypair`` writes ``NAME.key`` (public key only: give it to the controllers) and
``NAME.key_secret`` (public and secret key: keep it on the monitor, mode 0600).
"""

from __future__ import annotations

import os
from pathlib import Path

import zmq
import zmq.auth


class KeyFileError(ValueError):
    """A CURVE key file is missing or does not hold the expected key."""


def generate_keypair(out_dir: str | Path, name: str = "safetymon") -> tuple[Path, Path]:
    """Write a new CURVE key pair; return (public key file, secret key file)."""
    if not zmq.has("curve"):
        raise KeyFileError("this libzmq was built without CURVE support")
    if not name or "/" in name or name.startswith("."):
        raise KeyFileError(f"invalid key name {name!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(str(out), name)
    os.chmod(secret, 0o600)
    return Path(public), Path(secret)


def load_public_key(path: str | Path) -> bytes:
    """Z85 public key from a ``.key`` or ``.key_secret`` file."""
    public, _ = _load(path)
    return public


def load_keypair(path: str | Path) -> tuple[bytes, bytes]:
    """(public, secret) Z85 keys from a ``.key_secret`` file."""
    public, secret = _load(path)
    if not secret:
        raise KeyFileError(f"{path}: no secret key in this file (use the .key_secret file)")
    return public, secret


def _load(path: str | Path) -> tuple[bytes, bytes | None]:
    p = Path(path)
    if not p.is_file():
        raise KeyFileError(f"{p}: key file not found")
    try:
        public, secret = zmq.auth.load_certificate(str(p))
    except (ValueError, OSError) as exc:
        raise KeyFileError(f"{p}: not a CURVE certificate ({exc})") from exc
    if not public or len(public) != 40:
        raise KeyFileError(f"{p}: no valid public key")
    return public, secret
