"""The link between an evidence store (its ``meta`` table) and its Ed25519 key file.

``meta`` keys: ``public_key`` (64 hex digits), ``head_signature`` (128 hex digits, the
signed head of the current ``head_seq``/``head_hash``) and, for a store that got its key
after records were written (``safetymon evidence keygen``), ``key_added_at_seq``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from safetymon.evidence.signing import (
    StoreKeyError,
    create_key_file,
    key_path,
    load_key_file,
    public_key_hex,
    sign_head,
)


@dataclass(frozen=True)
class StoreSigner:
    """Signs the heads of one store (the private key and the store id it belongs to)."""

    key: Ed25519PrivateKey
    store_id: str

    def sign(self, head_seq: int, head_hash: str) -> str:
        """The hex signature of the head (seq, hash) of this store."""
        return sign_head(self.key, self.store_id, head_seq, head_hash)


def _meta(conn: sqlite3.Connection) -> dict[str, str]:
    return {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM meta")}


def _record_key(conn: sqlite3.Connection, signer: StoreSigner, meta: dict[str, str]) -> None:
    """Write public key and the current head's signature to meta, in one transaction."""
    seq, digest = int(meta.get("head_seq", "0")), meta.get("head_hash", "0" * 64)
    rows = [
        ("public_key", public_key_hex(signer.key)),
        ("head_signature", signer.sign(seq, digest)),
    ]
    if seq > 0:
        rows.append(("key_added_at_seq", str(seq)))
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", rows)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def open_signer(conn: sqlite3.Connection, db_path: Path, *, created: bool) -> StoreSigner | None:
    """The store's signer, creating the key pair when the store was just ``created``.

    An existing store without ``public_key`` stays unsigned (None), except an empty one
    whose key file exists (a crash between writing the key and recording it): that key is
    adopted. A signed store whose key file is missing or holds another key raises
    StoreKeyError (the store refuses to extend its chain unsigned).
    """
    meta = _meta(conn)
    path = key_path(db_path)
    store_id = meta["store_id"]
    recorded = meta.get("public_key")
    if recorded is None:
        empty = meta.get("head_seq", "0") == "0"
        if created and not path.exists():
            signer = StoreSigner(create_key_file(path), store_id)
        elif empty and path.exists():
            signer = StoreSigner(load_key_file(path), store_id)
        else:
            return None
        _record_key(conn, signer, meta)
        return signer
    key = load_key_file(path)
    if public_key_hex(key) != recorded:
        raise StoreKeyError(
            f"{path}: this private key does not belong to the store (its public key is "
            f"{public_key_hex(key)}, the store records {recorded}); restore the store's key"
        )
    return StoreSigner(key, store_id)


def add_key(conn: sqlite3.Connection, db_path: Path) -> StoreSigner:
    """Give an unsigned (older) store a key pair now; raises StoreKeyError if it has one."""
    meta = _meta(conn)
    if "public_key" in meta:
        raise StoreKeyError(f"{db_path}: the store already has a key ({meta['public_key']})")
    signer = StoreSigner(create_key_file(key_path(db_path)), meta["store_id"])
    _record_key(conn, signer, meta)
    return signer
