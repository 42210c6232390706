"""`safetymon replay` on real footage (PETS09-S2L1), its output format, determinism, evidence."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from safetymon.cli.main import main
from safetymon.config.loader import load_site_config
from safetymon.evidence.verify import verify_store
from safetymon.monitor.camera_pipeline import CameraPipeline
from safetymon.perception.detectors.base import Detection, Detector, DetectorError
from safetymon.perception.mapping import FloorMapper
from tests.conftest import REPO, SHARED_DATA

PETS_FRAMES = str(SHARED_DATA / "mot15" / "PETS09-S2L1" / "img1" / "*.jpg")
SITE = REPO / "zones" / "pets09-s2l1.yaml"


def hog_site(tmp_path: Path) -> Path:
    """The PETS09 site with the HOG detector only (no reference image needed)."""
    text = SITE.read_text().replace("kind: hog+foreground", "kind: hog")
    text = text.replace("../calibration/", str(REPO / "calibration") + "/")
    path = tmp_path / "site.yaml"
    path.write_text(text)
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_replay_writes_one_record_per_frame_in_source_time(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    code = main(["replay", "--config", str(hog_site(tmp_path)), "--source", PETS_FRAMES,
                 "--max-frames", "12", "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    records = read_jsonl(out)
    assert [r["frame"] for r in records] == list(range(12))
    assert records[7]["t"] == pytest.approx(1.0)  # the site's camera runs at 7 fps
    first = records[0]
    assert set(first) >= {"frame", "t", "detections", "humans", "zones", "decision"}
    assert first["decision"]["state"] == "STOP" and "STARTUP" in first["decision"]["reasons"]
    assert set(first["zones"]) == {"plaza", "plaza-approach"}
    detections = [d for r in records for d in r["detections"]]
    assert len(detections) >= 12  # several people walk through every frame
    for detection in detections:
        assert detection["camera"] == "view001" and len(detection["box"]) == 4
        assert detection["floor"] is None or len(detection["floor"]) == 2
    humans = [h for r in records for h in r["humans"]]
    assert humans and all({"track_id", "floor", "velocity", "radius_m"} <= set(h) for h in humans)


def test_replay_is_deterministic_and_records_verifiable_evidence(tmp_path: Path) -> None:
    site = hog_site(tmp_path)
    outputs = []
    for run in range(2):
        out = tmp_path / f"run{run}.jsonl"
        db = tmp_path / f"ev{run}" / "evidence.db"
        code = main(["replay", "--config", str(site), "--source", PETS_FRAMES, "--max-frames",
                     "30", "--out", str(out), "--no-progress", "--evidence", str(db)])  # fmt: skip
        assert code == 0
        outputs.append(out.read_bytes())
        result = verify_store(db)
        assert result.ok, result
    assert outputs[0] == outputs[1]
    # the replay's evidence is what verification teams export and report on
    db = tmp_path / "ev0" / "evidence.db"
    assert main(["verify", "--db", str(db)]) == 0
    csv = tmp_path / "episodes.csv"
    assert main(["export", "--db", str(db), "--format", "csv", "--out", str(csv)]) == 0
    assert csv.read_text().count("\n") >= 3  # header, run start, at least one episode, ...
    report = tmp_path / "report.html"
    assert main(["report", "--db", str(db), "--out", str(report)]) == 0
    assert "<img" in report.read_text() and "pets09-s2l1" in report.read_text()


def test_replay_refuses_bad_input_naming_it(tmp_path: Path, capsys) -> None:
    site = hog_site(tmp_path)
    out = str(tmp_path / "o.jsonl")
    assert main(["replay", "--config", str(site), "--source", f"cam9={PETS_FRAMES}",
                 "--out", out]) == 2  # fmt: skip
    assert "CAMERA=PATH" in capsys.readouterr().err
    assert main(["replay", "--config", str(site), "--source", PETS_FRAMES, "--fps", "0",
                 "--out", out]) == 2  # fmt: skip
    assert "--fps" in capsys.readouterr().err
    foreground = tmp_path / "fg.yaml"
    foreground.write_text(site.read_text().replace("kind: hog", "kind: hog+foreground"))
    assert main(["replay", "--config", str(foreground), "--source", PETS_FRAMES,
                 "--out", out]) == 2  # fmt: skip
    assert "reference_image" in capsys.readouterr().err
    missing = tmp_path / "nocal.yaml"
    missing.write_text(site.read_text().replace("pets09-view001.yaml", "absent.yaml"))
    assert main(["replay", "--config", str(missing), "--source", PETS_FRAMES, "--out", out]) == 2
    assert "absent.yaml" in capsys.readouterr().err


@pytest.mark.slow
def test_replay_subprocess_with_foreground_median_reference(tmp_path: Path) -> None:
    out = tmp_path / "fg.jsonl"
    text = SITE.read_text().replace("../calibration/", str(REPO / "calibration") + "/")
    site = tmp_path / "site.yaml"
    site.write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "safetymon", "replay", "--config", str(site), "--source",
         PETS_FRAMES, "--max-frames", "75", "--reference-median", "15", "--out", str(out)],
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "replayed 75 frame(s)" in done.stdout
    records = read_jsonl(out)
    labels = {d["label"] for r in records for d in r["detections"]}
    assert labels == {"person", "foreground"}
    # A ground-truth person stands in the plaza zone from frame 62 (index 61) on; before
    # that nobody comes within 0.7 m of it. The decision must see the person.
    assert any(r["zones"]["plaza"] for r in records[61:])
    assert any("PROTECTIVE_ZONE" in r["decision"]["reasons"] for r in records)


class _Fixed(Detector):
    kind = "fixed"

    def __init__(self, boxes: list[tuple[float, float, float, float]], fail: bool = False):
        self.boxes, self.fail = boxes, fail

    def _detect(self, frame, ignore_mask):
        if self.fail:
            raise RuntimeError("inference crashed")
        return [Detection(box, 0.9, "person", None, "fixed") for box in self.boxes]


def _pets_mapper() -> FloorMapper:
    config = load_site_config(SITE)
    return FloorMapper.from_camera_config(config.cameras[0], SITE.parent)


def test_pipeline_turns_a_detector_failure_into_a_fault() -> None:
    frame = np.zeros((576, 768, 3), np.uint8)
    result = CameraPipeline("view001", _Fixed([], fail=True), _pets_mapper()).process(frame, 1.0)
    assert result.fault and "inference crashed" in result.fault
    bad_frame = CameraPipeline("view001", _Fixed([]), _pets_mapper()).process(None, 1.0)
    assert bad_frame.fault and "None" in bad_frame.fault


def test_pipeline_places_people_and_refuses_a_foot_above_the_horizon() -> None:
    mapper = _pets_mapper()
    # find an image row above PETS09's horizon (the homography's w <= 0 there)
    rows = [
        v
        for v in range(-3000, 0, 50)
        if np.isnan(mapper.image_to_floor(np.array([[384.0, v]]))).any()
    ]
    assert rows, "expected a horizon above the image"
    sky_bottom = float(rows[-1])
    boxes = [(380.0, 200.0, 30.0, 80.0), (380.0, sky_bottom - 80.0, 30.0, 80.0)]
    frame = np.zeros((576, 768, 3), np.uint8)
    result = CameraPipeline("view001", _Fixed(boxes), mapper).process(frame, 2.0)
    assert len(result.observations) == 1
    assert result.observations[0].time_s == 2.0
    assert np.all(np.isfinite(result.observations[0].xy))
    assert result.fault and "horizon" in result.fault


def test_pipeline_turns_a_mapping_failure_into_a_fault() -> None:
    class FiveKeypoints(_Fixed):
        def _detect(self, frame, ignore_mask):
            box = (380.0, 200.0, 30.0, 80.0)
            return [Detection(box, 0.9, "person", np.zeros((5, 3)), "fixed")]

    frame = np.zeros((576, 768, 3), np.uint8)
    result = CameraPipeline("view001", FiveKeypoints([]), _pets_mapper()).process(frame, 3.0)
    assert result.fault and "floor mapping failed" in result.fault
    assert result.observations == ()


def test_pipeline_refuses_a_frame_of_another_size_than_calibrated() -> None:
    """PETS09's calibration holds for 768x576: a camera that comes back at 640x480 would put
    every person at a wrong floor position, so the frame is a fault (STOP), not detections."""
    mapper = _pets_mapper()
    assert mapper.image_size == (768, 576)
    pipeline = CameraPipeline("view001", _Fixed([(380.0, 200.0, 30.0, 80.0)]), mapper)
    right = pipeline.process(np.zeros((576, 768, 3), np.uint8), 1.0)
    assert right.fault is None and len(right.observations) == 1
    wrong = pipeline.process(np.zeros((480, 640, 3), np.uint8), 2.0)
    assert wrong.fault == (
        "view001: frame is 640x480 pixels but the floor mapping was calibrated at 768x576 "
        "(image_size): refusing to place people with it"
    )
    assert wrong.observations == () and wrong.detections == ()
    assert wrong.camera_fault and wrong.split_fault() == (wrong.fault, None)
    assert right.split_fault() == (None, None)


def test_replay_of_footage_at_another_resolution_is_a_camera_fault(
    tmp_path: Path, capsys
) -> None:
    """PETS09 frames scaled to 640x480 against the 768x576 calibration: every record is STOP
    CAMERA_FAULT with the size named, and the summary says why."""
    import cv2

    for path in sorted(Path(PETS_FRAMES).parent.glob("*.jpg"))[:3]:
        image = cv2.imread(str(path))
        cv2.imwrite(str(tmp_path / path.name), cv2.resize(image, (640, 480)))
    out = tmp_path / "out.jsonl"
    code = main(["replay", "--config", str(hog_site(tmp_path)), "--source",
                 str(tmp_path / "*.jpg"), "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    records = read_jsonl(out)
    assert len(records) == 3
    size = "frame is 640x480 pixels but the floor mapping was calibrated at 768x576"
    for record in records:
        assert record["decision"]["state"] == "STOP"
        assert "CAMERA_FAULT" in record["decision"]["reasons"]
        assert "DETECTOR_FAULT" not in record["decision"]["reasons"]
        assert size in record["faults"]["view001"]
    assert f"warning: view001: 3 frame(s) could not be used (STOP); first: view001: {size}" in (
        capsys.readouterr().err
    )


def test_detector_error_type_is_what_the_pipeline_catches() -> None:
    assert issubclass(DetectorError, RuntimeError)
