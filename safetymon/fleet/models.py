"""Messages between a cell's shipper and the centre (Pydantic; they cross a process boundary).

A ``Batch`` is a run of consecutive records of one store plus the signed head of its last
record. Hashes are 64 lower-case hex digits (SHA-256), signatures 128 (Ed25519), public keys
64 (raw Ed25519 public key).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from safetymon.config.base import StrictModel

Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Hex128 = Annotated[str, Field(pattern=r"^[0-9a-f]{128}$")]
StoreId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[0-9A-Za-z_.-]+$")]


class ShippedRecord(StrictModel):
    """One record exactly as the cell stores it (``body`` is the hashed canonical JSON)."""

    seq: int = Field(ge=1)
    kind: str
    time_utc: str
    body: str
    hash: Hex64


class SignedHead(StrictModel):
    """A chain head (record ``seq`` with hash ``hash``) signed by the store's private key."""

    store_id: StoreId
    seq: int = Field(ge=0)
    hash: Hex64
    signature: Hex128


class Batch(StrictModel):
    """Consecutive records of one store and the signed head of the last one."""

    store_id: StoreId
    public_key: Hex64
    head: SignedHead
    records: list[ShippedRecord] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Batch:
        seqs = [r.seq for r in self.records]
        if seqs != list(range(seqs[0], seqs[0] + len(seqs))):
            raise ValueError(f"records are not consecutive: #{seqs[0]}..#{seqs[-1]}")
        last = self.records[-1]
        if self.head.store_id != self.store_id:
            raise ValueError(f"head of store {self.head.store_id}, batch of {self.store_id}")
        if (self.head.seq, self.head.hash) != (last.seq, last.hash):
            raise ValueError(
                f"signed head #{self.head.seq} is not the last record #{last.seq} of the batch"
            )
        return self


class StoreState(StrictModel):
    """What the centre holds of one store (``head_seq`` 0: registered, nothing accepted)."""

    store_id: StoreId
    public_key: Hex64
    head_seq: int = Field(ge=0)
    head_hash: Hex64


class Accepted(StrictModel):
    """The outcome of one accepted batch: records ``first_seq``..``head_seq`` are held,
    ``new_records`` of them were not held before (the rest were re-sent copies)."""

    store_id: StoreId
    first_seq: int
    head_seq: int
    new_records: int = Field(ge=0)
