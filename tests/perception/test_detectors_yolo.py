"""yolo and onnx detectors: post-processing on known tensors, real runs on random-weight models.

The models are built inside the test from Ultralytics' own YAML definitions (random weights,
nothing downloaded) and exported to ONNX, so they find no people: the real runs check the
plumbing (types, shapes, coordinates inside the frame), the synthetic tensors the maths.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from safetymon.config.cameras import DetectorConfig
from safetymon.perception.detectors import Detection, DetectorError, build_detector, foot_point
from safetymon.perception.detectors.yolo_post import Letterbox, decode, letterbox, to_blob
from safetymon.perception.models import file_sha256
from tests.conftest import SHARED_DATA, require_optional

COCO_CLASSES = [f"class{index}" for index in range(80)]
COCO_CLASSES[0] = "person"


def _column(cx: float, cy: float, w: float, h: float, scores: list[float]) -> list[float]:
    return [cx, cy, w, h, *scores]


def test_letterbox_round_trip() -> None:
    frame = np.zeros((576, 768, 3), np.uint8)
    frame[100:200, 300:340] = 255
    image, box = letterbox(frame, (320, 320))
    assert image.shape == (320, 320, 3)
    assert box.ratio == pytest.approx(320 / 768)
    assert box.pad_x == 0.0 and box.pad_y == pytest.approx(40.0)
    x, y = box.undo_xy(np.array([300 * box.ratio]), np.array([100 * box.ratio + 40]))
    assert x[0] == pytest.approx(300.0) and y[0] == pytest.approx(100.0)
    assert image[0, 0].tolist() == [114, 114, 114]
    blob = to_blob(image)
    assert blob.shape == (1, 3, 320, 320) and blob.dtype == np.float32
    assert float(blob.max()) == pytest.approx(1.0)


def test_decode_keeps_people_applies_nms_and_undoes_letterbox() -> None:
    box = Letterbox(ratio=0.5, pad_x=0.0, pad_y=16.0)
    columns = [
        _column(100, 116, 20, 40, [0.9, 0.1, 0.0]),  # person
        _column(101, 117, 20, 40, [0.8, 0.0, 0.0]),  # duplicate of it: NMS removes
        _column(200, 116, 20, 40, [0.2, 0.95, 0.0]),  # a confident non-person: dropped
        _column(300, 116, 20, 40, [0.3, 0.0, 0.0]),  # a weak person: dropped
        _column(10, 20, 40, 20, [0.7, 0.0, 0.0]),  # a person cut by the border: clipped
    ]
    output = np.array(columns, np.float32).T[None]  # (1, 4 + 3, 5)
    found = decode(
        output,
        box,
        class_count=3,
        person_class=0,
        pose=False,
        confidence=0.4,
        iou_threshold=0.5,
        frame_size=(640, 480),
        source="onnx",
    )
    assert [d.confidence for d in found] == pytest.approx([0.9, 0.7])
    assert found[0].box_ltwh == pytest.approx((180.0, 160.0, 40.0, 80.0))
    assert found[1].box_ltwh == pytest.approx((0.0, 0.0, 60.0, 28.0))
    assert all(d.label == "person" and d.keypoints is None for d in found)


def test_decode_pose_keypoints_give_the_foot_point() -> None:
    box = Letterbox(ratio=2.0, pad_x=8.0, pad_y=0.0)
    keypoints = np.zeros((17, 3), np.float32)
    keypoints[:, 2] = 0.9
    keypoints[15] = (48.0, 100.0, 0.9)
    keypoints[16] = (56.0, 104.0, 0.95)
    column = [60.0, 60.0, 40.0, 100.0, 0.8, *keypoints.reshape(-1)]
    output = np.array([column], np.float32).T[None]
    (found,) = decode(
        output,
        box,
        class_count=1,
        person_class=0,
        pose=True,
        confidence=0.5,
        iou_threshold=0.5,
        frame_size=(400, 300),
        source="onnx",
    )
    assert found.keypoints is not None and found.keypoints.shape == (17, 3)
    assert found.keypoints[15].tolist() == pytest.approx([20.0, 50.0, 0.9])
    assert foot_point(found) == pytest.approx((22.0, 52.0))


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (np.zeros((1, 6, 10), np.float32), r"expected \(1, 7, N\)"),
        (np.full((1, 7, 2), np.nan, np.float32), "NaN"),
    ],
)
def test_decode_refuses_bad_outputs(output: np.ndarray, message: str) -> None:
    with pytest.raises(DetectorError, match=message):
        decode(
            output,
            Letterbox(1.0, 0.0, 0.0),
            class_count=3,
            person_class=0,
            pose=False,
            confidence=0.4,
            iou_threshold=0.5,
            frame_size=(64, 64),
            source="onnx",
        )


@pytest.fixture(scope="module")
def random_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with YOLOv8n detect (.pt, .onnx) and pose (.onnx), random weights."""
    require_optional(importlib.util.find_spec("ultralytics") is not None, "ultralytics")
    require_optional(importlib.util.find_spec("onnx") is not None, "onnx")
    folder = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("YOLO_CONFIG_DIR", str(folder / "ultralytics-settings"))
        patch.setenv("YOLO_OFFLINE", "1")
        patch.chdir(folder)
        from ultralytics import YOLO

        detect = YOLO("yolov8n.yaml")
        detect.save(folder / "detect.pt")
        Path(detect.export(format="onnx", imgsz=320, simplify=False, dynamic=False)).rename(
            folder / "detect.onnx"
        )
        pose = YOLO("yolov8n-pose.yaml")
        Path(pose.export(format="onnx", imgsz=320, simplify=False, dynamic=False)).rename(
            folder / "pose.onnx"
        )
    entries = [
        ("detect-pt", "detect.pt", "detect", COCO_CLASSES),
        ("detect-onnx", "detect.onnx", "detect", COCO_CLASSES),
        ("pose-onnx", "pose.onnx", "pose", ["person"]),
    ]
    manifest = {
        "models": [
            {
                "name": name,
                "file": file,
                "sha256": file_sha256(folder / file),
                "task": task,
                "classes": classes,
                "input_size": [320, 320],
            }
            for name, file, task, classes in entries
        ]
    }
    (folder / "manifest.yaml").write_text(yaml.safe_dump(manifest))
    return folder


def _check_plumbing(found: list[Detection], image: np.ndarray, pose: bool) -> None:
    assert isinstance(found, list)
    height, width = image.shape[:2]
    for detection in found:
        left, top, box_w, box_h = detection.box_ltwh
        assert -1.0 <= left <= width and -1.0 <= top <= height and box_w >= 0 and box_h >= 0
        assert 0.0 <= detection.confidence <= 1.0 and detection.label == "person"
        if pose:
            assert detection.keypoints is not None and detection.keypoints.shape == (17, 3)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "model", "backend", "pose"),
    [
        ("yolo", "detect-pt", "onnxruntime", False),
        ("yolo", "detect-onnx", "onnxruntime", False),
        ("onnx", "detect-onnx", "onnxruntime", False),
        ("onnx", "detect-onnx", "opencv", False),
        ("onnx", "pose-onnx", "onnxruntime", True),
    ],
)
def test_random_weight_models_run_on_a_real_image(
    random_models: Path, kind: str, model: str, backend: str, pose: bool
) -> None:
    image = cv2.imread(str(SHARED_DATA / "people" / "basketball1.png"))
    config = DetectorConfig(kind=kind, model=model, confidence=0.01, onnx_backend=backend)
    detector = build_detector(config, random_models)
    assert detector.kind == kind
    _check_plumbing(detector.detect(image), image, pose)
    with pytest.raises(DetectorError, match="dtype"):
        detector.detect(image.astype(np.float32))


@pytest.mark.slow
def test_onnx_backends_agree_on_the_raw_output(random_models: Path) -> None:
    import onnxruntime

    image, _box = letterbox(cv2.imread(str(SHARED_DATA / "people" / "messi5.jpg")), (320, 320))
    blob = to_blob(image)
    session = onnxruntime.InferenceSession(
        str(random_models / "detect.onnx"), providers=["CPUExecutionProvider"]
    )
    runtime = session.run(None, {session.get_inputs()[0].name: blob})[0]
    net = cv2.dnn.readNetFromONNX(str(random_models / "detect.onnx"))
    net.setInput(blob)
    assert runtime.shape == (1, 84, 2100)
    np.testing.assert_allclose(net.forward(), runtime, rtol=1e-3, atol=1e-3)


@pytest.mark.slow
def test_tampered_model_is_refused(random_models: Path, tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "manifest.yaml").write_text((random_models / "manifest.yaml").read_text())
    data = bytearray((random_models / "detect.onnx").read_bytes())
    data[-1] ^= 0xFF
    (folder / "detect.onnx").write_bytes(bytes(data))
    with pytest.raises(DetectorError, match=r"detect\.onnx has SHA-256 .* but the manifest"):
        build_detector(DetectorConfig(kind="onnx", model="detect-onnx"), folder)
