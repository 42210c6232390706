"""EvidenceWriter: a real thread writing real snapshots and records; faults are latched."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import cv2
import numpy as np

from safetymon.config.evidence import EvidenceConfig
from safetymon.evidence.episodes import EpisodeBuilder
from safetymon.evidence.records import Episode, RunStart
from safetymon.evidence.store import EvidenceStore
from safetymon.evidence.verify import verify_store
from safetymon.evidence.writer import EvidenceWriter
from safetymon.signals.frame import SafetyState
from safetymon.signals.reasons import Reason
from tests.evidence.helpers import decision, feed, people_frame


def test_closed_episode_gets_the_closest_moment_frames(tmp_path: Path) -> None:
    config = EvidenceConfig(db_path=tmp_path / "ev.db", snapshot_dir=tmp_path / "snaps")
    builder = EpisodeBuilder(config, config_hash="c" * 64)
    photo = people_frame()
    dark = (photo // 4).astype(photo.dtype)
    faults: list[str] = []
    with EvidenceWriter(EvidenceStore.open(config.db_path), config, on_fault=faults.append) as w:
        w.record("run_start", RunStart(run_id="r", site="s", config_hash="c" * 64,
                                       software_version="t", config={}))  # fmt: skip
        cycles = [
            decision(0.0, SafetyState.SLOW, Reason.SEPARATION_WARNING, distance_m=1.3),
            decision(0.1, SafetyState.STOP, Reason.SEPARATION, distance_m=0.7),
            decision(0.2, SafetyState.STOP, Reason.SEPARATION, distance_m=0.9),
            decision(5.0),
        ]
        for d, note in zip(cycles, feed(builder, cycles), strict=True):
            if note.wants_snapshot:  # the frames of the closest moment replace earlier ones
                frame = photo if d.closest and d.closest.distance_m == 0.7 else dark
                w.offer_snapshot(note.episode_id, {"cam1": frame, "cam2": frame[::2, ::2]})
            for episode in note.closed:
                assert w.submit_episode(episode)
    assert w.fault is None and not w.should_stop and not faults and w.written == 2
    result = verify_store(config.db_path)
    assert result.ok and result.snapshots_checked == 2
    with sqlite3.connect(config.db_path) as conn:
        body = conn.execute("SELECT body FROM records WHERE kind='episode'").fetchone()[0]
    episode = Episode.model_validate(json.loads(body)["payload"])
    assert episode.min_distance_m == 0.7
    assert [s.camera_id for s in episode.snapshots] == ["cam1", "cam2"]
    first = config.db_path.parent / episode.snapshots[0].file
    assert first.parent == config.snapshot_dir / "2026-05-01"
    data = first.read_bytes()
    assert hashlib.sha256(data).hexdigest() == episode.snapshots[0].sha256
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == photo.shape
    assert abs(float(decoded.mean()) - float(photo.mean())) < 3.0  # the bright photo, not dark
    assert not list(config.snapshot_dir.rglob(".tmp-*"))


def test_unwritable_snapshot_folder_latches_a_stop_fault(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the snapshot folder should be")
    config = EvidenceConfig(snapshot_dir=blocker / "snaps")
    builder = EpisodeBuilder(config, config_hash="c" * 64)
    faults: list[str] = []
    store = EvidenceStore.open(tmp_path / "ev.db")
    with EvidenceWriter(store, config, on_fault=faults.append) as writer:
        note = feed(builder, [decision(0.0, SafetyState.STOP, Reason.PROTECTIVE_ZONE)])[0]
        writer.offer_snapshot(note.episode_id, {"cam1": people_frame()})
        (episode,) = builder.flush()
        writer.submit_episode(episode)
        writer.record("test", {"after": "fault"})  # later records still go in
    assert writer.should_stop and len(faults) == 1
    assert "cam1" in faults[0] and "not-a-dir" in faults[0]
    result = verify_store(tmp_path / "ev.db")
    assert result.ok and result.kinds == {"episode": 1, "test": 1}  # kept without snapshots
    with sqlite3.connect(tmp_path / "ev.db") as conn:
        body = json.loads(conn.execute("SELECT body FROM records WHERE seq = 1").fetchone()[0])
    assert body["payload"]["snapshots"] == [] and "not-a-dir" in body["payload"]["snapshot_error"]
    relaxed = EvidenceWriter(EvidenceStore.open(tmp_path / "ev2.db"),
                             config.model_copy(update={"stop_on_failure": False}))  # fmt: skip
    with relaxed:
        relaxed.submit_episode(episode.model_copy(update={"episode_id": "x"}))
        relaxed.offer_snapshot("y", {"cam1": people_frame()})
        relaxed.submit_episode(episode.model_copy(update={"episode_id": "y"}))
    assert relaxed.fault is not None and not relaxed.should_stop and relaxed.written == 2


def test_full_queue_behind_a_locked_database_is_a_fault_and_nothing_accepted_is_lost(
    tmp_path: Path,
) -> None:
    db = tmp_path / "ev.db"
    config = EvidenceConfig(queue_size=2)
    writer = EvidenceWriter(EvidenceStore.open(db), config).start()
    other = sqlite3.connect(db, isolation_level=None)  # another process holding the write lock
    other.execute("BEGIN IMMEDIATE")
    accepted = sum(writer.record("test", {"n": n}) for n in range(20))
    assert writer.fault is not None and "queue full" in writer.fault and writer.should_stop
    other.execute("ROLLBACK")
    other.close()
    writer.close()
    result = verify_store(db)
    assert result.ok and 1 <= accepted < 20 and result.records == accepted


def test_submitting_to_a_writer_that_is_not_running_is_a_fault(tmp_path: Path) -> None:
    writer = EvidenceWriter(EvidenceStore.open(tmp_path / "ev.db"), EvidenceConfig())
    assert not writer.record("test", {})
    assert writer.fault is not None and "not running" in writer.fault
