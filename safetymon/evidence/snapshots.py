"""Snapshots: one JPEG per camera at an episode's closest approach, written atomically.

Each file is written to a temporary name in its final folder, flushed and fsynced, renamed
into place and the folder fsynced, so a crash leaves either no file or the whole file. Its
SHA-256 goes into the episode record, so a changed or missing file is caught by verify.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from safetymon.evidence.records import SnapshotRef

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


class SnapshotError(OSError):
    """A snapshot could not be encoded or written (names the camera and file)."""


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    """JPEG bytes of a BGR (or grey) image array (camera pixels, uint8)."""
    import cv2  # OpenCV only where snapshots are taken

    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise SnapshotError(
            f"snapshot image must be a uint8 HxW or HxWxC array, got "
            f"{getattr(image, 'dtype', type(image).__name__)} {getattr(image, 'shape', '')}"
        )
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise SnapshotError(f"OpenCV could not encode a {image.shape} image as JPEG")
    return buffer.tobytes()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that it appears whole or not at all (fsynced)."""
    write_atomic_chunks(path, (data,))


def write_atomic_chunks(path: Path, chunks: Iterable[bytes]) -> None:
    """``write_atomic`` for data made piece by piece (e.g. a report larger than memory should
    hold): the pieces go to a temporary file beside ``path``, renamed once all are fsynced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tmp-", delete=False) as handle:
        temporary = Path(handle.name)
        try:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        except BaseException:
            handle.close()
            temporary.unlink(missing_ok=True)
            raise
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def write_snapshots(
    frames: Mapping[str, np.ndarray | bytes],
    *,
    snapshot_dir: Path,
    db_dir: Path,
    stem: str,
    quality: int = 90,
) -> list[SnapshotRef]:
    """Write one JPEG per camera (arrays are encoded, bytes are taken as JPEG already).

    Files are named ``<snapshot_dir>/<stem>-<camera>.jpg``; the refs hold the path relative
    to ``db_dir`` (the database's folder) and the SHA-256 of the bytes written.
    """
    refs: list[SnapshotRef] = []
    for camera_id, frame in sorted(frames.items()):
        data = frame if isinstance(frame, bytes) else encode_jpeg(frame, quality)
        path = Path(snapshot_dir) / f"{_UNSAFE.sub('_', stem)}-{_UNSAFE.sub('_', camera_id)}.jpg"
        try:
            write_atomic(path, data)
        except OSError as error:
            raise SnapshotError(
                f"camera {camera_id!r}: cannot write snapshot {path}: {error}"
            ) from None
        relative = Path(os.path.relpath(path.resolve(), Path(db_dir).resolve())).as_posix()
        refs.append(
            SnapshotRef(
                camera_id=camera_id,
                file=relative,
                sha256=hashlib.sha256(data).hexdigest(),
                size_bytes=len(data),
            )
        )
    return refs
