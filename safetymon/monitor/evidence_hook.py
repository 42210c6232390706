"""Hands the decision stream to the evidence store: episodes, snapshots, run records.

Shared by the live monitor (a decision-loop listener, wall clock) and ``replay`` (source
time), so both record evidence by the same rules. A store that fails is reported by
:attr:`EvidenceRecorder.fault`; with ``evidence.stop_on_failure`` (the default) the monitor
turns it into a STOP cause (EVIDENCE_FAULT).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from safetymon.config.loader import config_hash
from safetymon.config.site import SiteConfig
from safetymon.evidence.episodes import EpisodeBuilder
from safetymon.evidence.reader import ReadError
from safetymon.evidence.records import RUN_STOP, RunStart, RunStop
from safetymon.evidence.store import EvidenceStore, StoreError
from safetymon.evidence.verify import verify_store
from safetymon.evidence.writer import EvidenceWriter
from safetymon.safety.decision import Decision
from safetymon.version import software_version

Frames = Callable[[], Mapping[str, np.ndarray]]
"""Returns the newest frame of each camera (camera id → BGR image), for snapshots."""


def check_chain_before_appending(db_path: Path) -> None:
    """Refuse to extend an existing store whose hash chain does not verify from record #1.

    Opening a store checks only its last record against the head; an edit further back
    would be buried under new records. So the whole chain is recomputed first (the snapshot
    files are left to ``safetymon verify``): about 16 s for a million records on a 2-core
    VM (``benchmarks/RESULTS.md``, "verify 1M"), while the outputs hold STOP. A file that is
    not a store yet is left to ``EvidenceStore.open``.

    Raises:
        StoreError: naming the first broken record and what is wrong with it.
    """
    if not Path(db_path).is_file():
        return
    try:
        result = verify_store(db_path, check_snapshots=False, integrity_check=False)
    except ReadError:
        return
    if not result.ok:
        raise StoreError(
            f"{db_path}: the evidence chain does not verify ({result.problem}); refusing to "
            "append to it: run `safetymon verify`, keep the file as evidence and start a new one"
        )


class EvidenceRecorder:
    """Episode builder plus background writer for one monitor (or replay) run.

    Args:
        config: the site.
        db_path: the evidence database (created if missing).
        snapshot_dir: folder of snapshot JPEGs (default: ``snapshots`` beside the database).
        model_hash: SHA-256 of the detector model file(s), if any.

    Raises:
        StoreError: the store cannot be opened or its chain is broken (refuse to start).
    """

    def __init__(
        self,
        config: SiteConfig,
        db_path: Path,
        *,
        snapshot_dir: Path | None = None,
        model_hash: str | None = None,
    ) -> None:
        self.config = config
        self.run_id = uuid.uuid4().hex
        self.db_path = Path(db_path)
        snapshot_dir = snapshot_dir or self.db_path.parent / "snapshots"
        check_chain_before_appending(self.db_path)
        self.store = EvidenceStore.open(self.db_path)
        digest = config_hash(config)
        self.builder = EpisodeBuilder(
            config.evidence, config_hash=digest, model_hash=model_hash,
            software_version=software_version(),
        )  # fmt: skip
        self.store.record_run_start(
            RunStart(
                run_id=self.run_id,
                site=config.site,
                config_hash=digest,
                model_hash=model_hash,
                software_version=software_version(),
                config=config.model_dump(mode="json"),
            )
        )
        self.writer = EvidenceWriter(self.store, config.evidence, snapshot_dir=snapshot_dir)
        self.writer.start()
        self.episodes = 0

    @property
    def fault(self) -> str | None:
        """Why evidence is not being recorded (latched), or None."""
        return self.writer.fault

    @property
    def should_stop(self) -> bool:
        """Whether the fault must STOP the robot (``evidence.stop_on_failure``)."""
        return self.writer.should_stop

    def observe(
        self,
        decision: Decision,
        *,
        monotonic_s: float,
        wall_time_utc: datetime | None = None,
        cause_seen_s: float | None = None,
        signal_sent_s: float | None = None,
        frames: Frames | None = None,
    ) -> None:
        """Feed one decision; closed episodes are queued, snapshots taken when wanted."""
        note = self.builder.observe(
            decision,
            monotonic_s=monotonic_s,
            wall_time_utc=wall_time_utc or datetime.now(timezone.utc),
            cause_seen_s=cause_seen_s,
            signal_sent_s=signal_sent_s,
        )
        if note.wants_snapshot and note.episode_id is not None and frames is not None:
            self.writer.offer_snapshot(note.episode_id, dict(frames()))
        for episode in note.closed:
            self.writer.submit_episode(episode)
            self.episodes += 1

    def close(self, *, clean: bool = True, reason: str = "") -> None:
        """Close open episodes, write the run stop record, flush and close the store."""
        for episode in self.builder.flush():
            self.writer.submit_episode(episode)
            self.episodes += 1
        self.writer.record(
            RUN_STOP, RunStop(run_id=self.run_id, clean=clean and not self.fault, reason=reason)
        )
        self.writer.close()
        self.store.close()
