"""How tall a person appears in each image row, from the camera's calibration (pure, no I/O).

Frames and units: raw image pixels (u right, v down); floor metres (x, y; z up); a person is an
upright segment from the foot point (x, y, 0) to the head point (x, y, h), ``h`` in the range
``person_height_m`` (default 1.0-2.0 m). Their *pixel height* is ``v(foot) - v(head)``: the
height of an upright box around them.

Three steps:

1. ``camera_model(mapper)``: a pinhole camera (K, lens, floor → camera pose) that projects 3-D
   floor points. From the mapper's pose when it has one; from its intrinsics and homography
   (``pose_from_homography``) when it has intrinsics only; from the homography alone through
   ``estimate_camera_from_homography`` otherwise (square pixels, principal point at the image
   centre, and either a given camera height or the focal length implied by the floor's right
   angles).
2. ``plan_person_scale(mapper)``: per band of image rows (foot rows), the smallest and largest
   expected person pixel height and the columns that see the floor; the rows that see no
   usable floor are listed apart.
3. ``hog_bands(plan)`` (crops and upscale factors for OpenCV's HOG, whose 64x128 window holds
   a person ~98 px tall) and ``detector_tiles(plan)`` (square tiles for a fixed-input network).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import brentq

from safetymon.perception.calibration.floor import pose_from_homography
from safetymon.perception.mapping import FloorMapper, bottom_row

DEFAULT_PERSON_HEIGHT_M = (1.0, 2.0)
"""Shortest and tallest person planned for (metres): a child to a tall adult."""
HOG_WINDOW_PERSON_PX = 128 * 0.77
"""Person height (px) inside HOG's 64x128 window (``detectors.hog.PERSON_IN_WINDOW`` 0.77)."""
MAX_M_PER_PX = 0.5
"""A foot pixel spanning more floor than this (metres) is out of useful range (no floor)."""
MIN_TILT_DEG = 20.0
"""Homography-only focal estimate: refused when the optical axis is closer than this to the
floor normal (a near top-down camera: the floor's right angles no longer fix the focal)."""
MAX_INCONSISTENCY = 0.25
"""Homography-only focal estimate: refused when the two right-angle constraints disagree by
more than this fraction of 1/f² (non-square pixels or a principal point far from centre)."""
HEAD_ROOM = 1.15
"""A crop/tile holds this many tallest-person heights above its lowest foot row (head margin)."""
FOOT_ROOM = 0.2
"""... and this many tallest-person heights below it (the HOG window's margin under the feet)."""


class PersonScaleError(ValueError):
    """The camera cannot be planned for (no floor in view, unreliable estimate); says why."""


@dataclass(frozen=True)
class CameraModel:
    """A pinhole camera for projecting floor-frame 3-D points.

    Attributes:
        camera_matrix: (3, 3) K (pixels).
        dist_coeffs: OpenCV distortion, or None (pixels are undistorted).
        rvec, tvec: floor → camera pose (Rodrigues radians, metres).
        source: "pose" (the calibration's pose), "intrinsics+homography" (pose decomposed
            from the homography with known K), "homography+camera height" or
            "homography+right angles" (K estimated, see ``estimate_camera_from_homography``).
        notes: assumptions made and checks passed, as sentences.
    """

    camera_matrix: np.ndarray
    dist_coeffs: np.ndarray | None
    rvec: np.ndarray
    tvec: np.ndarray
    source: str
    notes: tuple[str, ...] = ()

    @property
    def rotation(self) -> np.ndarray:
        """Floor → camera rotation matrix (3, 3)."""
        return cv2.Rodrigues(np.asarray(self.rvec, dtype=np.float64))[0]

    @property
    def centre_m(self) -> np.ndarray:
        """Camera centre in the floor frame (metres)."""
        return -self.rotation.T @ np.asarray(self.tvec, dtype=np.float64)

    @property
    def height_m(self) -> float:
        """Camera centre's height above the floor (metres)."""
        return float(self.centre_m[2])

    @property
    def tilt_deg(self) -> float:
        """Angle between the optical axis and straight down (degrees; 0 = top-down)."""
        axis = self.rotation[2]  # optical axis in floor coordinates
        return math.degrees(math.acos(float(np.clip(-axis[2], -1.0, 1.0))))

    @property
    def focal_px(self) -> float:
        """Mean focal length (pixels)."""
        return float((self.camera_matrix[0, 0] + self.camera_matrix[1, 1]) / 2)

    def project(self, points_xyz: np.ndarray) -> np.ndarray:
        """Floor-frame points (N, 3) metres → raw pixels (N, 2); NaN at/behind the camera."""
        points = np.asarray(points_xyz, dtype=np.float64).reshape(-1, 3)
        depth = points @ self.rotation[2] + np.asarray(self.tvec, float)[2]
        result = np.full((len(points), 2), np.nan)
        front = (depth > 1e-9) & np.all(np.isfinite(points), axis=1)
        if np.any(front):
            dist = np.zeros(5) if self.dist_coeffs is None else self.dist_coeffs
            projected, _ = cv2.projectPoints(
                points[front], np.asarray(self.rvec, float), np.asarray(self.tvec, float),
                self.camera_matrix, dist,
            )  # fmt: skip
            result[front] = projected.reshape(-1, 2)
        return result


def _centred_k(focal_px: float, image_size: tuple[int, int]) -> np.ndarray:
    width, height = image_size
    centre_u, centre_v = (width - 1) / 2, (height - 1) / 2
    return np.array([[focal_px, 0.0, centre_u], [0.0, focal_px, centre_v], [0.0, 0.0, 1.0]])


def _model_from_k(
    homography: np.ndarray, k: np.ndarray, floor_pixels: np.ndarray, source: str,
    notes: tuple[str, ...],
) -> CameraModel | None:
    pose = pose_from_homography(homography, k, floor_pixels)
    if pose is None:
        return None
    return CameraModel(
        k, None, np.asarray(pose.rvec, float), np.asarray(pose.tvec, float), source, notes
    )


def focal_from_right_angles(
    homography: np.ndarray, image_size: tuple[int, int]
) -> tuple[float, float]:
    """Focal length (pixels) implied by a floor homography, and the constraints' disagreement.

    With square pixels and the principal point at the image centre, ``G = H⁻¹`` (floor →
    undistorted pixels) is ``K [r1 r2 t]`` up to scale, and ``r1``, ``r2`` are orthogonal unit
    vectors. With ``a_i`` the columns of G shifted to the centre, both
    ``(a1·a2)_xy w + a1z a2z = 0`` and ``(|a1|² - |a2|²)_xy w + a1z² - a2z² = 0`` hold for
    ``w = 1 / f²``; together (as one complex equation ``w c·c + c_z² = 0`` with
    ``c = a1 + i a2``) they do not depend on how the floor axes are turned. ``w`` is their
    least-squares solution; the disagreement is ``|Im| / |Re|`` of the complex solution.

    Returns:
        (focal_px, disagreement); focal_px is NaN when ``w <= 0`` (no real camera fits).
    """
    width, height = image_size
    shift = np.array([[1.0, 0.0, -(width - 1) / 2], [0.0, 1.0, -(height - 1) / 2], [0, 0, 1]])
    g = shift @ np.linalg.inv(np.asarray(homography, dtype=np.float64))
    c = g[:, 0] + 1j * g[:, 1]
    coefficient = c[0] ** 2 + c[1] ** 2
    constant = c[2] ** 2
    if abs(coefficient) == 0:
        return float("nan"), float("inf")
    solution = -constant / coefficient
    w = float(solution.real)
    disagreement = abs(solution.imag) / abs(solution.real) if solution.real != 0 else math.inf
    return (1.0 / math.sqrt(w) if w > 0 else float("nan")), float(disagreement)


def _right_angle_residual(h: np.ndarray, size: tuple[int, int], focal: float) -> float:
    """How far ``K(focal)⁻¹ H⁻¹``'s first two columns are from orthogonal and equally long
    (0: exactly; rotation-invariant, relative)."""
    width, height = size
    shift = np.array([[1.0, 0.0, -(width - 1) / 2], [0.0, 1.0, -(height - 1) / 2], [0, 0, 1]])
    g = shift @ np.linalg.inv(h)
    c = g[:, 0] + 1j * g[:, 1]
    value = (c[0] ** 2 + c[1] ** 2) / focal**2 + c[2] ** 2
    size_of = (abs(c[0]) ** 2 + abs(c[1]) ** 2) / focal**2 + abs(c[2]) ** 2
    return float(abs(value) / size_of)


def estimate_camera_from_homography(
    homography: np.ndarray,
    image_size: tuple[int, int],
    camera_height_m: float | None = None,
) -> CameraModel:
    """A camera (K, pose) from a floor homography alone (undistorted pixels → floor metres).

    Assumes square pixels, no skew and the principal point at the image centre. The focal
    length then follows from either:

    - ``camera_height_m`` (the camera centre's height above the floor, metres): the focal
      for which the decomposed pose puts the camera at that height (the homography's metric
      scale fixes the rest); works for any tilt, top-down included;
    - or, without it, the floor's right angles (``focal_from_right_angles``): refused when
      the camera is within ``MIN_TILT_DEG`` of top-down (the focal is then unobservable) or
      the two constraints disagree by more than ``MAX_INCONSISTENCY``.

    Raises:
        PersonScaleError: no focal fits (naming the cause and what to give instead).
    """
    if camera_height_m is not None and not (math.isfinite(camera_height_m) and camera_height_m > 0):
        raise PersonScaleError(f"camera_height_m must be > 0 metres, got {camera_height_m}")
    h = np.asarray(homography, dtype=np.float64)
    floor_pixels = bottom_row(image_size)
    side = float(max(image_size))
    if camera_height_m is not None:
        return _focal_for_height(h, image_size, floor_pixels, camera_height_m, side)
    focal, disagreement = focal_from_right_angles(h, image_size)
    if not math.isfinite(focal):
        raise PersonScaleError(
            "no focal length fits this floor homography with square pixels and a centred "
            "principal point: give camera_height_m or calibrate the intrinsics"
        )
    model = _model_from_k(h, _centred_k(focal, image_size), floor_pixels,
                          "homography+right angles", ())  # fmt: skip
    if model is None:
        raise PersonScaleError(
            f"the estimated camera (focal {focal:.0f} px) lies below the floor: the floor "
            "frame is mirrored or the homography sees no floor"
        )
    if model.tilt_deg < MIN_TILT_DEG:
        raise PersonScaleError(
            f"the camera looks nearly straight down (tilt {model.tilt_deg:.1f}° < "
            f"{MIN_TILT_DEG:g}°): its focal length cannot be told from the floor homography; "
            "give camera_height_m or calibrate the intrinsics"
        )
    if disagreement > MAX_INCONSISTENCY:
        raise PersonScaleError(
            f"the floor homography's right angles disagree ({disagreement:.2f} > "
            f"{MAX_INCONSISTENCY:g}) about the focal length: pixels not square or principal "
            "point far from the image centre; give camera_height_m or calibrate the intrinsics"
        )
    notes = (
        f"focal {focal:.0f} px estimated from the floor's right angles (square pixels, "
        f"principal point at the image centre; constraints disagree by {disagreement:.3f}); "
        f"camera {model.height_m:.2f} m above the floor, tilt {model.tilt_deg:.1f}°",
    )
    return CameraModel(model.camera_matrix, None, model.rvec, model.tvec, model.source, notes)


def _focal_for_height(
    h: np.ndarray, size: tuple[int, int], floor_pixels: np.ndarray, target_m: float, side: float
) -> CameraModel:
    """The centred-K camera whose decomposed pose is ``target_m`` above the floor."""

    def excess(focal: float) -> float:
        model = _model_from_k(h, _centred_k(focal, size), floor_pixels, "", ())
        return math.nan if model is None else model.height_m - target_m

    focals = side * np.geomspace(0.05, 20.0, 200)
    values = np.array([excess(f) for f in focals])
    roots = []
    for i in range(len(focals) - 1):
        a, b = values[i], values[i + 1]
        if np.isfinite(a) and np.isfinite(b) and a * b <= 0 and a != b:
            roots.append(brentq(excess, focals[i], focals[i + 1], xtol=1e-6))
    if not roots:
        reachable = values[np.isfinite(values)] + target_m
        span = (
            f"{reachable.min():.2f}-{reachable.max():.2f} m" if len(reachable) else "none"
        )
        raise PersonScaleError(
            f"no focal length puts this camera {target_m:g} m above the floor (heights "
            f"reachable with a centred principal point: {span}): check camera_height_m and "
            "the floor homography"
        )
    residuals = [_right_angle_residual(h, size, f) for f in roots]
    focal = roots[int(np.argmin(residuals))]
    notes = [
        f"focal {focal:.0f} px from camera_height_m {target_m:g} m (square pixels, principal "
        "point at the image centre)"
    ]
    if len(roots) > 1:
        notes.append(
            f"{len(roots)} focal lengths fit this height ({', '.join(f'{r:.0f}' for r in roots)}"
            " px); the one that best keeps the floor's right angles was taken"
        )
    model = _model_from_k(h, _centred_k(focal, size), floor_pixels, "homography+camera height",
                          tuple(notes))  # fmt: skip
    assert model is not None
    return model


def camera_model(mapper: FloorMapper, camera_height_m: float | None = None) -> CameraModel:
    """The mapper's camera for projecting 3-D points (see the module docstring for the order).

    ``camera_height_m`` is used only when the mapper has no intrinsics (homography alone).

    Raises:
        PersonScaleError: the mapper has no image size (needed for a homography-only
            estimate) or no camera fits it.
    """
    if mapper.pose is not None and mapper.camera_matrix is not None:
        return CameraModel(
            mapper.camera_matrix, mapper.dist_coeffs, np.asarray(mapper.pose.rvec, float),
            np.asarray(mapper.pose.tvec, float), "pose",
        )  # fmt: skip
    if mapper.image_size is None:
        raise PersonScaleError(
            "the camera has no image_size: person heights per row cannot be planned; give "
            "image_size in the site file or the calibration"
        )
    floor_pixels = mapper.undistort(bottom_row(mapper.image_size))
    if mapper.camera_matrix is not None:
        model = _model_from_k(
            mapper.homography, mapper.camera_matrix, floor_pixels, "intrinsics+homography", ()
        )
        if model is None:
            raise PersonScaleError("the pose decomposed from the homography is below the floor")
        return CameraModel(
            model.camera_matrix, mapper.dist_coeffs, model.rvec, model.tvec, model.source
        )
    return estimate_camera_from_homography(mapper.homography, mapper.image_size, camera_height_m)


# --- the plan ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowBand:
    """Image rows whose foot points see the floor, with the person heights expected there.

    Attributes:
        top, bottom: foot rows [top, bottom) in pixels.
        left, right: columns [left, right) whose pixels in these rows see the floor.
        min_height_px: smallest expected person (shortest, farthest point in the band), px.
        max_height_px: largest expected person (tallest, nearest point in the band), px.
    """

    top: int
    bottom: int
    left: int
    right: int
    min_height_px: float
    max_height_px: float


@dataclass(frozen=True)
class PersonScalePlan:
    """Expected person pixel heights of one camera, by band of foot rows.

    Attributes:
        image_size: (width, height) pixels.
        person_height_m: (shortest, tallest) person planned for (metres).
        camera: the camera model used.
        bands: the bands that see the floor, top to bottom.
        no_floor_rows: [top, bottom) row ranges that see no usable floor (above the horizon
            or beyond ``MAX_M_PER_PX``): no one can be placed there.
    """

    image_size: tuple[int, int]
    person_height_m: tuple[float, float]
    camera: CameraModel
    bands: tuple[RowBand, ...]
    no_floor_rows: tuple[tuple[int, int], ...]

    def expected_height_px(self, foot_uv: np.ndarray, mapper: FloorMapper) -> np.ndarray:
        """(N, 2) expected pixel heights (shortest, tallest person) at raw foot pixels (N, 2)."""
        return person_heights_px(
            self.camera, mapper, np.asarray(foot_uv, float), self.person_height_m
        )

    def describe(self) -> str:
        """One line per band: rows, columns, expected height range."""
        lines = [f"camera from {self.camera.source}; {self.camera.height_m:.2f} m high, "
                 f"tilt {self.camera.tilt_deg:.1f}°"]  # fmt: skip
        lines += [
            f"rows {b.top}-{b.bottom}: cols {b.left}-{b.right}, person "
            f"{b.min_height_px:.0f}-{b.max_height_px:.0f} px"
            for b in self.bands
        ]
        lines += [f"rows {top}-{bottom}: no floor" for top, bottom in self.no_floor_rows]
        return "\n".join(lines)


def person_heights_px(
    camera: CameraModel, mapper: FloorMapper, feet_uv: np.ndarray, heights_m: tuple[float, float]
) -> np.ndarray:
    """Pixel heights (N, 2) of the shortest and tallest person standing on raw foot pixels.

    NaN where a foot pixel does not map to the floor (at or above the horizon).
    """
    floor = mapper.image_to_floor(feet_uv)
    result = np.full((len(feet_uv), 2), np.nan)
    foot = camera.project(np.c_[floor, np.zeros(len(floor))])
    for column, height in enumerate(heights_m):
        head = camera.project(np.c_[floor, np.full(len(floor), height)])
        result[:, column] = foot[:, 1] - head[:, 1]
    return result


def usable_feet(
    camera: CameraModel, mapper: FloorMapper, feet_uv: np.ndarray, heights_m: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Person heights (N, 2) px at raw foot pixels (N, 2), and which of them see usable floor.

    A foot pixel sees usable floor when it maps to the floor in front of the camera, a
    person standing there projects with positive height, and one pixel spans at most
    ``MAX_M_PER_PX`` metres in its worst direction (the far cut).
    """
    heights = person_heights_px(camera, mapper, feet_uv, heights_m)
    jacobian = mapper.jacobian(feet_uv)
    finite = np.all(np.isfinite(jacobian), axis=(1, 2))
    scale = np.full(len(feet_uv), np.inf)  # metres per pixel in the worst direction
    scale[finite] = np.linalg.norm(jacobian[finite], ord=2, axis=(1, 2))
    seen = np.all(np.isfinite(heights), axis=1) & (heights[:, 0] > 0) & (scale <= MAX_M_PER_PX)
    return heights, seen


def plan_person_scale(
    mapper: FloorMapper,
    *,
    camera_height_m: float | None = None,
    person_height_m: tuple[float, float] = DEFAULT_PERSON_HEIGHT_M,
    band_px: int | None = None,
    column_samples: int = 33,
) -> PersonScalePlan:
    """Expected person heights by band of foot rows for ``mapper``'s camera.

    Args:
        mapper: the camera's floor mapping; needs ``image_size``.
        camera_height_m: camera height above the floor (metres), for a homography-only
            mapper (see ``estimate_camera_from_homography``).
        person_height_m: (shortest, tallest) person (metres), 0 < shortest <= tallest.
        band_px: rows per band (default: image height / 24, at least 4).
        column_samples: foot pixels sampled per row.

    Raises:
        PersonScaleError: no image size, no camera fits, bad person heights, or no row
            sees usable floor (the camera cannot place anyone).
    """
    low, high = person_height_m
    if not (0 < low <= high < 5):
        raise PersonScaleError(
            f"person_height_m must be 0 < min <= max < 5 m, got {person_height_m}"
        )
    camera = camera_model(mapper, camera_height_m)
    assert mapper.image_size is not None  # camera_model refused otherwise
    width, height = mapper.image_size
    step = band_px or max(4, height // 24)
    rows = np.arange(height, dtype=float)
    columns = np.linspace(0.0, width - 1.0, column_samples)
    feet = np.stack(np.meshgrid(columns, rows), axis=-1).reshape(-1, 2)
    heights, seen = usable_feet(camera, mapper, feet, person_height_m)
    heights = heights.reshape(height, column_samples, 2)
    seen = seen.reshape(height, column_samples)
    bands: list[RowBand] = []
    no_floor: list[tuple[int, int]] = []
    column_gap = columns[1] - columns[0] if column_samples > 1 else width
    for top in range(0, height, step):
        bottom = min(top + step, height)
        mask = seen[top:bottom]
        if not np.any(mask):
            if no_floor and no_floor[-1][1] == top:
                no_floor[-1] = (no_floor[-1][0], bottom)
            else:
                no_floor.append((top, bottom))
            continue
        cols = np.flatnonzero(np.any(mask, axis=0))
        band_heights = heights[top:bottom][mask]
        bands.append(
            RowBand(
                top, bottom,
                max(0, math.floor(columns[cols[0]] - column_gap)),
                min(width, math.ceil(columns[cols[-1]] + column_gap) + 1),
                float(np.min(band_heights[:, 0])), float(np.max(band_heights[:, 1])),
            )
        )  # fmt: skip
    if not bands:
        raise PersonScaleError(
            "no image row sees usable floor (all above the horizon or beyond "
            f"{MAX_M_PER_PX:g} m per pixel): this camera cannot place anyone; check its "
            "floor homography and image_size"
        )
    return PersonScalePlan((width, height), (low, high), camera, tuple(bands), tuple(no_floor))


# --- HOG crops -----------------------------------------------------------------------------


@dataclass(frozen=True)
class HogCrop:
    """One region scanned by HOG at one upscale.

    Attributes:
        left, top, right, bottom: the crop [left, right) x [top, bottom), pixels.
        foot_top, foot_bottom: foot rows [foot_top, foot_bottom) this crop is responsible for.
        upscale: resize factor before the scan (>= 1 unless the plan's min_upscale is lower).
        smallest_person_px: the smallest expected person in its foot rows (pixels).
    """

    left: int
    top: int
    right: int
    bottom: int
    foot_top: int
    foot_bottom: int
    upscale: float
    smallest_person_px: float

    @property
    def area_px(self) -> int:
        """Pixels of the crop before upscaling."""
        return (self.right - self.left) * (self.bottom - self.top)

    @property
    def cost_px(self) -> float:
        """Pixels scanned at the first pyramid level (crop area × upscale²)."""
        return self.area_px * self.upscale**2


@dataclass(frozen=True)
class HogBandPlan:
    """The HOG crops of one camera.

    Attributes:
        image_size: (width, height) of the frames it is for (pixels).
        crops: the crops, top to bottom.
        cost_ratio: total scanned pixels relative to one full frame at ``reference_upscale``.
        reference_upscale: the fixed upscale the cost is compared with (1.4).
        notes: bands whose smallest person stays below the window even at ``max_upscale``.
    """

    image_size: tuple[int, int]
    crops: tuple[HogCrop, ...]
    cost_ratio: float
    reference_upscale: float
    notes: tuple[str, ...] = ()

    @property
    def scan_mpx(self) -> float:
        """Megapixels scanned per frame at the crops' first pyramid level."""
        return sum(crop.cost_px for crop in self.crops) / 1e6


def hog_bands(
    plan: PersonScalePlan,
    *,
    window_person_px: float = HOG_WINDOW_PERSON_PX,
    min_upscale: float = 1.0,
    max_upscale: float = 4.0,
    crop_overhead: float = 0.03,
    reference_upscale: float = 1.4,
    max_scan_mpx: float = 2.6,
) -> HogBandPlan:
    """Crops and upscale factors so that every band's smallest person reaches the window.

    Each band needs ``clip(window_person_px / min_height_px, min_upscale, max_upscale)``: HOG's
    pyramid then finds everyone from that size up. A crop covers consecutive bands' foot rows,
    extended upward by ``HEAD_ROOM`` and downward by ``FOOT_ROOM`` tallest persons, over the
    columns that see floor (plus half a tallest person each side), and is scanned at the
    largest factor its bands need. Bands are grouped by dynamic programming minimising the
    scanned pixels (area × upscale²) plus ``crop_overhead`` of a frame per crop (the fixed
    cost of one more scan), so bands with similar factors merge.

    The cost is bounded: while the scanned pixels (crop area × upscale², the pyramid's first
    level) exceed ``max_scan_mpx`` megapixels (default 2.6: three 768x576 frames at 1.4x),
    ``max_upscale`` is lowered by 10 % steps (down to ``min_upscale``); the bands whose
    shortest person then stays under the window are named in ``notes``. ``cost_ratio``
    compares the result with one full frame at ``reference_upscale``.

    Raises:
        PersonScaleError: bad factors or cost bound.
    """
    if not (0 < min_upscale <= max_upscale <= 8) or not max_scan_mpx > 0:
        raise PersonScaleError(
            f"need 0 < min_upscale <= max_upscale <= 8 and max_scan_mpx > 0, got "
            f"{min_upscale}, {max_upscale}, {max_scan_mpx}"
        )
    while True:
        result = _hog_bands(plan, window_person_px, min_upscale, max_upscale, crop_overhead,
                            reference_upscale)  # fmt: skip
        if result.scan_mpx <= max_scan_mpx or max_upscale <= min_upscale:
            return result
        max_upscale = max(min_upscale, max_upscale * 0.9)


def _hog_bands(
    plan: PersonScalePlan, window_person_px: float, min_upscale: float, max_upscale: float,
    crop_overhead: float, reference_upscale: float,
) -> HogBandPlan:
    """``hog_bands`` for one ``max_upscale`` (no cost bound)."""
    width, height = plan.image_size
    bands = plan.bands
    needed = [
        float(np.clip(window_person_px / b.min_height_px, min_upscale, max_upscale)) for b in bands
    ]
    notes = tuple(
        f"rows {b.top}-{b.bottom}: persons from {b.min_height_px:.0f} px, below the "
        f"{window_person_px:.0f}-px window even at {max_upscale:g}x: the shortest are missed"
        for b, s in zip(bands, needed, strict=True)
        if b.min_height_px * s < window_person_px * 0.999
    )
    overhead = crop_overhead * width * height

    def crop_of(i: int, j: int) -> HogCrop:
        group = bands[i:j]
        tallest = max(b.max_height_px for b in group)
        upscale = max(needed[i:j])
        foot_top, foot_bottom = group[0].top, group[-1].bottom
        top = max(0, math.floor(foot_top - HEAD_ROOM * tallest))
        bottom = min(height, math.ceil(foot_bottom + FOOT_ROOM * tallest))
        left = max(0, math.floor(min(b.left for b in group) - tallest / 2))
        right = min(width, math.ceil(max(b.right for b in group) + tallest / 2))
        # the scanned image must hold at least one 64x128 window
        top, bottom = _at_least(top, bottom, math.ceil(128 / upscale) + 1, height)
        left, right = _at_least(left, right, math.ceil(64 / upscale) + 1, width)
        smallest = min(b.min_height_px for b in group)
        return HogCrop(left, top, right, bottom, foot_top, foot_bottom, upscale, smallest)

    count = len(bands)
    best = [0.0] + [math.inf] * count
    split = [0] * (count + 1)
    for j in range(1, count + 1):
        for i in range(j):
            cost = best[i] + crop_of(i, j).cost_px + overhead
            if cost < best[j]:
                best[j], split[j] = cost, i
    crops: list[HogCrop] = []
    j = count
    while j > 0:
        crops.append(crop_of(split[j], j))
        j = split[j]
    crops.reverse()
    reference = width * height * reference_upscale**2
    ratio = sum(c.cost_px for c in crops) / reference
    return HogBandPlan((width, height), tuple(crops), ratio, reference_upscale, notes)


def _at_least(start: int, end: int, length: int, limit: int) -> tuple[int, int]:
    """[start, end) grown to ``length`` (within [0, limit]) if shorter."""
    if end - start >= length:
        return start, end
    end = min(limit, start + length)
    start = max(0, end - length)
    return start, end


# --- tiles for a fixed-input network -------------------------------------------------------


@dataclass(frozen=True)
class TilePlan:
    """Square tiles for a detector with a fixed ``input_px`` x ``input_px`` input.

    Attributes:
        tiles: (left, top, width, height) pixels, width == height (clipped to the image only
            when the image is smaller than the tile).
        min_person_input_px: per tile, the smallest expected person with feet in its rows,
            in network-input pixels.
        input_px: the network's input side (pixels).
    """

    tiles: tuple[tuple[int, int, int, int], ...]
    min_person_input_px: tuple[float, ...]
    input_px: int


def detector_tiles(
    plan: PersonScalePlan,
    input_px: int = 300,
    min_person_input_px: float = 40.0,
    overlap: float = 0.1,
) -> TilePlan:
    """Square tiles covering the floor-seeing image so that people reach the network's size.

    A tile of side ``T`` shrinks a person of ``h`` px to ``h * input_px / T`` input px, so a
    tile whose foot rows hold persons down to ``h_min`` px has ``T <= h_min * input_px /
    min_person_input_px`` (and at most the image's shorter side). Tile rows are laid from the
    lowest floor row upwards: a row's tiles hold feet from their bottom (less ``FOOT_ROOM``
    tallest persons) up to ``HEAD_ROOM`` tallest persons below their top, and the next row
    up starts where that ends (less ``overlap`` of a tile), so a person with feet anywhere in
    a floor-seeing band is whole in some tile. Across, tiles overlap by at least ``overlap``
    of a tile and by half a tallest person.

    Raises:
        PersonScaleError: bad parameters, or a tile small enough for the smallest person
            cannot hold the tallest one (raise ``input_px`` or lower the minimum).
    """
    if input_px < 32 or not (0 < min_person_input_px < input_px) or not (0 <= overlap < 0.5):
        raise PersonScaleError(
            f"need input_px >= 32, 0 < min_person_input_px < input_px, 0 <= overlap < 0.5; got "
            f"{input_px}, {min_person_input_px}, {overlap}"
        )
    width, height = plan.image_size
    bands = plan.bands
    cap = min(width, height)
    allowed = [min(cap, b.min_height_px * input_px / min_person_input_px) for b in bands]
    tiles: list[tuple[int, int, int, int]] = []
    smallest: list[float] = []
    cursor = bands[-1].bottom  # lowest foot row still to cover (exclusive)
    while cursor > bands[0].top:
        # the tallest run of foot rows [cursor - rows, cursor) one tile row can serve: its
        # side is capped by the smallest person there, and must hold those rows plus the
        # tallest person's head and foot room
        found = None
        for rows in range(1, cursor - bands[0].top + 1):
            members = [
                i for i, b in enumerate(bands) if b.bottom > cursor - rows and b.top < cursor
            ]
            side = min(allowed[i] for i in members)
            tallest = max(bands[i].max_height_px for i in members)
            if side < cap and side < rows + (HEAD_ROOM + FOOT_ROOM) * tallest:
                break
            found = (rows, side, tallest, members)
        if found is None:
            raise PersonScaleError(
                f"rows near {cursor}: a tile small enough to keep the smallest person at "
                f"{min_person_input_px:g} input px cannot hold the tallest "
                f"({tallest:.0f} px): raise input_px or lower min_person_input_px"
            )
        rows, side, tallest, members = found
        tile = math.floor(side)
        bottom = min(height, math.ceil(cursor + FOOT_ROOM * tallest))
        top = max(0, bottom - tile)
        bottom = min(height, top + tile)
        left = min(bands[i].left for i in members)
        right = max(bands[i].right for i in members)
        stride = max(1, int(tile * (1 - overlap) - tallest / 2))
        lefts = _tile_starts(int(left - tallest / 2), int(right + tallest / 2), tile, stride, width)
        for start in lefts:
            tiles.append((start, top, min(tile, width - start), bottom - top))
            smallest.append(min(bands[i].min_height_px for i in members) * input_px / tile)
        # feet in [cursor - rows, cursor) are whole and large enough in this row; the next
        # row up starts there, less the overlap
        if cursor - rows <= bands[0].top:
            break
        cursor = min(cursor - 1, math.ceil(cursor - rows + overlap * tile))
    order = sorted(range(len(tiles)), key=lambda k: (tiles[k][1], tiles[k][0]))
    return TilePlan(
        tuple(tiles[k] for k in order), tuple(smallest[k] for k in order), int(input_px)
    )


def _band_at(bands: tuple[RowBand, ...], row: float) -> int:
    """Index of the band holding foot row ``row`` (the nearest one if none does)."""
    for index, band in enumerate(bands):
        if band.top <= row < band.bottom:
            return index
    return int(np.argmin([min(abs(b.top - row), abs(b.bottom - 1 - row)) for b in bands]))


def _tile_starts(left: int, right: int, tile: int, stride: int, width: int) -> list[int]:
    """Left edges of tiles of side ``tile`` covering columns [left, right) within the image."""
    left, right = max(0, left), min(width, right)
    if right - left <= tile or tile >= width:
        centre = (left + right) / 2
        return [int(min(max(0, round(centre - tile / 2)), max(0, width - tile)))]
    starts = list(range(left, right - tile, stride))
    starts.append(right - tile)
    return [int(min(max(0, s), max(0, width - tile))) for s in starts]
