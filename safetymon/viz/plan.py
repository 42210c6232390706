"""The floor plan of a site, to scale: zones, robots, cameras and (live) tracks.

Frames: floor metres (x, y; z up, the site's own axes) → plan image pixels (column right,
row down, pixel centres at integer coordinates) through ``FloorToPixel`` (one scale for x
and y: the plan is to scale). The static part (grid, zones, robots, cameras, legend) is
drawn once with matplotlib (Agg, no display) by ``PlanRenderer``; ``PlanRenderer.render``
then draws live tracks on a copy with OpenCV.

Example::

    renderer = PlanRenderer(config, Path("zones"))
    image = renderer.render(np.array([[1.0, 0.5, 0.3]]), ["track 7"])  # BGR
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import matplotlib.style
import numpy as np

from safetymon.config.site import SiteConfig
from safetymon.viz.images import check_image_path, write_image
from safetymon.viz.plan_figure import MIN_SIZE_PX, PlanImage, draw_plan
from safetymon.viz.scene import camera_marks, robot_marks
from safetymon.viz.tracks import FloorToPixel, draw_tracks

__all__ = ["FloorToPixel", "PlanImage", "PlanRenderer", "draw_tracks", "render_plan", "save_plan"]

DEFAULT_SIZE_PX = (1200, 900)


class PlanRenderer:
    """Draws a site's static floor plan once; ``render`` adds live tracks cheaply.

    Args:
        config: the site.
        base_dir: folder that relative calibration/URDF paths resolve against (the site
            file's folder).
        size_px: (width, height) of the image in pixels.
        image_sizes: camera id → (width, height) pixels, for cameras whose calibration has no
            ``image_size`` (without one their footprint is not drawn).
        show_robots, show_cameras: draw robots / cameras (zones are always drawn).
        track_legend: add a legend entry for tracks (live views).

    Attributes:
        base: the static plan (``PlanImage``: image, transform, extent, ...).

    Raises:
        ConfigError: a calibration file is missing or invalid.
        ValueError: size too small, an image size contradicting a calibration, unreadable
            URDF.
    """

    def __init__(
        self,
        config: SiteConfig,
        base_dir: Path | str,
        *,
        size_px: tuple[int, int] = DEFAULT_SIZE_PX,
        image_sizes: Mapping[str, tuple[int, int]] | None = None,
        show_robots: bool = True,
        show_cameras: bool = True,
        track_legend: bool = False,
    ) -> None:
        """Build the static plan (matplotlib) and keep it as a BGR image."""
        width, height = size_px
        if width < MIN_SIZE_PX[0] or height < MIN_SIZE_PX[1]:
            raise ValueError(
                f"plan size {width}x{height} px is too small: at least "
                f"{MIN_SIZE_PX[0]}x{MIN_SIZE_PX[1]}"
            )
        base = Path(base_dir)
        robots = robot_marks(config, base) if show_robots else []
        cameras = camera_marks(config, base, image_sizes) if show_cameras else []
        # matplotlib's defaults, not the user's matplotlibrc: the same plan everywhere
        with matplotlib.style.context("default"):
            self.base = draw_plan(config, robots, cameras, (width, height), track_legend)

    def render(
        self, tracks: np.ndarray | None = None, labels: Sequence[str] | None = None
    ) -> np.ndarray:
        """A copy of the plan with ``tracks`` drawn (see ``draw_tracks``), BGR uint8."""
        image = self.base.image.copy()
        if tracks is not None:
            draw_tracks(image, self.base.transform, tracks, labels)
        return image


def render_plan(
    config: SiteConfig,
    base_dir: Path | str,
    *,
    tracks: np.ndarray | None = None,
    track_labels: Sequence[str] | None = None,
    size_px: tuple[int, int] = DEFAULT_SIZE_PX,
    image_sizes: Mapping[str, tuple[int, int]] | None = None,
    show_robots: bool = True,
    show_cameras: bool = True,
) -> PlanImage:
    """The site's floor plan as a BGR image with its floor → pixel transform.

    ``tracks`` is (N, 3) rows (x_m, y_m, radius_m), see ``draw_tracks``. For repeated renders
    with moving tracks build a ``PlanRenderer`` once instead. Arguments and errors: see
    ``PlanRenderer``.
    """
    renderer = PlanRenderer(
        config,
        base_dir,
        size_px=size_px,
        image_sizes=image_sizes,
        show_robots=show_robots,
        show_cameras=show_cameras,
        track_legend=tracks is not None,
    )
    if tracks is None:
        return renderer.base
    return replace(renderer.base, image=renderer.render(tracks, track_labels))


def save_plan(
    path: str | Path,
    config: SiteConfig,
    base_dir: Path | str,
    *,
    size_px: tuple[int, int] = DEFAULT_SIZE_PX,
    image_sizes: Mapping[str, tuple[int, int]] | None = None,
    show_robots: bool = True,
    show_cameras: bool = True,
) -> PlanImage:
    """Render the plan and write it as PNG/JPEG by ``path``'s extension (same bytes each run).

    Raises:
        ValueError: unsupported extension (checked before rendering), or as ``PlanRenderer``.
        OSError: the file cannot be written.
    """
    check_image_path(path)
    plan = render_plan(
        config,
        base_dir,
        size_px=size_px,
        image_sizes=image_sizes,
        show_robots=show_robots,
        show_cameras=show_cameras,
    )
    write_image(path, plan.image)
    return plan
