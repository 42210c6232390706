"""Person detectors behind one interface: `Detector.detect(frame_bgr) -> list[Detection]`.

Kinds: `hog` (OpenCV HOG, no model file), `foreground` (difference from a commissioning
reference), `yolo` (Ultralytics), `onnx` (YOLO ONNX export with onnxruntime or OpenCV DNN),
`ssdlite` (a pretrained pedestrian SSDLite run by OpenCV DNN, with tiling), and
combinations (`hog+foreground`). Heavy parts are imported by `build_detector` only.
"""

from safetymon.perception.detectors.base import (
    Detection,
    Detector,
    DetectorError,
    foot_point,
)
from safetymon.perception.detectors.factory import build_detector, load_reference

__all__ = [
    "Detection",
    "Detector",
    "DetectorError",
    "build_detector",
    "foot_point",
    "load_reference",
]
