"""The matplotlib part of the floor plan: grid, zones, robots, cameras, legend.

Frames: floor metres (x, y; z up, the site's own axes) are the axes' data coordinates, at
one scale for x and y; matplotlib's display pixels (y up from the bottom) become plan image
pixels (column right, row down, pixel centres at integer coordinates) in ``_transform``.
Everything here runs once per plan; live tracks are drawn later with OpenCV (``tracks``).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import shapely
from matplotlib import patheffects
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, Patch
from matplotlib.patches import Polygon as PolygonPatch
from matplotlib.text import Text
from matplotlib.ticker import MultipleLocator

from safetymon.config.site import SiteConfig
from safetymon.config.zones import ZoneConfig, ZoneType
from safetymon.viz import labels
from safetymon.viz.colours import (
    CAMERA_COLOUR,
    FILL_ALPHA,
    GRID_COLOUR,
    ROBOT_COLOUR,
    TRACK_COLOUR,
    rgb01,
    zone_colour,
)
from safetymon.viz.scene import CameraMark, RobotMark, drawing_order
from safetymon.viz.tracks import TRACK_FILL_ALPHA, FloorToPixel

DPI = 100
MIN_SIZE_PX = (480, 360)
LEGEND_WIDTH_PX = 290
MARGINS_PX = (70, 45, 55, 20)  # left, top, bottom, right of the axes (excluding legend)
GRID_STEPS_M = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)
MAX_GRID_LINES = 30
NO_CORE_BOX_M = 20.0  # half side of the box shown around a lone camera view
UNKNOWN_REACH_BOX_M = 0.5  # half side kept around a robot base of unknown reach
OUTLINE = [patheffects.withStroke(linewidth=3, foreground="white")]  # text halo

ZONE_MEANING = {
    ZoneType.PROTECTIVE: "protective zone: person inside → STOP",
    ZoneType.WARNING: "warning zone: person inside → SLOW",
    ZoneType.RESTRICTED: "restricted zone: no robot link may enter",
    ZoneType.ENVELOPE: "envelope: a robot's permitted area",
}


@dataclass(frozen=True)
class PlanImage:
    """A rendered floor plan and what a caller needs to place things on it.

    Attributes:
        image: (H, W, 3) BGR uint8.
        transform: floor metres → image pixels.
        extent_m: (x_min, y_min, x_max, y_max) of the floor shown by the axes, metres.
        grid_step_m: spacing of the grid lines (metres; multiples of it are drawn).
        zone_order: zone ids in drawing order (first at the bottom); fills blend with
            opacity ``FILL_ALPHA`` over what is below.
        label_boxes_px: zone id → (col0, row0, col1, row1) pixel box of its label text.
        cameras, robots: what was drawn for each camera and robot.
    """

    image: np.ndarray
    transform: FloorToPixel
    extent_m: tuple[float, float, float, float]
    grid_step_m: float
    zone_order: tuple[str, ...]
    label_boxes_px: dict[str, tuple[float, float, float, float]]
    cameras: tuple[CameraMark, ...]
    robots: tuple[RobotMark, ...]


def grid_step(span_m: float) -> float:
    """The smallest of 1, 2, 5, 10, … metres that gives at most ``MAX_GRID_LINES`` lines."""
    for step in GRID_STEPS_M:
        if span_m / step <= MAX_GRID_LINES:
            return step
    return GRID_STEPS_M[-1] * math.ceil(span_m / (GRID_STEPS_M[-1] * MAX_GRID_LINES))


def fit_aspect(
    box: tuple[float, float, float, float], aspect: float
) -> tuple[float, float, float, float]:
    """Grow a floor box about its centre to width/height = ``aspect`` (one scale for x, y)."""
    x0, y0, x1, y1 = box
    width, height = x1 - x0, y1 - y0
    if width / height < aspect:
        grow = (height * aspect - width) / 2
        return x0 - grow, y0, x1 + grow, y1
    grow = (width / aspect - height) / 2
    return x0, y0 - grow, x1, y1 + grow


def _bounds(geometries: Sequence[shapely.Geometry]) -> tuple[float, float, float, float] | None:
    present = [g for g in geometries if g is not None and not g.is_empty]
    if not present:
        return None
    x0, y0, x1, y1 = shapely.total_bounds(present)
    return float(x0), float(y0), float(x1), float(y1)


def plan_extent(
    zones: Sequence[ZoneConfig], robots: Sequence[RobotMark], cameras: Sequence[CameraMark]
) -> tuple[tuple[float, float, float, float], dict[str, shapely.Geometry]]:
    """Floor box to show (metres) and each camera footprint clipped to it.

    The core is every zone, every robot's reach disc (or a small box around a base of
    unknown reach) and every known camera centre; camera footprints, which run to the
    horizon, are clipped to the core grown by half its size (at least 2 m) before they
    extend the box. A margin of 5 % (+ 0.3 m) goes around the result.
    """
    core: list[shapely.Geometry] = [zone.shape() for zone in zones]
    for robot in robots:
        reach = robot.reach.radius_m or UNKNOWN_REACH_BOX_M
        core.append(shapely.Point(robot.base_m).buffer(reach, quad_segs=32))
    core.extend(shapely.Point(c.centre_m[:2]) for c in cameras if c.centre_m is not None)
    box = _bounds(core)
    if box is None:
        anchors = [c.near_point_m for c in cameras if c.near_point_m is not None]
        x, y = anchors[0] if anchors else (0.0, 0.0)
        clip = shapely.box(
            x - NO_CORE_BOX_M, y - NO_CORE_BOX_M, x + NO_CORE_BOX_M, y + NO_CORE_BOX_M
        )
    else:
        pad = max(2.0, 0.5 * max(box[2] - box[0], box[3] - box[1]))
        clip = shapely.box(box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad)
    clipped = {
        c.id: shapely.intersection(c.footprint, clip)
        for c in cameras
        if c.footprint is not None and not c.footprint.is_empty
    }
    everything = core + list(clipped.values())
    total = _bounds(everything) or (-1.0, -1.0, 1.0, 1.0)
    x0, y0, x1, y1 = total
    margin = 0.05 * max(x1 - x0, y1 - y0, 1.0) + 0.3
    return (x0 - margin, y0 - margin, x1 + margin, y1 + margin), clipped


def _dark(colour: tuple[int, int, int], factor: float = 0.6) -> tuple[float, float, float]:
    r, g, b = rgb01(colour)
    return r * factor, g * factor, b * factor


def _wrap(text: str) -> str:
    return textwrap.fill(text, 38)


def draw_plan(
    config: SiteConfig,
    robots: Sequence[RobotMark],
    cameras: Sequence[CameraMark],
    size_px: tuple[int, int],
    track_legend: bool,
) -> PlanImage:
    """Draw the static plan with matplotlib (Agg) and return it as a BGR image."""
    width, height = size_px
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor="white")
    canvas = FigureCanvasAgg(figure)
    left, top, bottom, right = MARGINS_PX
    axes_w = width - left - right - LEGEND_WIDTH_PX
    axes_h = height - top - bottom
    ax = figure.add_axes((left / width, bottom / height, axes_w / width, axes_h / height))
    box, footprints = plan_extent(config.zones, robots, cameras)
    x0, y0, x1, y1 = fit_aspect(box, axes_w / axes_h)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    step = grid_step(max(x1 - x0, y1 - y0))
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MultipleLocator(step))
    ax.grid(True, color=rgb01(GRID_COLOUR), linewidth=0.8)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=8)
    ax.set_xlabel("x (m)", fontsize=9)
    ax.set_ylabel("y (m)", fontsize=9)
    ax.set_title(f"{config.site}: floor plan (floor frame, metres, grid {step:g} m)", fontsize=10)
    renderer = canvas.get_renderer()

    order = drawing_order(config.zones)
    for zone in order:
        colour = zone_colour(zone.type)
        ax.add_patch(
            PolygonPatch(
                np.asarray(zone.polygon),
                closed=True,
                facecolor=(*rgb01(colour), FILL_ALPHA),
                edgecolor=rgb01(colour),
                linewidth=1.5,
                zorder=2,
            )
        )
    handles: list[Artist] = [
        Patch(
            facecolor=(*rgb01(zone_colour(t)), FILL_ALPHA),
            edgecolor=rgb01(zone_colour(t)),
            label=_wrap(ZONE_MEANING[t]),
        )
        for t in ZoneType
        if any(zone.type is t for zone in config.zones)
    ]
    camera_handles, camera_texts = _draw_cameras(ax, cameras, footprints)
    robot_handles, robot_texts = _draw_robots(ax, robots)
    handles += camera_handles + robot_handles
    obstacles = [_display_box(text, renderer) for text in camera_texts + robot_texts]
    texts = _draw_zone_labels(ax, order, renderer, obstacles)
    if track_legend:
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                linestyle="none",
                markersize=9,
                markerfacecolor=(*rgb01(TRACK_COLOUR), TRACK_FILL_ALPHA),
                markeredgecolor=rgb01(TRACK_COLOUR),
                label="person track (disc: its radius)",
            )
        )
    if handles:
        figure.legend(
            handles=handles,
            loc="upper left",
            fontsize=8,
            frameon=True,
            bbox_to_anchor=((width - LEGEND_WIDTH_PX + 5) / width, 1 - top / height),
            borderaxespad=0.0,
            handlelength=2.2,
        )
    canvas.draw()
    image = cv2.cvtColor(np.asarray(canvas.buffer_rgba()), cv2.COLOR_RGBA2BGR)
    boxes = {}
    for zone_id, text in texts.items():
        bx0, by0, bx1, by1 = _display_box(text, renderer)
        boxes[zone_id] = (bx0, height - by1, bx1, height - by0)
    return PlanImage(
        image,
        _transform(ax, height),
        (x0, y0, x1, y1),
        step,
        tuple(zone.id for zone in order),
        boxes,
        tuple(cameras),
        tuple(robots),
    )


def _display_box(text: Text, renderer: object) -> labels.Box:
    box = text.get_window_extent(renderer)
    return float(box.x0), float(box.y0), float(box.x1), float(box.y1)


def _draw_zone_labels(
    ax: Axes, order: Sequence[ZoneConfig], renderer: object, obstacles: list[labels.Box]
) -> dict[str, Text]:
    """Each zone's id inside it (``labels.place``), smallest zones first: they have least room."""
    to_display = ax.transData
    from_display = ax.transData.inverted()
    shapes_px = [shapely.Polygon(to_display.transform(np.asarray(zone.polygon))) for zone in order]
    taken = list(obstacles)
    texts: dict[str, Text] = {}
    for index in reversed(range(len(order))):
        zone = order[index]
        text = ax.text(
            0.0,
            0.0,
            zone.id,
            ha="center",
            va="center",
            fontsize=9,
            fontweight="bold",
            color=_dark(zone_colour(zone.type)),
            zorder=6,
            path_effects=OUTLINE,
        )

        def measure(point: tuple[float, float], text: Text = text) -> labels.Box:
            text.set_position(tuple(from_display.transform(point)))
            return _display_box(text, renderer)

        inset = (measure((0.0, 0.0))[3] - measure((0.0, 0.0))[1]) / 2 + 3.0
        point, box = labels.place(shapes_px[index], shapes_px[index + 1 :], measure, taken, inset)
        text.set_position(tuple(from_display.transform(point)))
        taken.append(box)
        texts[zone.id] = text
    return texts


def _transform(ax: Axes, height: int) -> FloorToPixel:
    """The axes' data → display transform as plan pixels (display y is up from the bottom).

    Display coordinates put pixel column c over [c, c + 1] and row r over display y in
    [H − r − 1, H − r]; pixel centres sit at integer (col, row), hence the half-pixel shift.
    """
    (c0, d0), (c1, d1) = ax.transData.transform([(0.0, 0.0), (1.0, 1.0)])
    scale_x, scale_y = c1 - c0, d1 - d0
    if not math.isclose(scale_x, scale_y, rel_tol=1e-6):
        raise RuntimeError(f"plan is not to scale: {scale_x} vs {scale_y} px/m")
    return FloorToPixel(float(scale_x), (float(c0) - 0.5, float(height - d0) - 0.5))


def _draw_cameras(
    ax: Axes, cameras: Sequence[CameraMark], footprints: Mapping[str, shapely.Geometry]
) -> tuple[list[Artist], list[Text]]:
    """Footprint edges (dashed; only the real view edges, not the plan-edge cut), centres."""
    colour = rgb01(CAMERA_COLOUR)
    handles: list[Artist] = []
    texts: list[Text] = []
    if footprints:
        handles.append(
            Line2D(
                [],
                [],
                color=colour,
                linestyle="--",
                linewidth=1.2,
                label=_wrap("camera view on the floor (image border, cut just below the horizon)"),
            )
        )
    if any(c.centre_m is not None for c in cameras):
        handles.append(
            Line2D(
                [],
                [],
                marker="^",
                linestyle="none",
                markersize=9,
                color=colour,
                label=_wrap("camera centre (from the calibration's pose)"),
            )
        )
    for camera in cameras:
        clipped = footprints.get(camera.id)
        if clipped is not None and camera.footprint is not None:
            edges = shapely.intersection(camera.footprint.boundary, clipped.buffer(1e-9))
            for line in shapely.get_parts(shapely.line_merge(edges)):
                if isinstance(line, shapely.LineString) and not line.is_empty:
                    ax.plot(*line.xy, color=colour, linestyle="--", linewidth=1.2, zorder=3)
        if camera.centre_m is not None:
            x, y, z = camera.centre_m
            ax.plot([x], [y], marker="^", markersize=10, color=colour, zorder=5)
            texts.append(
                ax.annotate(
                    f"{camera.id} ({z:.1f} m up)",
                    (x, y),
                    xytext=(7, -12),
                    textcoords="offset points",
                    fontsize=8,
                    color=colour,
                    zorder=6,
                    path_effects=OUTLINE,
                )
            )
        elif (
            camera.near_point_m is not None
            and clipped is not None
            and clipped.buffer(1e-6).contains(shapely.Point(camera.near_point_m))
        ):
            texts.append(
                ax.annotate(
                    f"{camera.id} view",
                    camera.near_point_m,
                    xytext=(0, 6),
                    textcoords="offset points",
                    ha="center",
                    fontsize=8,
                    color=colour,
                    zorder=6,
                    path_effects=OUTLINE,
                )
            )
        if camera.note:
            handles.append(
                Line2D([], [], linestyle="none", label=_wrap(f"camera {camera.id}: {camera.note}"))
            )
    return handles, texts


def _draw_robots(ax: Axes, robots: Sequence[RobotMark]) -> tuple[list[Artist], list[Text]]:
    """Base markers, dotted reach-bound circles, and a note for unknown reach."""
    colour = rgb01(ROBOT_COLOUR)
    handles: list[Artist] = []
    texts: list[Text] = []
    if robots:
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                linestyle="none",
                markersize=7,
                color=colour,
                label=_wrap("robot base (configured base_pose)"),
            )
        )
    bases = sorted({r.reach.basis for r in robots if r.reach.radius_m is not None})
    handles += [
        Line2D(
            [],
            [],
            color=colour,
            linestyle=":",
            linewidth=1.5,
            label=_wrap(f"robot reach bound ({basis})"),
        )
        for basis in bases
    ]
    for robot in robots:
        x, y = robot.base_m
        ax.plot([x], [y], marker="o", markersize=7, color=colour, zorder=5)
        reach = robot.reach.radius_m
        if reach is not None:
            ax.add_patch(
                Circle(
                    (x, y),
                    reach,
                    fill=False,
                    edgecolor=colour,
                    linestyle=":",
                    linewidth=1.5,
                    zorder=4,
                )
            )
            label = f"{robot.id} (reach ≤ {reach:.2f} m)"
        else:
            label = f"{robot.id} (reach unknown)"
            handles.append(
                Line2D(
                    [], [], linestyle="none", label=_wrap(f"robot {robot.id}: {robot.reach.basis}")
                )
            )
        texts.append(
            ax.annotate(
                label,
                (x, y),
                xytext=(7, 6),
                textcoords="offset points",
                fontsize=8,
                color=colour,
                zorder=6,
                path_effects=OUTLINE,
            )
        )
    return handles, texts
