"""EpisodeArchive on a real SQLite evidence store with real snapshot files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from safetymon.evidence.reader import ReadError
from safetymon.web.episodes import EpisodeArchive, SnapshotError
from tests.web.helpers import seed_evidence


@pytest.fixture
def archive(tmp_path: Path) -> tuple[EpisodeArchive, object]:
    seeded = seed_evidence(tmp_path)
    return EpisodeArchive(tmp_path / "evidence.db", tmp_path / "snapshots", cache_s=0.0), seeded


def test_newest_first_and_limited(archive) -> None:
    store, seeded = archive
    assert [e.episode_id for e in store.newest(20)] == [
        seeded.tampered, seeded.outside, seeded.good,
    ]  # fmt: skip
    assert [e.episode_id for e in store.newest(1)] == [seeded.tampered]
    assert store.find(seeded.good).min_distance_m == 0.42
    assert store.find("no-such-episode") is None
    assert store.find("../../etc/passwd") is None


def test_snapshot_is_served_when_it_matches_its_record(archive) -> None:
    store, seeded = archive
    data = store.snapshot(seeded.good, "cam1")
    assert data == seeded.photo
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[2] == 3


@pytest.mark.parametrize(
    ("which", "camera", "status", "message"),
    [
        ("outside", "cam1", 403, "outside the snapshot folder"),
        ("outside", "cam2", 403, "outside the snapshot folder"),
        ("tampered", "cam1", 409, "does not match its record"),
        ("good", "cam2", 404, "has no snapshot of cam2"),
        ("unknown", "cam1", 404, "no episode"),
        ("dots", "cam1", 404, "no such snapshot"),
        ("good", "../cam1", 404, "no such snapshot"),
    ],
)
def test_snapshot_refusals(archive, which: str, camera: str, status: int, message: str) -> None:
    store, seeded = archive
    episode_id = {"unknown": "feedbeef", "dots": "../x/y"}.get(which) or getattr(seeded, which)
    with pytest.raises(SnapshotError, match=message) as caught:
        store.snapshot(episode_id, camera)
    assert caught.value.status == status


def test_missing_file_and_unreadable_store(archive, tmp_path: Path) -> None:
    store, seeded = archive
    for jpg in (tmp_path / "snapshots").rglob("good0001-*.jpg"):
        jpg.unlink()
    with pytest.raises(SnapshotError, match="is missing") as caught:
        store.snapshot(seeded.good, "cam1")
    assert caught.value.status == 404
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("not sqlite")
    with pytest.raises(ReadError, match=r"cannot read as SQLite|not a safetymon"):
        EpisodeArchive(not_a_db, tmp_path).newest(5)
    with pytest.raises(ReadError, match="no such file"):
        EpisodeArchive(tmp_path / "absent.db", tmp_path).newest(5)
