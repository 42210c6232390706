"""Import a camera calibration from OpenCV FileStorage files (XML or YAML).

Keys read (the names OpenCV's calibration sample, ``samples/cpp/calibration.cpp``, writes;
other keys are ignored):

| key | shape | meaning |
|---|---|---|
| ``camera_matrix`` | 3x3 | K in pixels, ``[[fx, s, cx], [0, fy, cy], [0, 0, 1]]`` |
| ``distortion_coefficients`` | 4, 5, 8, 12 or 14 values | OpenCV (k1, k2, p1, p2[, k3 ...]) |
| ``image_width``, ``image_height`` | integers | image size the calibration holds for (pixels) |
| ``rvec`` + ``tvec`` | 3 + 3 values | floor → camera pose: Rodrigues (radians), translation |
| ``R`` + ``T`` | 3x3 + 3 values | the same pose as a rotation matrix and translation |
| ``avg_reprojection_error`` | number (optional) | intrinsics RMS (pixels), copied to ``rms`` |

The pose maps floor points into the OpenCV camera frame (x right, y down, z forward):
``X_cam = R · X_floor + t``, floor in the site's frame (z up). Give exactly one of the pairs
``rvec``/``tvec`` and ``R``/``T``. The keys may be spread over several files (typically
intrinsics and extrinsics); a key given twice is refused. ``unit_scale`` multiplies the
translation only (0.01 for centimetres, 0.001 for millimetres), so the floor is in metres.

Refused (``OpenCVImportError`` naming file, key and value): unreadable or non-FileStorage
files, a missing key, a wrong shape, a non-finite value, a camera matrix not of the form
above or with fx, fy <= 0, an ``R`` that is not a rotation (``|RᵀR - I|`` above
``ROTATION_TOLERANCE`` element-wise, or det < 0), and a camera centre ``-Rᵀt`` at or below
the floor (z <= 0). The floor homography follows from K and the pose
(``homography_from_pose``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from safetymon.perception.calibration.floor import homography_from_pose, pose_from_rt
from safetymon.perception.calibration.model import (
    DIST_COEFF_COUNTS,
    CameraCalibration,
    CameraPose,
    SourceImage,
    now_utc,
    sha256_file,
)

ROTATION_TOLERANCE = 1e-3
"""Largest element of ``|RᵀR - I|`` accepted for ``R`` (files print ~6+ digits); the nearest
rotation (Rodrigues) is what is stored."""
MIN_IMAGE_SIDE_PX = 16
KEYS = (
    "camera_matrix",
    "distortion_coefficients",
    "image_width",
    "image_height",
    "rvec",
    "tvec",
    "R",
    "T",
    "avg_reprojection_error",
)
METHOD = "opencv-import"


class OpenCVImportError(ValueError):
    """The files do not give a usable calibration (names file, key and value)."""


@dataclass(frozen=True)
class ImportedCamera:
    """One camera read from FileStorage files.

    Attributes:
        camera_matrix: (3, 3) K, pixels.
        dist_coeffs: OpenCV distortion coefficients.
        image_size: (width, height) pixels.
        pose: floor → camera (rvec radians, tvec metres after ``unit_scale``), source
            ``imported``.
        rms_px: ``avg_reprojection_error`` (pixels), or None when not given.
        files: the files read, in order.
    """

    camera_matrix: np.ndarray
    dist_coeffs: np.ndarray
    image_size: tuple[int, int]
    pose: CameraPose
    rms_px: float | None
    files: tuple[Path, ...]

    def floor_homography(self) -> np.ndarray:
        """Undistorted pixels → floor metres (norm 1, w > 0 on the floor)."""
        return homography_from_pose(self.pose, self.camera_matrix)


@dataclass(frozen=True)
class _Value:
    file: Path
    key: str
    value: float | np.ndarray

    def where(self) -> str:
        return f"{self.file}: key {self.key}"

    def shown(self) -> str:
        return np.array2string(np.asarray(self.value), precision=6, separator=", ")


def _open(path: Path) -> cv2.FileStorage:
    if not path.is_file():
        raise OpenCVImportError(f"{path}: no such file")
    try:
        storage = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    except (cv2.error, SystemError) as error:  # OpenCV's parse error, wrapped by its binding
        cause = error.__cause__ or error
        detail = str(cause).strip().splitlines()[-1] if str(cause).strip() else repr(cause)
        raise OpenCVImportError(
            f"{path}: not an OpenCV FileStorage file (XML <opencv_storage> or %YAML:1.0): {detail}"
        ) from None
    if not storage.isOpened():
        raise OpenCVImportError(f"{path}: cannot be opened as an OpenCV FileStorage file")
    return storage


def _node_value(node: cv2.FileNode, where: str) -> float | np.ndarray:
    """A number, a matrix (``!!opencv-matrix``) or a sequence of numbers."""
    if node.isInt() or node.isReal():
        return float(node.real())
    if node.isSeq():
        values = []
        for index in range(node.size()):
            item = node.at(index)
            if not (item.isInt() or item.isReal()):
                raise OpenCVImportError(f"{where}: item {index} of the sequence is not a number")
            values.append(float(item.real()))
        return np.asarray(values, dtype=np.float64)
    if node.isMap():
        matrix = node.mat()
        if matrix is None:
            raise OpenCVImportError(f"{where}: a map that is not an opencv-matrix")
        return np.asarray(matrix, dtype=np.float64)
    if node.isString():
        raise OpenCVImportError(f"{where}: a string ({node.string()!r}), expected numbers")
    raise OpenCVImportError(f"{where}: empty or of unknown type")


def _read_keys(paths: Sequence[Path]) -> dict[str, _Value]:
    found: dict[str, _Value] = {}
    for path in paths:
        storage = _open(path)
        try:
            for key in KEYS:
                node = storage.getNode(key)
                if node.empty():
                    continue
                if key in found:
                    raise OpenCVImportError(
                        f"key {key} is given twice: in {found[key].file} and in {path}"
                    )
                found[key] = _Value(path, key, _node_value(node, f"{path}: key {key}"))
        finally:
            storage.release()
    return found


def _require(found: dict[str, _Value], key: str, files: Sequence[Path]) -> _Value:
    if key not in found:
        names = ", ".join(str(path) for path in files)
        raise OpenCVImportError(f"key {key} is missing (read {names})")
    return found[key]


def _finite(item: _Value, array: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(array)):
        raise OpenCVImportError(f"{item.where()}: contains a non-finite value: {item.shown()}")
    return array


def _matrix3x3(item: _Value, form: str) -> np.ndarray:
    array = np.asarray(item.value, dtype=np.float64)
    if array.shape != (3, 3):
        raise OpenCVImportError(
            f"{item.where()}: must be {form}, got shape {array.shape}: {item.shown()}"
        )
    return _finite(item, array)


def _vector3(item: _Value) -> np.ndarray:
    """3 numbers as a 3x1 or 1x3 matrix or a sequence."""
    array = np.asarray(item.value, dtype=np.float64)
    if array.size != 3 or (array.ndim == 2 and min(array.shape) != 1) or array.ndim > 2:
        raise OpenCVImportError(
            f"{item.where()}: must be 3 numbers (3x1 or 1x3), got shape {array.shape}: "
            f"{item.shown()}"
        )
    return _finite(item, array).reshape(3)


def _camera_matrix(item: _Value) -> np.ndarray:
    k = _matrix3x3(item, "a 3x3 matrix")
    if not (k[0, 0] > 0 and k[1, 1] > 0):
        raise OpenCVImportError(
            f"{item.where()}: focal lengths fx, fy must be > 0, got {k[0, 0]}, {k[1, 1]}"
        )
    if abs(k[1, 0]) > 1e-9 or abs(k[2, 0]) > 1e-9 or abs(k[2, 1]) > 1e-9 or abs(k[2, 2] - 1) > 1e-9:
        raise OpenCVImportError(
            f"{item.where()}: must have the form [[fx, s, cx], [0, fy, cy], [0, 0, 1]], got "
            f"{item.shown()}"
        )
    k[1, 0] = k[2, 0] = k[2, 1] = 0.0
    k[2, 2] = 1.0
    return k


def _distortion(item: _Value) -> np.ndarray:
    array = np.asarray(item.value, dtype=np.float64)
    if array.ndim > 2 or (array.ndim == 2 and min(array.shape) != 1):
        raise OpenCVImportError(
            f"{item.where()}: must be a vector (Nx1 or 1xN), got shape {array.shape}"
        )
    coeffs = array.reshape(-1)
    if coeffs.size not in DIST_COEFF_COUNTS:
        raise OpenCVImportError(
            f"{item.where()}: needs 4, 5, 8, 12 or 14 coefficients, got {coeffs.size}: "
            f"{item.shown()}"
        )
    return _finite(item, coeffs)


def _side(item: _Value) -> int:
    value = np.asarray(item.value, dtype=np.float64)
    number = float(value.reshape(-1)[0]) if value.size == 1 else math.nan
    if not (math.isfinite(number) and number == int(number) and number >= MIN_IMAGE_SIDE_PX):
        raise OpenCVImportError(
            f"{item.where()}: must be an integer number of pixels >= {MIN_IMAGE_SIDE_PX}, got "
            f"{item.shown()}"
        )
    return int(number)


def _image_size(
    found: dict[str, _Value], files: Sequence[Path], given: tuple[int, int] | None
) -> tuple[int, int]:
    """The image size from the files, else ``given``; both present must agree."""
    keys = ("image_width", "image_height")
    if given is not None:
        width, height = given
        if not (width >= MIN_IMAGE_SIDE_PX and height >= MIN_IMAGE_SIDE_PX):
            raise OpenCVImportError(
                f"image size {width}x{height}: each side must be >= {MIN_IMAGE_SIDE_PX} px"
            )
        for key, value in zip(keys, given, strict=True):
            if key in found and _side(found[key]) != value:
                raise OpenCVImportError(
                    f"{found[key].where()}: {found[key].shown()} disagrees with the image size "
                    f"given ({width}x{height})"
                )
        return int(width), int(height)
    missing = [key for key in keys if key not in found]
    if missing:
        names = ", ".join(str(path) for path in files)
        raise OpenCVImportError(
            f"key {missing[0]} is missing (read {names}); give the calibrated images' size "
            "with --image-size WIDTHxHEIGHT"
        )
    return _side(found["image_width"]), _side(found["image_height"])


def _rotation(found: dict[str, _Value], files: Sequence[Path]) -> tuple[np.ndarray, _Value]:
    """The pose's rotation matrix and the translation key (``tvec`` or ``T``)."""
    has_rvec = "rvec" in found or "tvec" in found
    has_r = "R" in found or "T" in found
    if has_rvec and has_r:
        given = ", ".join(f"{key} ({found[key].file})" for key in ("rvec", "tvec", "R", "T")
                          if key in found)  # fmt: skip
        raise OpenCVImportError(
            f"give the floor → camera pose as rvec/tvec or as R/T, not both (found {given})"
        )
    if not has_rvec and not has_r:
        names = ", ".join(str(path) for path in files)
        raise OpenCVImportError(
            f"no floor → camera pose: keys rvec and tvec (or R and T) are missing (read {names})"
        )
    if has_rvec:
        rvec = _vector3(_require(found, "rvec", files))
        rotation, _ = cv2.Rodrigues(rvec)
        return rotation, _require(found, "tvec", files)
    item = _require(found, "R", files)
    rotation = _matrix3x3(item, "a 3x3 rotation matrix")
    error = float(np.max(np.abs(rotation.T @ rotation - np.eye(3))))
    determinant = float(np.linalg.det(rotation))
    if error > ROTATION_TOLERANCE or determinant <= 0:
        raise OpenCVImportError(
            f"{item.where()}: not a rotation matrix (max |RᵀR - I| = {error:.3g}, det = "
            f"{determinant:.6g}; need RᵀR = I within {ROTATION_TOLERANCE:g} and det = +1): "
            f"{item.shown()}"
        )
    u, _s, vt = np.linalg.svd(rotation)
    return u @ vt, _require(found, "T", files)


def read_opencv_calibration(
    paths: Sequence[str | Path],
    unit_scale: float = 1.0,
    image_size: tuple[int, int] | None = None,
) -> ImportedCamera:
    """Read intrinsics and the floor → camera pose from FileStorage files.

    Args:
        paths: one or more XML / YAML FileStorage files (keys may be split over them).
        unit_scale: factor from the files' translation unit to metres (1: metres).
        image_size: (width, height) pixels of the calibrated images, for files without
            ``image_width`` / ``image_height`` (several datasets publish the camera matrix
            alone); files that give them must agree.

    Raises:
        OpenCVImportError: see the module docstring.
    """
    files = tuple(Path(path) for path in paths)
    if not files:
        raise OpenCVImportError("no file given")
    if not (math.isfinite(unit_scale) and unit_scale > 0):
        raise OpenCVImportError(f"unit scale must be a finite number > 0, got {unit_scale!r}")
    found = _read_keys(files)
    k = _camera_matrix(_require(found, "camera_matrix", files))
    dist = _distortion(_require(found, "distortion_coefficients", files))
    size = _image_size(found, files, image_size)
    rotation, translation = _rotation(found, files)
    tvec = _vector3(translation) * unit_scale
    centre = -rotation.T @ tvec
    if not centre[2] > 0:
        raise OpenCVImportError(
            f"{translation.where()}: puts the camera centre at floor z = {centre[2]:.4g} m (at "
            f"or below the floor; value {translation.shown()} x unit scale {unit_scale:g}): "
            "the pose must map floor points (z up) into the camera frame, X_cam = R X_floor + t"
        )
    rms = None
    if "avg_reprojection_error" in found:
        item = found["avg_reprojection_error"]
        value = np.asarray(item.value, dtype=np.float64).reshape(-1)
        if value.size != 1 or not (math.isfinite(float(value[0])) and value[0] >= 0):
            raise OpenCVImportError(f"{item.where()}: must be a number >= 0, got {item.shown()}")
        rms = float(value[0])
    pose = pose_from_rt(rotation, tvec, "imported")
    return ImportedCamera(k, dist, size, pose, rms, files)


def calibration_from_import(
    imported: ImportedCamera, camera: str | None, floor_error_m: float = 0.0
) -> CameraCalibration:
    """The project's calibration (``safetymon-calibration/1``) of an imported camera.

    ``floor_error_m`` is the pose's own floor error when known (metres; 0: the pose is taken
    as exact and only a detection's pixel uncertainty counts). ``floor_sources`` lists the
    files read, with SHA-256.

    Raises:
        OpenCVImportError: ``floor_error_m`` is not a finite number >= 0.
    """
    if not (math.isfinite(floor_error_m) and floor_error_m >= 0):
        raise OpenCVImportError(f"floor error must be a number >= 0 metres, got {floor_error_m!r}")
    return CameraCalibration(
        camera=camera,
        created=now_utc(),
        method=METHOD,
        image_size=imported.image_size,
        camera_matrix=imported.camera_matrix.tolist(),
        dist_coeffs=imported.dist_coeffs.tolist(),
        rms=imported.rms_px,
        floor_homography=imported.floor_homography().tolist(),
        floor_error_m=floor_error_m,
        floor_sources=[
            SourceImage(file=str(path), sha256=sha256_file(path)) for path in imported.files
        ],
        pose=imported.pose,
    )


def write_filestorage(
    path: str | Path,
    values: dict[str, float | int | np.ndarray],
) -> Path:
    """Write ``values`` as an OpenCV FileStorage file (``.xml`` or ``.yml``/``.yaml``).

    For preparing files to import (tests, converters); numbers are written as numbers and
    arrays as ``opencv-matrix``.
    """
    target = Path(path)
    storage = cv2.FileStorage(str(target), cv2.FILE_STORAGE_WRITE)
    try:
        for key, value in values.items():
            if isinstance(value, np.ndarray):
                storage.write(key, np.asarray(value, dtype=np.float64))
            else:
                storage.write(key, value)
    finally:
        storage.release()
    return target
