"""Render the demo cell as a camera would see it: BGR uint8 frames with ground-truth labels.

The static room (textured floor with zone tape, walls, lighting fall-off) is rendered once,
ray by ray; each frame copies it and draws the table, the arm and the people with OpenCV
primitives (anti-aliased, sub-pixel), far to near (painter's algorithm), then adds seeded
sensor noise. Everything is deterministic: the same state gives the same image.

Frames: floor metres (x east, y north, z up) in, camera pixels (u right, v down) out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import shapely

from safetymon.config.zones import ZoneType
from safetymon.sim.camera import SimCamera
from safetymon.sim.cell import DemoScene, SceneState, Table
from safetymon.sim.people import BGR, Capsule, PersonPose, Prism, body

#: Sub-pixel bits of OpenCV drawing coordinates.
_SHIFT = 4
_ONE = 1 << _SHIFT
#: Nearest depth drawn (metres in front of the camera).
_NEAR_M = 0.05

#: Label values of `RenderedFrame.labels`.
LABEL_BACKGROUND = 0
LABEL_TABLE = 1
LABEL_ROBOT = 2
LABEL_FIRST_PERSON = 10

_TAPE: dict[ZoneType, BGR] = {
    ZoneType.PROTECTIVE: (45, 45, 205),
    ZoneType.WARNING: (40, 200, 235),
    ZoneType.RESTRICTED: (70, 150, 60),
}
_TAPE_HALF_WIDTH_M = 0.025
_TEXEL_M = 0.01
_ARM_COLOURS: tuple[BGR, ...] = ((150, 150, 155), (20, 120, 235), (20, 120, 235), (95, 100, 105))


@dataclass(frozen=True)
class Room:
    """The room around the cell: walls at x0, x1, y0, y1 (metres), ceiling at height_m."""

    x0: float = -4.5
    y0: float = -3.5
    x1: float = 6.5
    y1: float = 5.5
    height_m: float = 3.8


@dataclass(frozen=True)
class RenderedFrame:
    """A rendered frame and its ground truth.

    Attributes:
        image: (H, W, 3) BGR uint8.
        labels: (H, W) uint8: 0 floor and walls, 1 table, 2 robot arm, 10 + i the i-th
            person of the state (``track_ids[i]``), after occlusion.
        track_ids: track id of each person label.
    """

    image: np.ndarray
    labels: np.ndarray
    track_ids: tuple[int, ...]

    def person_mask(self, track_id: int) -> np.ndarray:
        """(H, W) bool: the visible pixels of the person with ``track_id``."""
        index = self.track_ids.index(track_id)
        return self.labels == LABEL_FIRST_PERSON + index


def capsule_mask(
    camera: SimCamera,
    link_a: np.ndarray,
    link_b: np.ndarray,
    radius_m: np.ndarray,
    margin_px: int = 0,
) -> np.ndarray:
    """(H, W) bool mask of capsules (floor frame, metres) as ``camera`` sees them.

    The form is the decision's robot geometry ((L, 3), (L, 3), (L,)), so a detector can mask
    the robot out of its foreground; ``margin_px`` grows the mask by that many pixels.
    """
    width, height = camera.image_size
    mask = np.zeros((height, width), np.uint8)
    links = np.asarray(link_a, dtype=np.float64).reshape(-1, 3)
    ends = np.asarray(link_b, dtype=np.float64).reshape(-1, 3)
    radii = np.asarray(radius_m, dtype=np.float64).reshape(-1)
    for a, b, r in zip(links, ends, radii, strict=True):
        projected = _project_capsule(camera, a, b, float(r))
        if projected is not None:
            _fill_capsule(mask, *projected, 255, aa=False)
    if margin_px > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin_px + 1,) * 2)
        mask = cv2.dilate(mask, kernel)
    return mask > 0


class CellRenderer:
    """Renders `SceneState`s of a `DemoScene` through a `SimCamera`.

    Args:
        scene: the cell (zones, table, arm, people).
        camera: the camera; images are ``camera.image_size``.
        seed: seed of the floor texture and the sensor noise.
        noise_sigma: standard deviation of the sensor noise, grey levels (0: none).
        room: the walls around the cell.
    """

    def __init__(
        self,
        scene: DemoScene,
        camera: SimCamera,
        seed: int = 0,
        noise_sigma: float = 2.0,
        room: Room | None = None,
    ) -> None:
        if not (math.isfinite(noise_sigma) and noise_sigma >= 0.0):
            raise ValueError(f"noise_sigma must be a finite number >= 0, got {noise_sigma!r}")
        self.scene = scene
        self.camera = camera
        self.room = room or Room()
        if not (
            self.room.x0 < camera.position[0] < self.room.x1
            and self.room.y0 < camera.position[1] < self.room.y1
            and 0.0 < camera.position[2] < self.room.height_m
        ):
            raise ValueError(f"camera position {camera.position.tolist()} is outside the room")
        self._rng_seed = seed
        self._floor_to_pixel = camera.floor_to_pixel_homography()
        self._gain = _lighting_gain(camera.image_size)
        self._background = _room_image(scene, camera, self.room, seed, self._gain)
        self._noise = _noise_bank(camera.image_size, noise_sigma, seed)

    # ------------------------------------------------------------------ public
    def render(self, state: SceneState) -> np.ndarray:
        """(H, W, 3) BGR uint8 camera frame of ``state`` (with noise)."""
        image = self._background.copy()
        self._draw_scene(image, None, state, people=True, robot=True)
        return self._add_noise(image, state.time_s)

    def render_with_truth(self, state: SceneState) -> RenderedFrame:
        """The frame of ``state`` (as `render`) with its ground-truth label image."""
        image = self._background.copy()
        width, height = self.camera.image_size
        labels = np.zeros((height, width), np.uint8)
        self._draw_scene(image, labels, state, people=True, robot=True)
        ids = tuple(p.track_id for p in state.people)
        return RenderedFrame(self._add_noise(image, state.time_s), labels, ids)

    def reference(self, with_robot: bool = True, arm_phase_rad: float = 0.0) -> np.ndarray:
        """The commissioning reference: the empty cell without noise (as if averaged).

        With ``with_robot`` the arm stands at ``arm_phase_rad`` (0 is its rest pose);
        without it only the table and the arm's base plate are there.
        """
        image = self._background.copy()
        state = self.scene.state_at(0.0, arm_phase_rad)
        self._draw_scene(image, None, state, people=False, robot=with_robot)
        return image

    def robot_mask(self, state: SceneState, margin_px: int = 0) -> np.ndarray:
        """(H, W) bool: pixels covered by the arm's link capsules (ignoring occlusion)."""
        arm = state.arm
        return capsule_mask(self.camera, arm.link_a, arm.link_b, arm.radius_m, margin_px)

    # ------------------------------------------------------------------ drawing
    def _draw_scene(
        self,
        image: np.ndarray,
        labels: np.ndarray | None,
        state: SceneState,
        people: bool,
        robot: bool,
    ) -> None:
        groups: list[tuple[float, int, object]] = []
        table = self.scene.table
        table_centre = np.array(
            [[(table.x0 + table.x1) / 2, (table.y0 + table.y1) / 2, table.height_m / 2]]
        )
        groups.append((float(self.camera.depth(table_centre)[0]), 0, None))
        if people:
            for index, pose in enumerate(state.people):
                self._draw_shadow(image, pose)
                centre = np.array([[pose.xy[0], pose.xy[1], 0.9]])
                groups.append((float(self.camera.depth(centre)[0]), index + 1, pose))
        for _, index, item in sorted(groups, key=lambda g: -g[0]):
            if item is None:
                self._draw_table(image, labels, table)
                self._draw_arm(image, labels, state, robot)
            else:
                assert isinstance(item, PersonPose)
                self._draw_person(image, labels, item, LABEL_FIRST_PERSON + index - 1)

    def _shade(self, colour: BGR, uv: np.ndarray) -> tuple[float, float, float]:
        width, height = self.camera.image_size
        u = int(min(max(uv[0], 0), width - 1))
        v = int(min(max(uv[1], 0), height - 1))
        gain = float(self._gain[v, u])
        return (colour[0] * gain, colour[1] * gain, colour[2] * gain)

    def _draw_capsules(
        self, image: np.ndarray, labels: np.ndarray | None, capsules: Iterable[Capsule], label: int
    ) -> None:
        projected = []
        for capsule in capsules:
            item = _project_capsule(self.camera, capsule.a, capsule.b, capsule.radius_m)
            if item is not None:
                depth = float(self.camera.depth((capsule.a + capsule.b) / 2)[0])
                projected.append((depth, item, capsule.colour))
        for _, (pa, pb, ra, rb), colour in sorted(projected, key=lambda p: -p[0]):
            base = self._shade(colour, (pa + pb) / 2)
            _fill_capsule(image, pa, pb, ra, rb, _scaled(base, 0.72), aa=True)
            # a lit stripe toward the light (up-left in the image) makes limbs look round
            offset = np.array([-0.3, -0.35])
            _fill_capsule(
                image, pa + offset * ra, pb + offset * rb, 0.55 * ra, 0.55 * rb,
                _scaled(base, 1.08), aa=True,
            )  # fmt: skip
            if labels is not None:
                _fill_capsule(labels, pa, pb, ra, rb, label, aa=False)

    def _draw_prism(
        self, image: np.ndarray, labels: np.ndarray | None, prism: Prism, label: int
    ) -> None:
        ring = np.asarray(prism.polygon, dtype=np.float64)
        points = np.vstack(
            [np.column_stack([ring, np.full(len(ring), z)]) for z in (prism.z0_m, prism.z1_m)]
        )
        if np.any(self.camera.depth(points) < _NEAR_M):
            return
        uv = self.camera.project(points)
        hull = cv2.convexHull(np.round(uv * _ONE).astype(np.int32))
        colour = self._shade(prism.colour, uv.mean(axis=0))
        cv2.fillConvexPoly(image, hull, colour, cv2.LINE_AA, _SHIFT)
        if labels is not None:
            cv2.fillConvexPoly(labels, hull, label, cv2.LINE_8, _SHIFT)

    def _draw_person(
        self, image: np.ndarray, labels: np.ndarray | None, pose: PersonPose, label: int
    ) -> None:
        shape = body(pose)
        feet = sorted(shape.feet, key=lambda f: -float(self.camera.depth(
            np.append(f.polygon.mean(axis=0), 0.0))[0]))  # fmt: skip
        for foot in feet:
            self._draw_prism(image, labels, foot, label)
        self._draw_capsules(image, labels, shape.capsules, label)

    def _draw_box(
        self,
        image: np.ndarray,
        labels: np.ndarray | None,
        box: Table,
        colour: BGR = (190, 185, 180),
        label: int = LABEL_TABLE,
    ) -> np.ndarray | None:
        """Draw the faces of a box standing on the floor that face the camera (flat shaded).

        Returns its corners' pixels (8, 2) (floor corners, then top corners), or None when
        part of it is behind the camera (then nothing is drawn).
        """
        corners = box.corners()
        if np.any(self.camera.depth(corners) < _NEAR_M):
            return None
        uv = self.camera.project(corners)
        faces = (  # (corner indices, outward normal, brightness)
            ((0, 1, 5, 4), (0.0, -1.0, 0.0), 0.62),
            ((1, 2, 6, 5), (1.0, 0.0, 0.0), 0.55),
            ((2, 3, 7, 6), (0.0, 1.0, 0.0), 0.5),
            ((3, 0, 4, 7), (-1.0, 0.0, 0.0), 0.58),
            ((4, 5, 6, 7), (0.0, 0.0, 1.0), 0.95),
        )
        for indices, normal, brightness in faces:
            centre = corners[list(indices)].mean(axis=0)
            if float(np.dot(normal, self.camera.position - centre)) <= 0:
                continue
            poly = np.round(uv[list(indices)] * _ONE).astype(np.int32)
            shade = self._shade(_scaled(colour, brightness), uv[list(indices)].mean(0))
            cv2.fillConvexPoly(image, poly, shade, cv2.LINE_AA, _SHIFT)
            if labels is not None:
                cv2.fillConvexPoly(labels, poly, label, cv2.LINE_8, _SHIFT)
        return uv

    def _draw_table(self, image: np.ndarray, labels: np.ndarray | None, table: Table) -> None:
        uv = self._draw_box(image, labels, table)
        if uv is None:
            return
        # the arm's base plate, bolted to the table top (static: part of the reference)
        base = self.scene.arm.base
        angles = np.linspace(0.0, 2.0 * math.pi, 24, endpoint=False)
        plate = np.column_stack(
            [base[0] + 0.15 * np.cos(angles), base[1] + 0.15 * np.sin(angles),
             np.full(24, base[2] + 0.005)]
        )  # fmt: skip
        uv_plate = np.round(self.camera.project(plate) * _ONE).astype(np.int32)
        cv2.fillConvexPoly(image, uv_plate, self._shade((55, 55, 60), uv[4]), cv2.LINE_AA, _SHIFT)
        if labels is not None:
            cv2.fillConvexPoly(labels, uv_plate, LABEL_TABLE, cv2.LINE_8, _SHIFT)

    def _draw_arm(
        self, image: np.ndarray, labels: np.ndarray | None, state: SceneState, robot: bool
    ) -> None:
        if not robot:
            return
        arm = state.arm
        capsules = [
            Capsule(a, b, float(r), _ARM_COLOURS[min(i, len(_ARM_COLOURS) - 1)], f"link{i}")
            for i, (a, b, r) in enumerate(zip(arm.link_a, arm.link_b, arm.radius_m, strict=True))
        ]
        joints = [
            Capsule(b, b, float(r), (50, 50, 55), f"joint{i}")
            for i, (b, r) in enumerate(zip(arm.link_b[:-1], arm.radius_m[:-1], strict=True))
        ]
        for capsule in sorted(capsules, key=lambda c: -float(
                self.camera.depth((c.a + c.b) / 2)[0])):  # fmt: skip
            self._draw_capsules(image, labels, [capsule], LABEL_ROBOT)
        self._draw_capsules(image, labels, joints, LABEL_ROBOT)

    def _draw_shadow(self, image: np.ndarray, pose: PersonPose) -> None:
        """A soft, blurred contact shadow on the floor under a person."""
        angles = np.linspace(0.0, 2.0 * math.pi, 20, endpoint=False)
        centre = pose.xy + np.array([0.08, 0.06])  # light from the south-west ceiling
        ring = np.column_stack(
            [centre[0] + 0.36 * np.cos(angles), centre[1] + 0.28 * np.sin(angles)]
        )
        uv = cv2.perspectiveTransform(ring.reshape(-1, 1, 2), self._floor_to_pixel).reshape(-1, 2)
        if not np.all(np.isfinite(uv)):
            return
        sigma = max(1.5, 0.1 * float(np.ptp(uv[:, 0])))
        pad = math.ceil(3.0 * sigma) + 1
        height, width = image.shape[:2]
        x0, y0 = np.floor(uv.min(axis=0)).astype(int) - pad
        x1, y1 = np.ceil(uv.max(axis=0)).astype(int) + pad
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if cx0 >= cx1 or cy0 >= cy1:
            return
        patch = np.zeros((y1 - y0, x1 - x0), np.float32)
        local = np.round((uv - (x0, y0)) * _ONE).astype(np.int32)
        cv2.fillConvexPoly(patch, local, 0.3, cv2.LINE_AA, _SHIFT)
        patch = cv2.GaussianBlur(patch, (0, 0), sigmaX=sigma)
        patch = patch[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        roi = image[cy0:cy1, cx0:cx1]
        roi[:] = np.round(roi * (1.0 - patch[..., None])).astype(np.uint8)

    def _add_noise(self, image: np.ndarray, time_s: float) -> np.ndarray:
        if self._noise is None:
            return image
        # a deterministic choice per time stamp (millisecond resolution)
        index = (round(time_s * 1000.0) * 2654435761) % (2**32) % len(self._noise[0])
        cv2.add(image, self._noise[0][index], dst=image)
        cv2.subtract(image, self._noise[1][index], dst=image)
        return image


_CODECS = {".avi": "MJPG", ".mp4": "mp4v"}


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float) -> int:
    """Write BGR uint8 frames (all the same size) to an .avi (MJPG) or .mp4 (mp4v) file.

    Returns the number of frames written.

    Raises:
        ValueError: an unknown extension, a bad ``fps``, a frame of another size or type.
        OSError: OpenCV cannot open the file for writing.
    """
    target = Path(path)
    codec = _CODECS.get(target.suffix.lower())
    if codec is None:
        raise ValueError(f"path: extension {target.suffix!r} not supported, use .avi or .mp4")
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive finite number, got {fps!r}")
    writer: cv2.VideoWriter | None = None
    size: tuple[int, int] | None = None
    count = 0
    try:
        for frame in frames:
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise ValueError(
                    f"frame {count}: expected (H, W, 3) uint8, got {frame.shape} {frame.dtype}"
                )
            if writer is None:
                size = (frame.shape[1], frame.shape[0])
                writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*codec), fps, size)
                if not writer.isOpened():
                    raise OSError(f"cannot open {target} for writing with codec {codec}")
            elif (frame.shape[1], frame.shape[0]) != size:
                raise ValueError(f"frame {count}: size {frame.shape[1::-1]} differs from {size}")
            writer.write(frame)
            count += 1
    finally:
        if writer is not None:
            writer.release()
    return count


# ---------------------------------------------------------------------- helpers
def _scaled(colour: Iterable[float], factor: float) -> tuple[float, float, float]:
    c = [min(255.0, float(x) * factor) for x in colour]
    return (c[0], c[1], c[2])


def _project_capsule(
    camera: SimCamera, a: np.ndarray, b: np.ndarray, radius_m: float
) -> tuple[np.ndarray, np.ndarray, float, float] | None:
    """Pixel end points and pixel radii of a capsule, or None when it reaches behind the camera.

    The radius at each end is f·r·D/z² (D: distance, z: depth), the sphere's size across
    the viewing direction, slightly generous off the optical axis.
    """
    ends = np.array([a, b], dtype=np.float64)
    depth = camera.depth(ends)
    if np.any(depth < _NEAR_M + radius_m):
        return None
    uv = camera.project(ends)
    distance = np.linalg.norm(ends - camera.position, axis=1)
    radii = camera.focal_px * radius_m * distance / depth**2
    return uv[0], uv[1], float(radii[0]), float(radii[1])


def _fill_capsule(
    image: np.ndarray,
    pa: np.ndarray,
    pb: np.ndarray,
    ra: float,
    rb: float,
    colour: float | tuple[float, ...],
    aa: bool,
) -> None:
    """Fill the 2-D capsule hull of two discs (pixels), sub-pixel accurate."""
    line = cv2.LINE_AA if aa else cv2.LINE_8
    value = colour if isinstance(colour, tuple) else (colour,)
    for centre, radius in ((pa, ra), (pb, rb)):
        cv2.circle(
            image, tuple(np.round(centre * _ONE).astype(int).tolist()),
            max(1, round(radius * _ONE)), value, -1, line, _SHIFT,
        )  # fmt: skip
    axis = pb - pa
    length = float(np.hypot(axis[0], axis[1]))
    if length < 1e-6:
        return
    normal = np.array([-axis[1], axis[0]]) / length
    quad = np.array([pa + normal * ra, pb + normal * rb, pb - normal * rb, pa - normal * ra])
    cv2.fillConvexPoly(image, np.round(quad * _ONE).astype(np.int32), value, line, _SHIFT)


def _lighting_gain(size: tuple[int, int]) -> np.ndarray:
    """(H, W) float32 gain: brighter in the upper left, a mild lens fall-off to the corners."""
    width, height = size
    u = (np.arange(width, dtype=np.float32) - width / 2) / (width / 2)
    v = (np.arange(height, dtype=np.float32) - height / 2) / (width / 2)
    uu, vv = np.meshgrid(u, v)
    return (1.04 - 0.16 * (uu**2 + vv**2) - 0.06 * uu - 0.05 * vv).astype(np.float32)


def _noise_bank(
    size: tuple[int, int], sigma: float, seed: int, count: int = 8
) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
    """Pre-drawn sensor noise as (positive parts, negative parts), uint8 (H, W, 3) each."""
    if sigma <= 0.0:
        return None
    width, height = size
    rng = np.random.default_rng(seed + 1)
    plus, minus = [], []
    for _ in range(count):
        noise = np.clip(np.round(rng.normal(0.0, sigma, (height, width, 3))), -255, 255)
        plus.append(np.clip(noise, 0, 255).astype(np.uint8))
        minus.append(np.clip(-noise, 0, 255).astype(np.uint8))
    return plus, minus


def _room_image(
    scene: DemoScene, camera: SimCamera, room: Room, seed: int, gain: np.ndarray
) -> np.ndarray:
    """The static room (floor with texture and tape, walls, ceiling), 2x supersampled."""
    width, height = camera.image_size
    factor = 2
    us = (np.arange(width * factor) + 0.5) / factor - 0.5
    vs = (np.arange(height * factor) + 0.5) / factor - 0.5
    uu, vv = np.meshgrid(us, vs)
    rays = camera.rays(np.column_stack([uu.ravel(), vv.ravel()]))
    origin = camera.position
    with np.errstate(divide="ignore", invalid="ignore"):
        hits = np.stack(
            [
                np.where(rays[:, 2] < 0, -origin[2] / rays[:, 2], np.inf),  # floor
                np.where(rays[:, 2] > 0, (room.height_m - origin[2]) / rays[:, 2], np.inf),
                np.where(rays[:, 0] < 0, (room.x0 - origin[0]) / rays[:, 0], np.inf),
                np.where(rays[:, 0] > 0, (room.x1 - origin[0]) / rays[:, 0], np.inf),
                np.where(rays[:, 1] < 0, (room.y0 - origin[1]) / rays[:, 1], np.inf),
                np.where(rays[:, 1] > 0, (room.y1 - origin[1]) / rays[:, 1], np.inf),
            ]
        )
    surface = np.argmin(hits, axis=0)
    travel = np.min(hits, axis=0)
    points = origin + rays * travel[:, None]

    texture = _floor_texture(scene, room, seed)
    map_x = ((points[:, 0] - room.x0) / _TEXEL_M).astype(np.float32)
    map_y = ((points[:, 1] - room.y0) / _TEXEL_M).astype(np.float32)
    shape = (height * factor, width * factor)
    floor = cv2.remap(
        texture, map_x.reshape(shape), map_y.reshape(shape), cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    ).reshape(-1, 3).astype(np.float32)  # fmt: skip

    z = points[:, 2]
    wall = np.empty_like(floor)
    wall[:] = (200.0, 205.0, 208.0)
    wall[z < 1.0] = (150.0, 160.0, 170.0)  # a darker dado along the walls
    wall[(z >= 0.98) & (z < 1.02)] = (90.0, 95.0, 100.0)
    wall *= (0.9 + 0.1 * (surface % 2))[:, None]  # walls facing different ways differ
    ceiling = np.full_like(floor, 225.0)
    colour = np.where((surface == 1)[:, None], ceiling, wall)
    colour = np.where((surface == 0)[:, None], floor, colour)
    big = colour.reshape(height * factor, width * factor, 3)
    small = cv2.resize(big, (width, height), interpolation=cv2.INTER_AREA)
    lit = small * gain[..., None]
    return np.clip(np.round(lit), 0, 255).astype(np.uint8)


def _multiples(low: float, high: float, step: float) -> np.ndarray:
    """Multiples of ``step`` in [low, high)."""
    return np.arange(math.ceil(low / step) * step, high, step)


def _floor_texture(scene: DemoScene, room: Room, seed: int) -> np.ndarray:
    """(Ny, Nx, 3) uint8 floor texture, one texel per centimetre, row 0 at y = room.y0.

    Concrete with blotches and grain, expansion joints every 1.5 m, a darker patch worn
    around the table, and tape along every zone boundary (restricted zones hatched).
    """
    nx = round((room.x1 - room.x0) / _TEXEL_M)
    ny = round((room.y1 - room.y0) / _TEXEL_M)
    rng = np.random.default_rng(seed)
    blotches = cv2.resize(rng.normal(0.0, 9.0, (ny // 60, nx // 60)).astype(np.float32), (nx, ny),
                          interpolation=cv2.INTER_CUBIC)  # fmt: skip
    grain = cv2.GaussianBlur(rng.normal(0.0, 7.0, (ny, nx)).astype(np.float32), (0, 0), 0.8)
    grey = 150.0 + blotches + grain
    texture = np.dstack([grey - 4.0, grey, grey + 3.0])

    def texel(xy: np.ndarray) -> np.ndarray:
        return np.round((xy - (room.x0, room.y0)) / _TEXEL_M * _ONE).astype(np.int32)

    joints = [((x, room.y0), (x, room.y1)) for x in _multiples(room.x0, room.x1, 1.5)]
    joints += [((room.x0, y), (room.x1, y)) for y in _multiples(room.y0, room.y1, 1.5)]
    for start, end in joints:
        a, b = texel(np.array(start)), texel(np.array(end))
        cv2.line(texture, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), (118, 122, 125), 1,
                 cv2.LINE_AA, _SHIFT)  # fmt: skip

    table = scene.table
    worn = np.zeros((ny, nx), np.float32)
    footprint = np.array([[table.x0, table.y0], [table.x1, table.y0],
                          [table.x1, table.y1], [table.x0, table.y1]])  # fmt: skip
    cv2.fillConvexPoly(worn, texel(footprint), 1.0, cv2.LINE_AA, _SHIFT)
    worn = cv2.GaussianBlur(worn, (0, 0), 12.0)
    texture *= (1.0 - 0.35 * worn)[..., None]

    for zone in scene.zones:
        colour = _TAPE.get(zone.type)
        if colour is None:
            continue
        shape = zone.shape()
        paint = [shape.exterior.buffer(_TAPE_HALF_WIDTH_M)]
        if zone.type is ZoneType.RESTRICTED:
            x0, y0, x1, y1 = shape.bounds
            for start in np.arange(x0 - (y1 - y0), x1, 0.35):
                stripe = shapely.LineString([(start, y0), (start + (y1 - y0), y1)])
                paint.append(stripe.buffer(0.02).intersection(shape))
        for part in paint:
            for polygon in getattr(part, "geoms", [part]):
                if polygon.is_empty:
                    continue
                rings = [np.asarray(polygon.exterior.coords)[:, :2]]
                rings += [np.asarray(hole.coords)[:, :2] for hole in polygon.interiors]
                mask = np.zeros((ny, nx), np.uint8)
                cv2.fillPoly(mask, [texel(ring) for ring in rings[:1]], 255, cv2.LINE_AA, _SHIFT)
                for hole in rings[1:]:
                    cv2.fillPoly(mask, [texel(hole)], 0, cv2.LINE_AA, _SHIFT)
                alpha = (mask.astype(np.float32) / 255.0)[..., None]
                texture = texture * (1.0 - alpha) + np.array(colour, np.float32) * alpha
    return np.clip(texture, 0, 255).astype(np.uint8)
