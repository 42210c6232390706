"""The demo's floor-plan PNG: the site plan with the run's tracks coloured by decision state.

The static plan (zones, robot, camera footprint, metre grid, legend) is `safetymon.viz.plan`;
on top of it each scripted person's true path is drawn thin and grey, and each monitor track
as a line coloured by the state the monitor decided at that instant (green RUN, amber SLOW,
red STOP), so one picture shows where the monitor slowed and stopped the robot.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from safetymon.config.site import SiteConfig
from safetymon.demo.recording import DemoHistory
from safetymon.monitor.annotate import STATE_COLOURS
from safetymon.signals.frame import SafetyState
from safetymon.viz.images import write_image
from safetymon.viz.plan import FloorToPixel, PlanRenderer

_TRUTH_COLOUR = (150, 150, 150)
_MAX_JUMP_M = 1.0
"""Consecutive samples of one track further apart than this are not joined, metres."""


def draw_paths(image: np.ndarray, transform: FloorToPixel, history: DemoHistory) -> np.ndarray:
    """Draw true paths (grey) and tracks (by state) on a plan image in place; returns it."""
    for thickness, coloured in ((1, False), (3, True)):
        previous: dict[int, tuple[np.ndarray, SafetyState]] = {}
        for sample in history.samples:
            rows = sample.tracks if coloured else sample.truth
            current = {}
            for track_id, x, y in rows:
                point = np.array([x, y])
                key = int(track_id)
                current[key] = (point, sample.state)
                if key in previous:
                    before, _ = previous[key]
                    if np.linalg.norm(point - before) <= _MAX_JUMP_M:
                        a, b = transform.to_pixels(np.stack([before, point]))
                        colour = STATE_COLOURS[sample.state] if coloured else _TRUTH_COLOUR
                        cv2.line(
                            image,
                            (round(a[0]), round(a[1])),
                            (round(b[0]), round(b[1])),
                            colour,
                            thickness,
                            cv2.LINE_AA,
                        )
            previous = current
    _legend(image)
    return image


def _legend(image: np.ndarray) -> None:
    entries = [("true path (script)", _TRUTH_COLOUR)] + [
        (f"track while {state.name}", STATE_COLOURS[state]) for state in SafetyState
    ]
    for index, (text, colour) in enumerate(entries):
        y = 20 + 18 * index
        cv2.line(image, (12, y - 4), (40, y - 4), colour, 3, cv2.LINE_AA)
        cv2.putText(image, text, (46, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)


def write_demo_plan(
    path: Path, config: SiteConfig, history: DemoHistory, base_dir: Path | None = None
) -> None:
    """Write the demo's floor plan with the run's paths to ``path`` (PNG).

    Raises:
        OSError: the file cannot be written.
    """
    camera_sizes = {camera.id: (640, 480) for camera in config.cameras}
    renderer = PlanRenderer(config, base_dir or Path("."), image_sizes=camera_sizes)
    image = renderer.base.image.copy()
    draw_paths(image, renderer.base.transform, history)
    write_image(path, image)
