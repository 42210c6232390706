"""A YOLO ONNX export run without PyTorch: onnxruntime (CPU) or OpenCV DNN.

Boxes and keypoints come back in camera pixels (the letterbox is undone).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from safetymon.perception.detectors.base import Detection, Detector, DetectorError
from safetymon.perception.detectors.yolo_post import decode, letterbox, to_blob
from safetymon.perception.models import ModelEntry


class OnnxDetector(Detector):
    """People from a YOLO detect or pose model exported to ONNX (fixed input size)."""

    kind = "onnx"

    def __init__(
        self,
        path: Path,
        entry: ModelEntry,
        confidence: float = 0.4,
        iou_threshold: float = 0.5,
        backend: str = "onnxruntime",
    ) -> None:
        """Load the (already SHA-256-checked) model file; raise DetectorError if it cannot."""
        if Path(path).suffix != ".onnx":
            raise DetectorError(f"the onnx detector needs an .onnx file, got {path}")
        self.entry = entry
        self.confidence = confidence
        self.iou_threshold = iou_threshold
        self.backend = backend
        try:
            if backend == "onnxruntime":
                import onnxruntime

                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = 1
                self._session = onnxruntime.InferenceSession(
                    str(path), options, providers=["CPUExecutionProvider"]
                )
                self._input_name = self._session.get_inputs()[0].name
            elif backend == "opencv":
                self._net = cv2.dnn.readNetFromONNX(str(path))
            else:
                raise DetectorError(f"unknown onnx backend {backend!r}")
        except ImportError as error:
            raise DetectorError(
                "the onnx detector needs onnxruntime (pip install 'safetymon[onnx]') "
                "or onnx_backend: opencv"
            ) from error
        except DetectorError:
            raise
        except Exception as error:
            raise DetectorError(f"cannot load ONNX model {path}: {error}") from error

    def _run(self, blob: np.ndarray) -> np.ndarray:
        if self.backend == "onnxruntime":
            return np.asarray(self._session.run(None, {self._input_name: blob})[0])
        self._net.setInput(blob)
        return np.asarray(self._net.forward())

    def _detect(self, frame: np.ndarray, ignore_mask: np.ndarray | None) -> list[Detection]:
        image, box = letterbox(frame, self.entry.input_size)
        output = self._run(to_blob(image))
        return decode(
            output,
            box,
            class_count=len(self.entry.classes),
            person_class=self.entry.person_class,
            pose=self.entry.task == "pose",
            confidence=self.confidence,
            iou_threshold=self.iou_threshold,
            frame_size=(frame.shape[1], frame.shape[0]),
            source=self.kind,
        )
