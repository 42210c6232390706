"""Key files: CURVE key pairs (``zmq.auth`` certificate format) and shared HMAC keys.

``generate_keypair`` writes ``NAME.key`` (public key only: give it to the other end) and
``NAME.key_secret`` (public and secret key: keep it on the side that is the CURVE server:
the monitor for the safety channel, the robot controller for its robot-state publisher).
``generate_hmac_key`` writes ``NAME.hmac``: 32 random bytes as 64 hex digits, a shared
secret for links without CURVE (a serial robot-state line, hw/ROBOT_STATE.md); both ends
keep a copy with owner-only permissions, and ``load_hmac_key`` refuses a copy that others
may read. Each file is written
to a temporary name created with its final mode (0600 for the secret: no other user can
open it at any moment, whatever the umask) and renamed into place. An existing pair is
never overwritten unless asked: the controllers hold its public key.
"""

from __future__ import annotations

import datetime
import os
import secrets
import tempfile
from pathlib import Path

import zmq
import zmq.auth

PUBLIC_MODE = 0o644
SECRET_MODE = 0o600
HMAC_KEY_BYTES = 32
"""Length of a generated HMAC-SHA256 key (bytes): the hash's own block-safe size."""
_BANNER = (
    "#   ****  Generated on {when} by safetymon keys generate  ****\n"
    "#   ZeroMQ CURVE {kind} Certificate\n{warning}\n"
)


class KeyFileError(ValueError):
    """A CURVE key file is missing or does not hold the expected key."""


class KeyFileExistsError(KeyFileError):
    """A key file to be generated exists already (and overwriting was not asked for)."""


def _certificate(public: bytes, secret: bytes | None) -> str:
    """The text of a ``zmq.auth`` certificate (what ``zmq.auth.load_certificate`` reads)."""
    kind = "**Secret**" if secret else "Public"
    warning = (
        "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n"
        if secret
        else ""
    )
    when = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    text = _BANNER.format(when=when, kind=kind, warning=warning)
    text += f'metadata\ncurve\n    public-key = "{public.decode()}"\n'
    if secret:
        text += f'    secret-key = "{secret.decode()}"\n'
    return text


def _write_new(path: Path, text: str, mode: int) -> None:
    """Write ``text`` to a temporary file created with ``mode``, then rename it to ``path``."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(handle, mode)  # mkstemp creates 0600; the public file may be wider
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def generate_keypair(
    out_dir: str | Path, name: str = "safetymon", *, overwrite: bool = False
) -> tuple[Path, Path]:
    """Write a new CURVE key pair; return (public key file, secret key file).

    Raises:
        KeyFileExistsError: a file of the pair exists and ``overwrite`` is False.
        KeyFileError: no CURVE in this libzmq, or an invalid ``name``.
        OSError: the folder cannot be created or written.
    """
    if not zmq.has("curve"):
        raise KeyFileError("this libzmq was built without CURVE support")
    if not name or "/" in name or name.startswith("."):
        raise KeyFileError(f"invalid key name {name!r}")
    out = Path(out_dir)
    public_file, secret_file = out / f"{name}.key", out / f"{name}.key_secret"
    if not overwrite:
        existing = [str(p) for p in (public_file, secret_file) if os.path.lexists(p)]
        if existing:
            raise KeyFileExistsError(
                f"{', '.join(existing)} exists: refusing to replace a key pair whose public "
                "key the controllers may hold (--force replaces it)"
            )
    out.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.curve_keypair()
    _write_new(secret_file, _certificate(public, secret), SECRET_MODE)
    _write_new(public_file, _certificate(public, None), PUBLIC_MODE)
    return public_file, secret_file


def generate_hmac_key(
    out_dir: str | Path, name: str = "robot-state", *, overwrite: bool = False
) -> Path:
    """Write a new shared HMAC key ``NAME.hmac`` (owner-only, atomically); return its path.

    Raises:
        KeyFileExistsError: the file exists and ``overwrite`` is False.
        KeyFileError: an invalid ``name``.
        OSError: the folder cannot be created or written.
    """
    if not name or "/" in name or name.startswith("."):
        raise KeyFileError(f"invalid key name {name!r}")
    out = Path(out_dir)
    path = out / f"{name}.hmac"
    if not overwrite and os.path.lexists(path):
        raise KeyFileExistsError(
            f"{path} exists: refusing to replace a shared key the other end may hold "
            "(--force replaces it)"
        )
    out.mkdir(parents=True, exist_ok=True)
    when = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    text = (
        f"# safetymon HMAC-SHA256 key, generated {when} by safetymon keys generate --hmac\n"
        "# Shared secret: copy it to the other end of the link only, owner-only permissions.\n"
        f"{secrets.token_hex(HMAC_KEY_BYTES)}\n"
    )
    _write_new(path, text, SECRET_MODE)
    return path


def load_hmac_key(path: str | Path) -> bytes:
    """The key bytes of a ``.hmac`` file (one line of hex digits; ``#`` lines are comments).

    Raises:
        KeyFileError: the file is missing, readable or writable by group or others, or holds
            no key of at least 16 bytes.
    """
    p = Path(path)
    if not p.is_file():
        raise KeyFileError(f"{p}: key file not found")
    mode = p.stat().st_mode & 0o777
    if mode & 0o077:
        raise KeyFileError(
            f"{p}: permissions {mode:04o} let other users read or change a shared secret "
            "(chmod 600)"
        )
    try:
        text = p.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{p}: not a key file ({exc})") from exc
    lines = [line.strip() for line in text.splitlines()]
    keys = [line for line in lines if line and not line.startswith("#")]
    try:
        key = bytes.fromhex(keys[0]) if len(keys) == 1 else b""
    except ValueError:
        key = b""
    if len(key) < 16:
        raise KeyFileError(f"{p}: expected one line of at least 32 hex digits (a 16+ byte key)")
    return key


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
