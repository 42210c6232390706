"""Class-agnostic occupancy: what differs from a fixed reference image of the empty cell.

Works in camera pixels. The reference is taken at commissioning (an image of the empty cell,
or `build_reference` over frames in which people move); it stays fixed, so a person who
stands still does not fade into the background. With `adapt_rate > 0` the reference follows
slow lighting changes, but only where nothing was foreground in this frame or around it.

Shadows (`suppress_shadows`, off by default): a pixel darker than the reference by a ratio
in [shadow_min_ratio, shadow_max_ratio] whose normalised chromaticity (r, g) barely changed
is a shadow, not foreground (the brightness/chromaticity test of Horprasert et al. and
Cucchiara et al., the one MOG2 uses). On PETS09-S2L1 it also removes dark trousers on the
grey road, which moves foot points up, so it is opt-in for sites with hard shadows.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from safetymon.config.cameras import ForegroundConfig
from safetymon.perception.detectors.base import (
    CameraImageError,
    Detection,
    Detector,
    DetectorError,
    check_frame,
)


def build_reference(frames: Iterable[np.ndarray]) -> np.ndarray:
    """Per-pixel median of BGR frames: the empty cell when people keep moving.

    Args:
        frames: at least 3 (H, W, 3) uint8 frames of one camera (pixels).

    Returns:
        (H, W, 3) uint8 reference image.

    Raises:
        DetectorError: fewer than 3 frames, or frames of different sizes.
    """
    stack = [check_frame(frame) for frame in frames]
    if len(stack) < 3:
        raise DetectorError(f"build_reference needs at least 3 frames, got {len(stack)}")
    shapes = {frame.shape for frame in stack}
    if len(shapes) != 1:
        raise DetectorError(f"build_reference frames differ in shape: {sorted(shapes)}")
    return np.median(np.stack(stack), axis=0).astype(np.uint8)


class ForegroundDetector(Detector):
    """Blobs that differ from the reference, as `foreground` detections (boxes in pixels)."""

    kind = "foreground"

    def __init__(self, reference_bgr: np.ndarray, config: ForegroundConfig | None = None) -> None:
        """Build from the empty-cell reference image (H, W, 3) uint8 of this camera."""
        self.config = config or ForegroundConfig()
        reference = check_frame(reference_bgr)
        self._full_shape = reference.shape
        self._reference = self._prepare(reference).astype(np.float32)
        size = self.config.close_px
        self._kernel = (
            cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)) if size > 1 else None
        )
        self.last_mask: np.ndarray | None = None

    @property
    def reference(self) -> np.ndarray:
        """The current reference at processing scale, (h, w, 3) uint8."""
        return np.clip(self._reference, 0, 255).astype(np.uint8)

    def _prepare(self, frame: np.ndarray) -> np.ndarray:
        scale = self.config.process_scale
        if scale == 1.0:
            return frame
        height, width = frame.shape[:2]
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)

    def foreground_mask(
        self, frame: np.ndarray, ignore_mask: np.ndarray | None = None
    ) -> np.ndarray:
        """Boolean (h, w) foreground at processing scale (shadows and ignored pixels removed)."""
        if frame.shape != self._full_shape:
            raise DetectorError(
                f"frame has shape {frame.shape} but the foreground reference is "
                f"{self._full_shape}: the camera or its resolution changed"
            )
        config = self.config
        small = self._prepare(frame).astype(np.float32)
        reference = self._reference
        difference = np.abs(small - reference).max(axis=2)
        changed = difference > config.threshold
        if config.suppress_shadows:
            sum_frame = small.sum(axis=2) + 1.0
            sum_reference = reference.sum(axis=2) + 1.0
            ratio = sum_frame / sum_reference
            chroma = np.abs(
                small[:, :, 1:] / sum_frame[:, :, None]
                - reference[:, :, 1:] / sum_reference[:, :, None]
            ).max(axis=2)
            shadow = (
                (ratio >= config.shadow_min_ratio)
                & (ratio <= config.shadow_max_ratio)
                & (chroma <= config.shadow_chroma_tolerance)
            )
            changed &= ~shadow
        self._check_global_change(small, changed, ignore_mask)
        mask = changed.astype(np.uint8)
        if self._kernel is not None:
            mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
            mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._kernel)
        if ignore_mask is not None:
            ignored = self._prepare(ignore_mask.astype(np.uint8) * 255) > 0
            mask[ignored] = 0
        if config.adapt_rate > 0.0:
            self._adapt(small, mask)
        return mask.astype(bool)

    def _check_global_change(
        self, small: np.ndarray, changed: np.ndarray, ignore_mask: np.ndarray | None
    ) -> None:
        """Raise CameraImageError when most of the watched image differs from the reference.

        The fraction is taken over the pixels not in ``ignore_mask`` (the robot), before any
        morphology, at processing scale. With ``adapt_rate > 0`` the whole reference blends
        toward the frame first, so a lasting change (a light switched on) clears by itself;
        the monitor is in STOP meanwhile.
        """
        watched = changed
        if ignore_mask is not None:
            keep = ~(self._prepare(ignore_mask.astype(np.uint8) * 255) > 0)
            watched = changed[keep]
        if watched.size == 0:
            return
        fraction = float(np.count_nonzero(watched)) / float(watched.size)
        limit = self.config.max_changed_fraction
        if fraction <= limit:
            return
        if self.config.adapt_rate > 0.0:
            self._reference += self.config.adapt_rate * (small - self._reference)
        raise CameraImageError(
            f"foreground: {fraction:.1%} of the image differs from the empty-cell reference "
            f"(max_changed_fraction {limit:.1%}): a lighting change or a moved or covered "
            "camera, not people"
        )

    def _adapt(self, small: np.ndarray, mask: np.ndarray) -> None:
        """Blend the reference toward the frame, away from any foreground (dilated)."""
        grow = max(3, 2 * self.config.close_px + 1)
        busy = cv2.dilate(mask, np.ones((grow, grow), np.uint8)) > 0
        rate = self.config.adapt_rate
        quiet = ~busy
        self._reference[quiet] += rate * (small[quiet] - self._reference[quiet])

    def _detect(self, frame: np.ndarray, ignore_mask: np.ndarray | None) -> list[Detection]:
        mask = self.foreground_mask(frame, ignore_mask)
        self.last_mask = mask
        count, _labels, stats, _centroids = cv2.connectedComponentsWithStats(
            mask.astype(np.uint8), connectivity=8
        )
        scale = self.config.process_scale
        min_area = self.config.min_area_px * scale * scale
        detections = []
        for index in range(1, count):
            left, top, width, height, area = (int(value) for value in stats[index])
            if area < min_area:
                continue
            box = (left / scale, top / scale, width / scale, height / scale)
            fill = area / float(width * height)
            detections.append(Detection(box, float(fill), "foreground", None, self.kind))
        return detections
