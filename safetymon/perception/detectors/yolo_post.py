"""YOLO (v8/11 head) pre- and post-processing shared by the `onnx` detector.

Letterbox: the frame (camera pixels) is scaled by `ratio` to fit the network input and
padded (grey 114) to it, centred; `undo` maps network-input pixels back to the frame.
Outputs: a detect head gives (1, 4 + C, N) rows (cx, cy, w, h, class scores...); a pose head
gives (1, 4 + 1 + 17*3, N) rows (cx, cy, w, h, person score, 17 x (x, y, visibility)),
all in network-input pixels, scores already in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from safetymon.perception.detectors.base import Detection, DetectorError

KEYPOINT_COUNT = 17


@dataclass(frozen=True)
class Letterbox:
    """How a frame was fitted into the network input: input = frame * ratio + pad."""

    ratio: float
    pad_x: float
    pad_y: float

    def undo_xy(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Network-input pixels to frame pixels."""
        return (x - self.pad_x) / self.ratio, (y - self.pad_y) / self.ratio


def letterbox(frame: np.ndarray, input_size: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """Fit a BGR frame into (width, height) keeping its aspect; returns image and transform."""
    width, height = input_size
    frame_h, frame_w = frame.shape[:2]
    ratio = min(width / frame_w, height / frame_h)
    new_w, new_h = round(frame_w * ratio), round(frame_h * ratio)
    resized = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    pad_x, pad_y = (width - new_w) / 2.0, (height - new_h) / 2.0
    top, left = round(pad_y - 0.1), round(pad_x - 0.1)
    image = cv2.copyMakeBorder(
        resized,
        top,
        height - new_h - top,
        left,
        width - new_w - left,
        cv2.BORDER_CONSTANT,
        value=(114, 114, 114),
    )
    return image, Letterbox(ratio, float(left), float(top))


def to_blob(image_bgr: np.ndarray) -> np.ndarray:
    """(H, W, 3) BGR uint8 to a (1, 3, H, W) float32 RGB tensor in [0, 1]."""
    rgb = image_bgr[:, :, ::-1].astype(np.float32) / 255.0
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None])


def decode(
    output: np.ndarray,
    box: Letterbox,
    *,
    class_count: int,
    person_class: int,
    pose: bool,
    confidence: float,
    iou_threshold: float,
    frame_size: tuple[int, int],
    source: str,
) -> list[Detection]:
    """People from a raw YOLO head output, NMS applied, boxes in frame pixels.

    Args:
        output: (1, 4 + C [+ 51], N) or (4 + C [+ 51], N) array.
        box: the letterbox used for the input.
        class_count: C (1 for pose models).
        person_class: index of the person class among the C scores.
        pose: whether 17 keypoints follow the scores.
        confidence: minimum person score kept.
        iou_threshold: NMS overlap.
        frame_size: (width, height) of the frame, to clip boxes.
        source: detector kind recorded on each detection.
    """
    array = np.asarray(output, dtype=np.float32)
    if array.ndim == 3:
        array = array[0]
    expected = 4 + class_count + (3 * KEYPOINT_COUNT if pose else 0)
    if array.ndim != 2 or array.shape[0] != expected:
        raise DetectorError(
            f"model output has shape {np.shape(output)}, expected (1, {expected}, N) for "
            f"{class_count} classes{' and 17 keypoints' if pose else ''}"
        )
    if not np.all(np.isfinite(array)):
        raise DetectorError("model output contains NaN or infinity")
    rows = array.T
    scores = rows[:, 4 + person_class]
    keep = scores >= confidence
    rows, scores = rows[keep], scores[keep]
    if rows.shape[0] == 0:
        return []
    x1, y1 = box.undo_xy(rows[:, 0] - rows[:, 2] / 2.0, rows[:, 1] - rows[:, 3] / 2.0)
    x2, y2 = box.undo_xy(rows[:, 0] + rows[:, 2] / 2.0, rows[:, 1] + rows[:, 3] / 2.0)
    width, height = frame_size
    x1, x2 = np.clip(x1, 0, width), np.clip(x2, 0, width)
    y1, y2 = np.clip(y1, 0, height), np.clip(y2, 0, height)
    ltwh = np.stack([x1, y1, x2 - x1, y2 - y1], axis=1)
    chosen = cv2.dnn.NMSBoxes(ltwh.tolist(), scores.tolist(), confidence, iou_threshold)
    detections = []
    for index in np.asarray(chosen, dtype=int).reshape(-1):
        keypoints = None
        if pose:
            raw = rows[index, 4 + class_count :].reshape(KEYPOINT_COUNT, 3).astype(np.float64)
            kx, ky = box.undo_xy(raw[:, 0], raw[:, 1])
            keypoints = np.stack([kx, ky, raw[:, 2]], axis=1)
        detections.append(
            Detection(
                tuple(float(value) for value in ltwh[index]),  # type: ignore[arg-type]
                float(scores[index]),
                "person",
                keypoints,
                source,
            )
        )
    return detections
