"""Tsai camera calibration XML (the PETS 2009 format) → OpenCV camera matrix, distortion, pose.

The file (one ``<Camera>`` element)::

    <Geometry width= height= ncx= nfx= dx= dy= dpx= dpy=/>   sensor: pixels, mm per pixel
    <Intrinsic focal= kappa1= cx= cy= sx=/>                   f (mm), kappa1 (1/mm²), centre (px)
    <Extrinsic tx= ty= tz= rx= ry= rz=/>                      world → camera, mm and radians

Tsai's model (R. Tsai 1987, as in R. Willson's reference implementation):

- world point (mm) → camera ``X_c = R · X_w + T`` with ``R = Rz(rz) · Ry(ry) · Rx(rx)``;
- undistorted sensor point ``(Xu, Yu) = f · (x_c, y_c) / z_c`` (mm);
- radial distortion is defined distorted → undistorted: ``Xu = Xd (1 + kappa1 rd²)``,
  ``rd² = Xd² + Yd²`` (mm²);
- pixels ``u = sx · Xd / dpx + cx``, ``v = Yd / dpy + cy`` (u right, v down).

OpenCV defines distortion the other way (undistorted → distorted, normalised coordinates), so
``kappa1`` has no exact OpenCV equivalent: ``dist_coeffs`` (k1, k2, 0, 0, k3) are fitted by
least squares to Tsai's own mapping over the whole image (``fit_residual_px`` reports the worst
pixel error of that fit). The pose is returned in metres (world mm / 1000), so a world in
millimetres with z up becomes the floor frame in metres with z up.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from safetymon.perception.calibration.floor import homography_from_pose, pose_from_rt
from safetymon.perception.calibration.model import CameraPose

FIT_GRID = 33
"""Samples per image side when the OpenCV distortion is fitted to Tsai's."""


class TsaiFormatError(ValueError):
    """The file is not a readable Tsai camera calibration (names the element/attribute)."""


@dataclass(frozen=True)
class TsaiCamera:
    """One Tsai calibration converted to OpenCV terms.

    Attributes:
        image_size: (width, height) pixels of the calibrated images.
        camera_matrix: (3, 3) K in pixels (fx = f sx / dpx, fy = f / dpy, centre cx, cy).
        dist_coeffs: (5,) OpenCV (k1, k2, p1 = 0, p2 = 0, k3) fitted to Tsai's kappa1.
        pose: world → camera, metres (rvec radians, tvec metres), source "solvepnp".
        fit_residual_px: largest pixel error of the OpenCV distortion fit over the image.
        kappa1: Tsai's radial coefficient (1/mm²), kept for reference.
    """

    image_size: tuple[int, int]
    camera_matrix: np.ndarray
    dist_coeffs: np.ndarray
    pose: CameraPose
    fit_residual_px: float
    kappa1: float

    def floor_homography(self) -> np.ndarray:
        """Undistorted pixels → floor (z = 0) metres, from the pose (norm 1, w > 0 on floor)."""
        return homography_from_pose(self.pose, self.camera_matrix)

    def project(self, points_xyz_m: np.ndarray) -> np.ndarray:
        """World points (N, 3) metres → raw pixels (N, 2) through the OpenCV model."""
        projected, _ = cv2.projectPoints(
            np.asarray(points_xyz_m, dtype=np.float64).reshape(-1, 3),
            np.asarray(self.pose.rvec, float), np.asarray(self.pose.tvec, float),
            self.camera_matrix, self.dist_coeffs,
        )  # fmt: skip
        return projected.reshape(-1, 2)


def tsai_rotation(rx: float, ry: float, rz: float) -> np.ndarray:
    """Tsai's world → camera rotation ``Rz(rz) · Ry(ry) · Rx(rx)`` (radians)."""
    ca, sa = math.cos(rx), math.sin(rx)
    cb, sb = math.cos(ry), math.sin(ry)
    cg, sg = math.cos(rz), math.sin(rz)
    return np.array(
        [
            [cb * cg, cg * sa * sb - ca * sg, sa * sg + ca * cg * sb],
            [cb * sg, sa * sb * sg + ca * cg, ca * sb * sg - cg * sa],
            [-sb, cb * sa, ca * cb],
        ]
    )


def _attributes(root: ElementTree.Element, tag: str, names: tuple[str, ...]) -> dict[str, float]:
    element = root.find(tag)
    if element is None:
        raise TsaiFormatError(f"missing <{tag}> element")
    values: dict[str, float] = {}
    for name in names:
        text = element.get(name)
        if text is None:
            raise TsaiFormatError(f"<{tag}> has no attribute {name!r}")
        try:
            value = float(text)
        except ValueError:
            raise TsaiFormatError(f"<{tag}> {name}={text!r} is not a number") from None
        if not math.isfinite(value):
            raise TsaiFormatError(f"<{tag}> {name}={text!r} is not finite")
        values[name] = value
    return values


def _tsai_distort_pixels(
    undistorted_px: np.ndarray, kappa1: float, sx: float, dpx: float, dpy: float,
    cx: float, cy: float,
) -> np.ndarray:
    """Tsai undistorted pixels → distorted (raw) pixels: solve Xu = Xd (1 + k rd²) by iteration."""
    xu = (undistorted_px[:, 0] - cx) * dpx / sx
    yu = (undistorted_px[:, 1] - cy) * dpy
    xd, yd = xu.copy(), yu.copy()
    for _ in range(50):
        factor = 1.0 + kappa1 * (xd**2 + yd**2)
        xd, yd = xu / factor, yu / factor
    return np.c_[xd * sx / dpx + cx, yd / dpy + cy]


def load_tsai(path: str | Path) -> TsaiCamera:
    """Read a Tsai calibration XML and convert it (see the module docstring).

    Raises:
        TsaiFormatError: missing element or attribute, non-numeric or non-positive value,
            or a camera that does not lie above the world plane z = 0.
        OSError: the file cannot be read.
    """
    try:
        root = ElementTree.parse(Path(path)).getroot()
    except ElementTree.ParseError as error:
        raise TsaiFormatError(f"{path}: not XML ({error})") from None
    geometry = _attributes(root, "Geometry", ("width", "height", "dpx", "dpy"))
    intrinsic = _attributes(root, "Intrinsic", ("focal", "kappa1", "cx", "cy", "sx"))
    extrinsic = _attributes(root, "Extrinsic", ("tx", "ty", "tz", "rx", "ry", "rz"))
    for tag, values, names in (
        ("Geometry", geometry, ("width", "height", "dpx", "dpy")),
        ("Intrinsic", intrinsic, ("focal", "sx")),
    ):
        for name in names:
            if values[name] <= 0:
                raise TsaiFormatError(f"{path}: <{tag}> {name} must be > 0, got {values[name]}")
    width, height = round(geometry["width"]), round(geometry["height"])
    f, kappa1, sx = intrinsic["focal"], intrinsic["kappa1"], intrinsic["sx"]
    dpx, dpy, cx, cy = geometry["dpx"], geometry["dpy"], intrinsic["cx"], intrinsic["cy"]
    k = np.array([[f * sx / dpx, 0.0, cx], [0.0, f / dpy, cy], [0.0, 0.0, 1.0]])
    rotation = tsai_rotation(extrinsic["rx"], extrinsic["ry"], extrinsic["rz"])
    tvec = np.array([extrinsic["tx"], extrinsic["ty"], extrinsic["tz"]]) / 1000.0
    pose = pose_from_rt(rotation, tvec, "solvepnp")
    if not pose.camera_height_m > 0:
        raise TsaiFormatError(
            f"{path}: the camera centre is at z = {pose.camera_height_m:.3f} m, not above the "
            "world plane z = 0 (z up): not a floor camera"
        )
    dist, residual = _fit_opencv_distortion(
        k, (width, height), lambda p: _tsai_distort_pixels(p, kappa1, sx, dpx, dpy, cx, cy)
    )
    return TsaiCamera((width, height), k, dist, pose, residual, kappa1)


def _fit_opencv_distortion(
    k: np.ndarray, size: tuple[int, int], distort: object
) -> tuple[np.ndarray, float]:
    """OpenCV (k1, k2, 0, 0, k3) matching ``distort`` (undistorted px → raw px) over the image.

    Linear least squares on ``x_d - x_u = x_u (k1 r² + k2 r⁴ + k3 r⁶)`` in normalised
    coordinates, then the worst pixel error of ``cv2.projectPoints`` against ``distort``.
    """
    width, height = size
    grid = np.stack(
        np.meshgrid(np.linspace(0, width - 1, FIT_GRID), np.linspace(0, height - 1, FIT_GRID)),
        axis=-1,
    ).reshape(-1, 2)
    raw = distort(grid)  # type: ignore[operator]
    inverse = np.linalg.inv(k)
    normal_u = (np.c_[grid, np.ones(len(grid))] @ inverse.T)[:, :2]
    normal_d = (np.c_[raw, np.ones(len(raw))] @ inverse.T)[:, :2]
    r2 = np.sum(normal_u**2, axis=1)
    design = np.stack(
        [np.concatenate([normal_u[:, 0], normal_u[:, 1]]) * np.tile(r2**p, 2) for p in (1, 2, 3)],
        axis=1,
    )
    target = np.concatenate([normal_d[:, 0] - normal_u[:, 0], normal_d[:, 1] - normal_u[:, 1]])
    (k1, k2, k3), *_ = np.linalg.lstsq(design, target, rcond=None)
    dist = np.array([k1, k2, 0.0, 0.0, k3])
    points = np.c_[normal_u, np.ones(len(normal_u))]
    projected, _ = cv2.projectPoints(points, np.zeros(3), np.zeros(3), k, dist)
    residual = float(np.max(np.linalg.norm(projected.reshape(-1, 2) - raw, axis=1)))
    return dist, residual
