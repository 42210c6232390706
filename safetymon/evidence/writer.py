"""A background writer so the decision loop never waits for the disk.

The monitor thread only puts items on a bounded queue (``submit_episode``, ``record``) or
replaces the pending frames of the open episode (``offer_snapshot``); the writer thread
encodes and writes the snapshots of each closed episode, then appends its record durably;
whatever queued up meanwhile is committed in one transaction (group commit), so a slow
disk costs one sync per batch, not per record.
Any failure (store error, snapshot error, full queue) latches ``fault``; the monitor polls
``should_stop`` (or passes ``on_fault``) and adds Reason.EVIDENCE_FAULT to its causes.
The writer keeps trying later items after a fault, but the fault stays latched.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from safetymon.config.evidence import EvidenceConfig
from safetymon.evidence.records import EPISODE, Episode
from safetymon.evidence.snapshots import write_snapshots
from safetymon.evidence.store import EvidenceStore, Payload, StoreError

log = logging.getLogger(__name__)

Frames = Mapping[str, np.ndarray | bytes]


@dataclass(frozen=True)
class _Item:
    kind: str
    payload: Payload


_STOP_ITEM = _Item("", {})
_BATCH = 256
"""Most records the writer thread commits in one transaction (group commit)."""


class EvidenceWriter:
    """Owns an ``EvidenceStore`` and a thread that writes to it.

    Use as a context manager, or call ``start()`` and ``close()`` (the caller closes the
    store afterwards). ``on_fault`` is called once, with the first fault's message, from the
    writer thread or (queue full) from the thread that submitted.
    """

    def __init__(
        self,
        store: EvidenceStore,
        config: EvidenceConfig,
        *,
        snapshot_dir: Path | None = None,
        on_fault: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.snapshot_dir = Path(snapshot_dir or config.snapshot_dir)
        self._on_fault = on_fault
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=config.queue_size)
        self._pending: dict[str, Frames] = {}
        self._lock = threading.Lock()
        self._fault: str | None = None
        self._written = 0
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="evidence-writer", daemon=True)

    # ------------------------------------------------------------------ monitor side

    def start(self) -> EvidenceWriter:
        """Start the writer thread."""
        self._thread.start()
        return self

    def __enter__(self) -> EvidenceWriter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def fault(self) -> str | None:
        """The first failure, latched (None while everything was recorded)."""
        return self._fault

    @property
    def should_stop(self) -> bool:
        """True when a fault happened and ``stop_on_failure`` is set: add EVIDENCE_FAULT."""
        return self._fault is not None and self.config.stop_on_failure

    @property
    def written(self) -> int:
        """Records appended durably so far."""
        return self._written

    def offer_snapshot(self, episode_id: str, frames: Frames) -> None:
        """Keep these frames (camera id → BGR image or JPEG bytes) as the episode's snapshot,
        replacing earlier ones; they are written only when the episode is submitted."""
        with self._lock:
            self._pending[episode_id] = dict(frames)

    def submit_episode(self, episode: Episode) -> bool:
        """Queue a closed episode (never blocks); False and a fault if the queue is full."""
        return self._put(_Item(EPISODE, episode))

    def record(self, kind: str, payload: Payload) -> bool:
        """Queue a record of any kind (never blocks); False and a fault if the queue is full."""
        return self._put(_Item(kind, payload))

    def close(self, timeout_s: float = 10.0) -> None:
        """Write everything queued, then stop the thread (a fault if it does not finish)."""
        self._closing = True
        if not self._thread.is_alive():
            return
        try:
            self._queue.put(_STOP_ITEM, timeout=timeout_s)
        except queue.Full:
            self._set_fault(f"writer did not drain its queue within {timeout_s} s at close")
            return
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self._set_fault(f"writer thread did not finish within {timeout_s} s at close")

    def _put(self, item: _Item) -> bool:
        if self._closing or not self._thread.is_alive():
            self._set_fault(f"writer thread is not running: {item.kind} record dropped")
            return False
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._set_fault(
                f"evidence queue full ({self.config.queue_size} records waiting): "
                f"{item.kind} record dropped"
            )
            return False
        return True

    def _set_fault(self, message: str) -> None:
        with self._lock:
            first = self._fault is None
            if first:
                self._fault = message
        log.error("evidence fault: %s", message)
        if first and self._on_fault is not None:
            try:
                self._on_fault(message)
            except Exception:  # the callback must not kill the writer
                log.exception("evidence on_fault callback failed")

    # ------------------------------------------------------------------ writer thread

    def _run(self) -> None:
        """Group commit: take what is queued (up to ``_BATCH``), write it in one transaction."""
        while True:
            items = [self._queue.get()]
            while len(items) < _BATCH and items[-1] is not _STOP_ITEM:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = items[-1] is _STOP_ITEM
            batch = [item for item in items if item is not _STOP_ITEM]
            if batch:
                self._write_batch(batch)
            if stop:
                return

    def _write_batch(self, batch: list[_Item]) -> None:
        prepared: list[tuple[str, Payload, None]] = []
        for item in batch:
            try:
                prepared.append((item.kind, self._with_snapshots(item), None))
            except Exception as error:  # the record is kept without its snapshots
                message = f"{type(error).__name__}: {error}"
                self._set_fault(message)
                payload = item.payload
                if isinstance(payload, Episode):
                    payload = payload.model_copy(update={"snapshot_error": message})
                prepared.append((item.kind, payload, None))
        try:
            self.store.append_many(prepared)
            self._written += len(prepared)
        except (StoreError, ValueError) as error:
            if len(prepared) == 1:
                self._set_fault(str(error))
                return
            for one in prepared:  # find the bad one; write the others
                try:
                    self.store.append_many([one])
                    self._written += 1
                except (StoreError, ValueError) as single:
                    self._set_fault(str(single))
        except Exception as error:
            self._set_fault(f"unexpected {type(error).__name__}: {error}")

    def _with_snapshots(self, item: _Item) -> Payload:
        """The payload, for an episode with the refs of its snapshots (written now)."""
        payload = item.payload
        if item.kind != EPISODE or not isinstance(payload, Episode):
            return payload
        with self._lock:
            frames = self._pending.pop(payload.episode_id, None)
        if not frames:
            return payload
        refs = write_snapshots(
            frames,
            snapshot_dir=self.snapshot_dir / payload.start_utc[:10],
            db_dir=self.store.path.parent,
            stem=payload.episode_id,
            quality=self.config.jpeg_quality,
        )
        return payload.model_copy(update={"snapshots": refs})
