"""Recorded detections: MOTChallenge ``det.txt`` files read as a camera's per-frame output.

Format (one detection per line, comma separated, MOTChallenge 2D MOT 2015/16/17 ``det.txt``):
``frame, id, left, top, width, height, confidence[, x, y, z, ...]``

- ``frame``: 1-based frame number (an integer; frame n is at source time (n - 1) / fps);
- ``id``: ignored (-1 in detection files, a track id in ground-truth files);
- ``left, top, width, height``: the box in pixels of the camera's image (x right, y down,
  origin at the top-left pixel's corner), the image being the one its calibration was made
  for (``image_size``);
- ``confidence``: detector score, which must lie in [0, 1] (the tracker's confidence range;
  rescale other scores, e.g. DPM's, before replaying);
- further columns are ignored. Blank lines are skipped.

A frame number without rows is a frame in which nothing was detected (not a fault); the
file's largest frame number is its last frame. Anything else is refused with
``RecordedDetectionsError`` naming ``file:line``, the column and the value: fewer than 7
columns, a non-numeric or non-finite value, a frame number that is not an integer >= 1, a
width or height <= 0, a confidence outside [0, 1], or (with ``image_size``) a box lying
entirely outside the image (its pixels are not this camera's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from safetymon.perception.detectors.base import Detection, Detector, DetectorError

MIN_COLUMNS = 7
RECORDED_SOURCE = "recorded"
"""``Detection.source`` of a detection read from a file."""


class RecordedDetectionsError(ValueError):
    """A detections file cannot be used (unreadable, empty, or a malformed row)."""


@dataclass(frozen=True)
class DetectionRow:
    """One row of a ``det.txt`` file.

    Attributes:
        frame: 1-based frame number.
        left, top, width, height: box in image pixels (width, height > 0).
        confidence: detector score in [0, 1].
        line: 1-based line number in the file (for messages).
    """

    frame: int
    left: float
    top: float
    width: float
    height: float
    confidence: float
    line: int

    def detection(self) -> Detection:
        """The row as a ``person`` detection from source ``recorded``."""
        return Detection(
            (self.left, self.top, self.width, self.height),
            self.confidence,
            "person",
            source=RECORDED_SOURCE,
        )


_COLUMNS = ("frame", "id", "left", "top", "width", "height", "confidence")


def _number(text: str, column: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise RecordedDetectionsError(
            f"{where}: column {column} is not a number: {text.strip()!r}"
        ) from None
    if not math.isfinite(value):
        raise RecordedDetectionsError(f"{where}: column {column} is not finite: {text.strip()!r}")
    return value


def parse_row(text: str, where: str, line: int) -> DetectionRow:
    """One ``det.txt`` line as a row (``where`` is ``file:line`` for messages).

    Raises:
        RecordedDetectionsError: the row is malformed (see the module docstring).
    """
    parts = text.split(",")
    if len(parts) < MIN_COLUMNS:
        raise RecordedDetectionsError(
            f"{where}: {len(parts)} column(s), need at least {MIN_COLUMNS} "
            f"({', '.join(_COLUMNS)}): {text.strip()!r}"
        )
    values = {name: _number(parts[i], name, where) for i, name in enumerate(_COLUMNS)}
    frame = values["frame"]
    if frame < 1 or frame != int(frame):
        raise RecordedDetectionsError(
            f"{where}: column frame must be an integer >= 1 (1-based), got {parts[0].strip()!r}"
        )
    for name in ("width", "height"):
        if values[name] <= 0:
            raise RecordedDetectionsError(
                f"{where}: column {name} must be > 0 pixels, got {parts[_COLUMNS.index(name)]!r}"
            )
    if not 0.0 <= values["confidence"] <= 1.0:
        raise RecordedDetectionsError(
            f"{where}: column confidence must lie in [0, 1], got {parts[6].strip()!r} "
            "(rescale the detector's scores before replaying)"
        )
    return DetectionRow(
        int(frame),
        values["left"],
        values["top"],
        values["width"],
        values["height"],
        values["confidence"],
        line,
    )


@dataclass(frozen=True)
class RecordedDetections:
    """Every row of one file, grouped by frame.

    Attributes:
        path: the file.
        frames: rows per 1-based frame number (frames without rows are absent).
        last_frame: the largest frame number (the replay's last frame of this camera).
    """

    path: Path
    frames: dict[int, tuple[DetectionRow, ...]]
    last_frame: int

    @property
    def rows(self) -> int:
        """Number of detections in the file."""
        return sum(len(rows) for rows in self.frames.values())

    def detections(self, frame: int) -> tuple[Detection, ...]:
        """The detections of 1-based ``frame`` (empty: nothing was detected)."""
        return tuple(row.detection() for row in self.frames.get(frame, ()))


def read_det_txt(path: str | Path, image_size: tuple[int, int] | None = None) -> RecordedDetections:
    """Read and check a ``det.txt`` file.

    Args:
        path: the file.
        image_size: (width, height) pixels of the camera's images, if known: a box entirely
            outside the image is refused.

    Raises:
        RecordedDetectionsError: unreadable file, no rows, or a malformed row.
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RecordedDetectionsError(f"{source}: cannot read detections: {error}") from None
    grouped: dict[int, list[DetectionRow]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        row = parse_row(line, where, number)
        if image_size is not None:
            _check_inside(row, image_size, where)
        grouped.setdefault(row.frame, []).append(row)
    if not grouped:
        raise RecordedDetectionsError(
            f"{source}: no detection rows: the file cannot tell how many frames it covers"
        )
    frames = {frame: tuple(rows) for frame, rows in sorted(grouped.items())}
    return RecordedDetections(source, frames, max(frames))


def _check_inside(row: DetectionRow, image_size: tuple[int, int], where: str) -> None:
    width, height = image_size
    right, bottom = row.left + row.width, row.top + row.height
    if right <= 0 or bottom <= 0 or row.left >= width or row.top >= height:
        raise RecordedDetectionsError(
            f"{where}: box [{row.left:g}, {row.top:g}, {row.width:g}, {row.height:g}] lies "
            f"entirely outside the camera's {width}x{height} image: not this camera's pixels"
        )


@dataclass(frozen=True)
class RecordedFrame:
    """One replayed frame of a detections camera.

    Attributes:
        index: frame index from 0 (file frame number - 1).
        source_time_s: index / fps, seconds.
        detections: what the file records for the frame (may be empty).
    """

    index: int
    source_time_s: float
    detections: tuple[Detection, ...]


class RecordedDetectionsReader:
    """A ``det.txt`` file pulled frame by frame like a ``ReplayReader``.

    Args:
        recorded: the checked file (``read_det_txt``).
        fps: frame rate of the footage the detections were made on (> 0).

    Raises:
        ValueError: ``fps`` is not a finite number > 0.
    """

    def __init__(self, recorded: RecordedDetections, fps: float) -> None:
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"{recorded.path}: frame rate must be > 0, got {fps!r}")
        self.recorded = recorded
        self.fps = float(fps)
        self._index = 0

    def next(self) -> RecordedFrame | None:
        """The next frame's detections, or None after the file's last frame."""
        if self._index >= self.recorded.last_frame:
            return None
        index = self._index
        self._index += 1
        return RecordedFrame(index, index / self.fps, self.recorded.detections(index + 1))

    def close(self) -> None:
        """Nothing to release (the file was read whole); for symmetry with ReplayReader."""


class RecordedDetector(Detector):
    """The detector of a camera that replays recorded detections: it refuses any image.

    Such a camera's pipeline only places the file's boxes (``CameraPipeline.place``); an
    image reaching it would be a wiring mistake, reported as a detector fault (STOP).
    """

    kind = RECORDED_SOURCE

    def _detect(self, frame: np.ndarray, ignore_mask: np.ndarray | None) -> list[Detection]:
        raise DetectorError("this camera replays recorded detections; it has no image detector")
