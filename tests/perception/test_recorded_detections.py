"""MOTChallenge det.txt reader: rows, frames without rows, refusals naming file:line and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from safetymon.perception.recorded_detections import (
    RecordedDetectionsError,
    RecordedDetectionsReader,
    read_det_txt,
)
from tests.conftest import SHARED_DATA

PETS_GT = SHARED_DATA / "mot15" / "PETS09-S2L1" / "gt" / "gt.txt"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "det.txt"
    path.write_text(text)
    return path


def test_real_mot_file_is_read_whole_and_grouped_by_frame() -> None:
    recorded = read_det_txt(PETS_GT, (768, 576))
    lines = [line for line in PETS_GT.read_text().splitlines() if line.strip()]
    assert recorded.rows == len(lines) == 4650
    assert recorded.last_frame == 795
    first = lines[0].split(",")
    row = recorded.frames[1][0]
    assert (row.frame, row.left, row.top, row.width, row.height) == (
        1, float(first[2]), float(first[3]), float(first[4]), float(first[5]),
    )  # fmt: skip
    detection = recorded.detections(1)[0]
    assert detection.label == "person" and detection.source == "recorded"
    assert detection.box_ltwh == (row.left, row.top, row.width, row.height)


def test_frames_without_rows_are_empty_frames_and_the_last_row_ends_the_file(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "3,-1,10,20,30,60,0.9,-1,-1,-1\n\n1,-1,5,5,10,20,0.5\n")
    reader = RecordedDetectionsReader(read_det_txt(path), fps=10.0)
    frames = []
    while (frame := reader.next()) is not None:
        frames.append(frame)
    assert [f.index for f in frames] == [0, 1, 2]
    assert [len(f.detections) for f in frames] == [1, 0, 1]
    assert frames[2].source_time_s == pytest.approx(0.2)
    assert frames[2].detections[0].box_ltwh == (10.0, 20.0, 30.0, 60.0)


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("1,-1,abc,20,30,60,0.9", "column left is not a number: 'abc'"),
        ("1,-1,10,20,-30,60,0.9", "column width must be > 0 pixels, got '-30'"),
        ("1,-1,10,20,30,0,0.9", "column height must be > 0 pixels"),
        ("1,-1,10,nan,30,60,0.9", "column top is not finite: 'nan'"),
        ("0,-1,10,20,30,60,0.9", "column frame must be an integer >= 1 (1-based), got '0'"),
        ("1.5,-1,10,20,30,60,0.9", "column frame must be an integer >= 1"),
        ("1,-1,10,20,30,60", "6 column(s), need at least 7"),
        ("1,-1,10,20,30,60,3.2", "column confidence must lie in [0, 1], got '3.2'"),
        ("1,-1,900,20,30,60,0.9", "lies entirely outside the camera's 768x576 image"),
    ],
)
def test_malformed_rows_are_refused_with_file_line_and_value(
    tmp_path: Path, line: str, needle: str
) -> None:
    path = write(tmp_path, f"1,-1,10,20,30,60,0.9\n{line}\n")
    with pytest.raises(RecordedDetectionsError) as error:
        read_det_txt(path, (768, 576))
    assert f"{path}:2:" in str(error.value)
    assert needle in str(error.value)


def test_empty_and_missing_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RecordedDetectionsError, match="no detection rows"):
        read_det_txt(write(tmp_path, "\n\n"))
    with pytest.raises(RecordedDetectionsError, match="cannot read detections"):
        read_det_txt(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="frame rate must be > 0"):
        RecordedDetectionsReader(read_det_txt(PETS_GT), fps=0.0)
