"""Draw what the monitor sees on a camera frame: detections, their floor positions, the state.

Used by the demo's video and the live view. Pure drawing on a copy of the frame (camera
pixels); it never changes the frame it is given.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from safetymon.monitor.camera_pipeline import FrameResult
from safetymon.safety.decision import Decision
from safetymon.signals.frame import SafetyState

#: Banner colour per state (BGR).
STATE_COLOURS: dict[SafetyState, tuple[int, int, int]] = {
    SafetyState.RUN: (60, 170, 60),
    SafetyState.SLOW: (0, 170, 240),
    SafetyState.STOP: (40, 40, 220),
}
_LABEL_COLOURS = {"person": (255, 200, 0), "foreground": (255, 0, 255)}
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def annotate_frame(
    frame: np.ndarray,
    result: FrameResult | None,
    decision: Decision | None,
    *,
    caption: str = "",
) -> np.ndarray:
    """A copy of ``frame`` with boxes, floor positions and a state banner.

    Args:
        frame: BGR camera image.
        result: the frame's detections and floor positions (metres), or None.
        decision: the newest decision, or None (drawn as "no decision yet").
        caption: extra text for the banner's second line (e.g. the demo's scene time).
    """
    image = frame.copy()
    if result is not None:
        for index, detection in enumerate(result.detections):
            left, top, width, height = (round(float(v)) for v in detection.box_ltwh)
            colour = _LABEL_COLOURS.get(detection.label, (255, 255, 255))
            cv2.rectangle(image, (left, top), (left + width, top + height), colour, 2)
            text = detection.label
            if index < len(result.floor_xy) and np.all(np.isfinite(result.floor_xy[index])):
                x, y = result.floor_xy[index]
                text += f" ({x:.1f}, {y:.1f}) m"
            _text(image, text, (left, max(12, top - 4)), colour, 0.4)
        if result.fault:
            _text(image, f"FAULT: {result.fault}"[:90], (6, image.shape[0] - 8), (0, 0, 255), 0.4)
    _banner(image, decision, caption)
    return image


def _banner(image: np.ndarray, decision: Decision | None, caption: str) -> None:
    if decision is None:
        colour, title, detail = (90, 90, 90), "NO DECISION YET", ""
    else:
        colour = STATE_COLOURS[decision.state]
        title = decision.state.name
        if decision.state is SafetyState.SLOW:
            title += f" x{decision.speed_scale:.2f}"
        detail = ",".join(decision.reason_names) or "-"
        closest = decision.closest
        if closest is not None and math.isfinite(closest.distance_m):
            separation = closest.protective_separation_m
            title += f"  closest {closest.distance_m:.2f} m (S_p {separation:.2f} m)"
    cv2.rectangle(image, (0, 0), (image.shape[1], 40), colour, -1)
    _text(image, title, (6, 16), (255, 255, 255), 0.5)
    second = detail if not caption else f"{caption}  {detail}"
    _text(image, second[:100], (6, 34), (255, 255, 255), 0.4)


def _text(
    image: np.ndarray,
    text: str,
    origin: tuple[int, int],
    colour: tuple[int, int, int],
    scale: float,
) -> None:
    cv2.putText(image, text, origin, _FONT, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, origin, _FONT, scale, colour, 1, cv2.LINE_AA)
