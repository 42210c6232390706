"""The latest evidence episodes and their snapshot JPEGs, read-only, for the live view.

Each read opens the evidence database read-only (``evidence.reader.open_readonly``; SQLite
WAL lets it read while the monitor's writer appends) and closes it again. A snapshot is
served only when its episode record names it, its file lies inside the snapshot folder
(no path traversal through a record or a URL) and its bytes still match the SHA-256 in the
record (a changed file is refused, as ``evidence verify`` would report it).
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
import time
from pathlib import Path

from pydantic import ValidationError

from safetymon.evidence.reader import ReadError, open_readonly
from safetymon.evidence.records import EPISODE, Episode

ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
"""Episode and camera ids accepted in a snapshot URL (anything else is not found)."""

MAX_SNAPSHOT_BYTES = 32 * 1024 * 1024
"""Largest snapshot file served, bytes."""


class SnapshotError(Exception):
    """A snapshot cannot be served. ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class EpisodeArchive:
    """Newest episodes and their snapshots from one evidence store.

    Args:
        db_path: the evidence database.
        snapshot_dir: the folder snapshot files must lie in.
        cache_s: how long a list of newest episodes is reused, seconds (bounds the load
            many page refreshes put on the database).
    """

    def __init__(self, db_path: Path, snapshot_dir: Path, *, cache_s: float = 1.0) -> None:
        self.db_path = Path(db_path)
        self.db_dir = self.db_path.parent.resolve()
        self.snapshot_dir = Path(snapshot_dir).resolve()
        self._cache_s = cache_s
        self._lock = threading.Lock()
        self._cached: tuple[float, int, list[Episode]] | None = None

    def newest(self, limit: int = 20) -> list[Episode]:
        """Up to ``limit`` newest episodes, newest first.

        Raises:
            ReadError: the store cannot be read (missing, not a safetymon store, locked).
        """
        with self._lock:
            now = time.monotonic()
            if self._cached and self._cached[1] == limit and now - self._cached[0] < self._cache_s:
                return list(self._cached[2])
            episodes = self._query(
                "SELECT body FROM records WHERE kind = ? ORDER BY seq DESC LIMIT ?",
                (EPISODE, int(limit)),
            )
            self._cached = (now, limit, episodes)
            return list(episodes)

    def find(self, episode_id: str) -> Episode | None:
        """The episode with this id (the newest record of it), or None."""
        if not ID_PATTERN.match(episode_id):
            return None
        found = self._query(
            "SELECT body FROM records WHERE kind = ? "
            "AND json_extract(body, '$.payload.episode_id') = ? ORDER BY seq DESC LIMIT 1",
            (EPISODE, episode_id),
        )
        return found[0] if found else None

    def snapshot(self, episode_id: str, camera_id: str) -> bytes:
        """The JPEG bytes of one snapshot, checked against its record.

        Raises:
            SnapshotError: 404 unknown episode or camera (or an id that is not one), 403 a
                record whose file lies outside the snapshot folder, 404 a missing file, 409
                a file that no longer matches its record, 503 an unreadable store.
        """
        if not (ID_PATTERN.match(episode_id) and ID_PATTERN.match(camera_id)):
            raise SnapshotError(404, "no such snapshot")
        try:
            episode = self.find(episode_id)
        except ReadError as exc:
            raise SnapshotError(503, f"evidence store cannot be read: {exc}") from exc
        if episode is None:
            raise SnapshotError(404, f"no episode {episode_id}")
        ref = next((s for s in episode.snapshots if s.camera_id == camera_id), None)
        if ref is None:
            raise SnapshotError(404, f"episode {episode_id} has no snapshot of {camera_id}")
        path = (self.db_dir / ref.file).resolve()
        if not path.is_relative_to(self.snapshot_dir) or path.suffix.lower() != ".jpg":
            raise SnapshotError(403, f"snapshot file {ref.file!r} is outside the snapshot folder")
        try:
            if path.stat().st_size > MAX_SNAPSHOT_BYTES:
                raise SnapshotError(409, f"snapshot file {ref.file!r} is larger than recorded")
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise SnapshotError(404, f"snapshot file {ref.file!r} is missing") from exc
        except OSError as exc:
            raise SnapshotError(503, f"snapshot file {ref.file!r} cannot be read: {exc}") from exc
        if hashlib.sha256(data).hexdigest() != ref.sha256:
            raise SnapshotError(409, f"snapshot file {ref.file!r} does not match its record")
        return data

    def _query(self, sql: str, params: tuple[object, ...]) -> list[Episode]:
        conn = open_readonly(self.db_path)
        try:
            rows = conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise ReadError(f"{self.db_path}: {exc}") from exc
        finally:
            conn.close()
        episodes = []
        for (body,) in rows:
            try:
                episodes.append(Episode.model_validate(json.loads(body)["payload"]))
            except (ValueError, KeyError, TypeError, ValidationError) as exc:
                raise ReadError(f"{self.db_path}: an episode record is not valid: {exc}") from exc
        return episodes
