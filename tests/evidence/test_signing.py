"""Ed25519 keys per store: created with the store, signed heads checked by `safetymon verify`;
older stores without a key keep verifying (as unsigned)."""

from __future__ import annotations

import argparse
import sqlite3
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from safetymon.cli import evidence_cmd, fleet_cmd
from safetymon.evidence.schema import migrate
from safetymon.evidence.signing import (
    StoreKeyError,
    create_key_file,
    fingerprint,
    head_signature_ok,
    key_path,
    load_key_file,
    public_key_hex,
    sign_head,
)
from safetymon.evidence.store import EvidenceStore, StoreError
from safetymon.evidence.verify import verify_store


def main(argv: list[str]) -> int:
    """`safetymon verify|evidence ...` with only these command groups (a fast import)."""
    parser = argparse.ArgumentParser(prog="safetymon")
    commands = parser.add_subparsers(dest="command")
    evidence_cmd.register(commands)
    fleet_cmd.register(commands)
    args = parser.parse_args(argv)
    return int(args.func(args))


def _meta(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def _set_meta(db: Path, key: str, value: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


@pytest.fixture
def signed(tmp_path: Path) -> Path:
    db = tmp_path / "ev.db"
    store = EvidenceStore.open(db)
    for n in range(5):
        store.append("note", {"n": n})
    store.close()
    return db


def _old_store(db: Path, records: int = 3) -> Path:
    """A store made by a safetymon before signing (schema version 2, no key)."""
    conn = sqlite3.connect(db, isolation_level=None)
    migrate(conn, target=2)
    conn.close()
    store = EvidenceStore.open(db)
    for n in range(records):
        store.append("note", {"n": n})
    store.close()
    return db


def test_new_store_gets_a_private_key_file_and_signs_every_head(signed: Path) -> None:
    path = key_path(signed)
    assert path.name == "ev.db.key" and stat.S_IMODE(path.stat().st_mode) == 0o600
    meta = _meta(signed)
    key = load_key_file(path)
    assert meta["public_key"] == public_key_hex(key)
    assert head_signature_ok(meta["public_key"], meta["store_id"], 5, meta["head_hash"],
                             meta["head_signature"])  # fmt: skip
    assert not head_signature_ok(meta["public_key"], meta["store_id"], 4, meta["head_hash"],
                                 meta["head_signature"])  # fmt: skip
    result = verify_store(signed)
    assert result.ok and result.signature == "valid"
    assert f"signature: valid (Ed25519 key {meta['public_key']}" in result.summary()
    assert not list(signed.parent.glob(".*.tmp"))  # no temporary key file left behind


def test_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    create_key_file(path)
    before = path.read_bytes()
    with pytest.raises(StoreKeyError, match="already exists"):
        create_key_file(path)
    assert path.read_bytes() == before


def test_head_signed_by_another_key_is_a_named_failure(signed: Path) -> None:
    meta = _meta(signed)
    forged = sign_head(Ed25519PrivateKey.generate(), meta["store_id"], 5, meta["head_hash"])
    _set_meta(signed, "head_signature", forged)
    problem = verify_store(signed).problem
    assert (problem.seq, problem.what) == (5, "signature")
    assert "does not verify with the store's public key" in problem.detail


def test_replaced_public_key_is_a_named_failure(signed: Path) -> None:
    meta = _meta(signed)
    other = Ed25519PrivateKey.generate()
    _set_meta(signed, "public_key", public_key_hex(other))  # signature no longer verifies
    assert verify_store(signed).problem.what == "signature"
    _set_meta(signed, "head_signature", sign_head(other, meta["store_id"], 5, meta["head_hash"]))
    problem = verify_store(signed).problem  # re-signed, but the key file holds the old key
    assert problem.what == "key_replaced" and str(key_path(signed)) in problem.detail


def test_expected_key_anchors_the_store_identity(signed: Path) -> None:
    public = _meta(signed)["public_key"]
    assert verify_store(signed, expect_key=fingerprint(public)).ok
    assert verify_store(signed, expect_key=public).ok
    problem = verify_store(signed, expect_key="0123456789abcdef").problem
    assert problem.what == "key_replaced" and "expected 0123456789abcdef" in problem.detail


def test_signed_store_without_its_key_refuses_to_append_but_still_verifies(signed: Path) -> None:
    key_path(signed).unlink()
    with pytest.raises(StoreError, match=r"ev\.db\.key: the store's private key file is missing"):
        EvidenceStore.open(signed)
    assert verify_store(signed).ok


def test_a_key_others_can_read_refuses_the_store(signed: Path) -> None:
    """Anyone who can read the private key can sign records as this store."""
    key_path(signed).chmod(0o644)
    with pytest.raises(StoreError, match=r"readable or writable by others \(mode 644\)"):
        EvidenceStore.open(signed)
    key_path(signed).chmod(0o600)
    EvidenceStore.open(signed).close()


def test_older_store_without_a_key_still_verifies_as_unsigned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _old_store(tmp_path / "old.db")
    assert not key_path(db).exists() and "public_key" not in _meta(db)
    result = verify_store(db)
    assert result.ok and result.signature == "unsigned" and result.records == 3
    assert main(["verify", "--db", str(db)]) == 0
    assert "signature: unsigned (a store made before signing" in capsys.readouterr().out
    assert verify_store(db, expect_key="0123456789abcdef").problem.what == "key_replaced"


def test_keygen_signs_an_older_store_from_now_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _old_store(tmp_path / "old.db")
    assert main(["evidence", "keygen", "--db", str(db)]) == 0
    assert "signed from now on" in capsys.readouterr().out
    result = verify_store(db)
    assert result.ok and result.signature == "valid" and result.key_added_at_seq == 3
    store = EvidenceStore.open(db)
    store.append("note", {"n": 3})
    store.close()
    assert verify_store(db).ok
    assert main(["evidence", "keygen", "--db", str(db)]) == 1
    assert "already has a key" in capsys.readouterr().err


def test_key_written_but_not_recorded_before_a_crash_is_adopted(tmp_path: Path) -> None:
    db = tmp_path / "ev.db"
    EvidenceStore.open(db).close()
    public = _meta(db)["public_key"]
    with sqlite3.connect(db) as conn:  # as if the process died between the two steps
        conn.execute("DELETE FROM meta WHERE key IN ('public_key', 'head_signature')")
    store = EvidenceStore.open(db)
    store.append("note", {"n": 1})
    store.close()
    assert _meta(db)["public_key"] == public
    assert verify_store(db).signature == "valid"
