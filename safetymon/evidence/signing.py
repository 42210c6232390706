"""Ed25519 keys of an evidence store and its signed chain heads.

Each store created by this version gets a key pair at creation: the private key is written
beside the database as ``<db>.key`` (PKCS#8 PEM, mode 0600, written to a temporary file,
synced and hard-linked into place so an existing key is never overwritten); the public key
(raw 32 bytes, hex) is recorded in the store's ``meta`` as ``public_key``. The store signs
its head on every append (``meta.head_signature``) and the shipper signs the head of every
batch it sends, so the centre can prove which store wrote which records.

A *signed head* is the Ed25519 signature over the canonical JSON of
``{"head_hash", "head_seq", "store_id", "v": "safetymon-head/1"}`` (UTF-8 bytes).
Stores made before signing existed have no ``public_key``: they verify as *unsigned*.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from safetymon.evidence.canonical import body_hash, canonical_json

HEAD_FORMAT = "safetymon-head/1"
"""Version tag inside every signed head message."""

KEY_SUFFIX = ".key"


class StoreKeyError(Exception):
    """A store key cannot be created, read or used (the message names the file and why)."""


def key_path(db_path: str | Path) -> Path:
    """Where the private key of the store at ``db_path`` lives: ``<db>.key`` beside it."""
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + KEY_SUFFIX)


def public_key_hex(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The raw 32-byte public key as 64 lower-case hex digits."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw.hex()


def fingerprint(public_hex: str) -> str:
    """A short, human-comparable name of a public key: first 16 hex digits of its SHA-256."""
    return body_hash(public_hex)[:16]


def head_message(store_id: str, head_seq: int, head_hash: str) -> bytes:
    """The exact bytes a signed head signs."""
    return canonical_json(
        {"head_hash": head_hash, "head_seq": head_seq, "store_id": store_id, "v": HEAD_FORMAT}
    ).encode("utf-8")


def sign_head(key: Ed25519PrivateKey, store_id: str, head_seq: int, head_hash: str) -> str:
    """The signature (128 hex digits) of a head."""
    return key.sign(head_message(store_id, head_seq, head_hash)).hex()


def head_signature_ok(
    public_hex: str, store_id: str, head_seq: int, head_hash: str, signature_hex: str
) -> bool:
    """True when ``signature_hex`` is a valid signature of the head by ``public_hex``."""
    try:
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex))
        public.verify(bytes.fromhex(signature_hex), head_message(store_id, head_seq, head_hash))
    except (ValueError, InvalidSignature):
        return False
    return True


def create_key_file(path: str | Path) -> Ed25519PrivateKey:
    """Generate a key pair and write the private key to ``path`` (0600); never overwrites.

    Written to a temporary file in the same folder (created 0600, synced), then hard-linked
    to ``path``, which fails if ``path`` exists; the folder is synced after. Raises
    StoreKeyError naming the file when it exists or cannot be written.
    """
    path = Path(path)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(tmp, path)
    except FileExistsError:
        raise StoreKeyError(
            f"{path}: a store key already exists here (never overwritten)"
        ) from None
    except OSError as error:
        raise StoreKeyError(f"{path}: cannot write the store's private key: {error}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return key


def load_key_file(path: str | Path) -> Ed25519PrivateKey:
    """Read a private key written by ``create_key_file`` (raises StoreKeyError naming why)."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        if mode & 0o077:
            raise StoreKeyError(
                f"{path}: the store's private key is readable or writable by others (mode "
                f"{mode & 0o777:o}); anyone who can read it can sign records as this store: "
                f"chmod 600 it, or treat it as leaked"
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise StoreKeyError(f"{path}: the store's private key file is missing") from None
    except OSError as error:
        raise StoreKeyError(f"{path}: cannot read the store's private key: {error}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise StoreKeyError(f"{path}: not a PEM private key: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise StoreKeyError(f"{path}: not an Ed25519 key ({type(key).__name__})")
    return key
