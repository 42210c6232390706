"""`safetymon calibrate intrinsics|floor|target`: camera calibration files and targets.

Results go to ``calibration/<camera>.yaml`` (see ``safetymon.perception.calibration.model``).
Exit codes: 0 written, 1 the photos / points did not give a usable calibration, 2 invalid
arguments or unreadable input files.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from safetymon.cli.arg_types import grid, image_size
from safetymon.cli.calibrate_import_cmd import register_import
from safetymon.cli.calibrate_latency_cmd import register as register_latency
from safetymon.config.loader import ConfigError
from safetymon.perception.calibration.aruco import (
    detect_charuco,
    detect_markers,
    dictionary,
    dictionary_names,
)
from safetymon.perception.calibration.floor import (
    FloorFit,
    FloorFitError,
    fit_floor_from_points,
    fit_floor_from_target,
)
from safetymon.perception.calibration.intrinsics import CalibrationError, calibrate_intrinsics
from safetymon.perception.calibration.model import (
    CameraCalibration,
    CharucoTarget,
    ChessboardTarget,
    FloorPoint,
    SourceImage,
    ViewResult,
    load_calibration,
    now_utc,
    save_calibration,
    sha256_file,
)
from safetymon.perception.calibration.targets import charuco_image, chessboard_image
from safetymon.perception.calibration.views import (
    DEFAULT_MIN_SHARPNESS,
    ImageReadError,
    read_gray,
)
from safetymon.perception.floor_footprint import FloorFootprint, floor_footprint
from safetymon.perception.mapping import FloorMapper

# --- argument types (argparse reports "argument --x: <message>" and exits 2) ---------------


def _finite(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{what} must be finite, got {text!r}")
    return value


def metres(text: str) -> float:
    """A length in metres, > 0."""
    value = _finite(text, "length")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"length must be > 0 metres, got {text!r}")
    return value


def _numbers(text: str, count: tuple[int, ...], form: str, original: str) -> list[float]:
    parts = text.split(",")
    if len(parts) not in count:
        raise argparse.ArgumentTypeError(f"expected {form}, got {original!r}")
    try:
        values = [float(part) for part in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {form} (numbers), got {original!r}") from None
    if not all(math.isfinite(value) for value in values):
        raise argparse.ArgumentTypeError(f"expected finite numbers in {original!r}")
    return values


def point_pair(text: str) -> tuple[float, float, float, float]:
    """``U,V=X,Y``: image pixel (u, v) and its floor point (x, y) in metres."""
    form = "U,V=X,Y (pixel column,row = floor x,y metres)"
    if text.count("=") != 1:
        raise argparse.ArgumentTypeError(f"expected {form}, got {text!r}")
    pixel, floor = text.split("=")
    u, v = _numbers(pixel, (2,), form, text)
    x, y = _numbers(floor, (2,), form, text)
    return u, v, x, y


def floor_xy(text: str) -> tuple[float, float]:
    """``X,Y`` floor metres."""
    x, y = _numbers(text, (2,), "X,Y (metres)", text)
    return x, y


def marker_placement(text: str) -> tuple[int, float, float, float]:
    """``ID=X,Y[,YAW]``: marker id, centre on the floor (metres), yaw (degrees, default 0)."""
    form = "ID=X,Y[,YAW_DEG] (marker id = centre x,y metres, yaw degrees)"
    if text.count("=") != 1 or not text.split("=")[0].strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected {form}, got {text!r}")
    marker_id, rest = text.split("=")
    values = _numbers(rest, (2, 3), form, text)
    yaw = values[2] if len(values) == 3 else 0.0
    return int(marker_id), values[0], values[1], yaw


def dictionary_name(text: str) -> str:
    """An OpenCV predefined ArUco dictionary name."""
    if text not in dictionary_names():
        raise argparse.ArgumentTypeError(
            f"unknown dictionary {text!r}; e.g. DICT_4X4_50, DICT_6X6_250 "
            f"(all: {', '.join(dictionary_names())})"
        )
    return text


# --- parsers -----------------------------------------------------------------------------


def _add_charuco_geometry(parser: argparse.ArgumentParser, dictionary_default: str) -> None:
    parser.add_argument(
        "--marker-size", type=metres, metavar="METRES", help="ArUco marker side (metres)"
    )
    parser.add_argument(
        "--dictionary", type=dictionary_name, default=dictionary_default,
        help=f"ArUco dictionary (default {dictionary_default})",
    )  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `calibrate` command group."""
    parser = subparsers.add_parser(
        "calibrate", help="camera intrinsics, floor plane, latency, printable targets"
    )
    commands = parser.add_subparsers(dest="calibrate_command", metavar="SUBCOMMAND", required=True)

    intrinsics = commands.add_parser(
        "intrinsics",
        help="camera matrix and lens distortion from chessboard or ChArUco photos",
        description="Blurry views and views without the whole chessboard are rejected.",
    )
    target = intrinsics.add_mutually_exclusive_group(required=True)
    target.add_argument("--chessboard", type=grid, metavar="COLSxROWS", help="inner corners")
    target.add_argument("--charuco", type=grid, metavar="SQUARESxSQUARES", help="board squares")
    intrinsics.add_argument(
        "--square-size", type=metres, required=True, metavar="METRES", help="square side"
    )
    _add_charuco_geometry(intrinsics, "DICT_6X6_250")
    intrinsics.add_argument(
        "--min-sharpness", type=float, default=DEFAULT_MIN_SHARPNESS, metavar="VAR",
        help="reject views whose target has a smaller variance of the Laplacian "
        f"(default {DEFAULT_MIN_SHARPNESS:g})",
    )  # fmt: skip
    intrinsics.add_argument(
        "--min-corners", type=float, default=0.5, metavar="FRACTION",
        help="ChArUco: least fraction of the board's corners a view must show (default 0.5)",
    )  # fmt: skip
    intrinsics.add_argument(
        "--max-rms", type=metres, default=1.0, metavar="PIXELS",
        help="refuse a result with a larger RMS reprojection error (default 1 px)",
    )  # fmt: skip
    intrinsics.add_argument("--camera", help="camera id (default: the --out file's stem)")
    intrinsics.add_argument("--out", required=True, help="calibration file to write (YAML)")
    intrinsics.add_argument("images", nargs="+", metavar="IMAGE", help="photos of the target")
    intrinsics.set_defaults(func=run_intrinsics)

    floor = commands.add_parser(
        "floor",
        help="floor homography (and camera pose) from points or a target on the floor",
        description=(
            "Floor frame: the site's metres, z up. ArUco marker frame: x to the right of the "
            "printed marker, y to its top, origin at its centre. ChArUco board frame: origin "
            "at the printed board's top-left corner, x along its top edge, y towards its top."
        ),
    )
    source = floor.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--points", type=point_pair, nargs="+", action="extend", metavar="U,V=X,Y",
        help=">= 4 image pixel = floor metres pairs, spread over the floor",
    )  # fmt: skip
    source.add_argument("--aruco", metavar="IMAGE", help="photo of ArUco marker(s) on the floor")
    source.add_argument("--charuco", metavar="IMAGE", help="photo of a ChArUco board on the floor")
    floor.add_argument(
        "--marker", type=marker_placement, action="append", metavar="ID=X,Y[,YAW]",
        help="--aruco: where marker ID lies (centre metres, yaw degrees); repeat per marker",
    )  # fmt: skip
    floor.add_argument(
        "--board", type=grid, metavar="SQUARESxSQUARES", help="--charuco: board squares"
    )
    floor.add_argument("--square-size", type=metres, metavar="METRES", help="--charuco: square")
    _add_charuco_geometry(floor, "DICT_6X6_250")
    floor.add_argument(
        "--origin", type=floor_xy, default=(0.0, 0.0), metavar="X,Y",
        help="--charuco: floor point of the board's origin (metres, default 0,0)",
    )  # fmt: skip
    floor.add_argument(
        "--yaw", type=float, default=0.0, metavar="DEG", help="--charuco: board x axis angle"
    )
    floor.add_argument(
        "--intrinsics", metavar="FILE",
        help="calibration file with camera_matrix (required for --aruco/--charuco); its "
        "intrinsics are copied into --out",
    )  # fmt: skip
    floor.add_argument(
        "--image-size", type=image_size, metavar="WxH",
        help="size of the image the points were read from (pixels); with it the floor "
        "footprint is checked and image_size is written (--intrinsics gives its own)",
    )  # fmt: skip
    floor.add_argument("--camera", help="camera id (default: the --out file's stem)")
    floor.add_argument("--out", required=True, help="calibration file to write (YAML)")
    floor.set_defaults(func=run_floor)

    printable = commands.add_parser(
        "target", help="printable chessboard, ChArUco board or ArUco marker (PNG)"
    )
    kind = printable.add_mutually_exclusive_group(required=True)
    kind.add_argument("--chessboard", type=grid, metavar="COLSxROWS", help="inner corners")
    kind.add_argument("--charuco", type=grid, metavar="SQUARESxSQUARES", help="board squares")
    kind.add_argument("--aruco-marker", type=int, metavar="ID", help="one ArUco marker")
    printable.add_argument(
        "--square-size", type=metres, metavar="METRES", help="square (or marker) side"
    )
    _add_charuco_geometry(printable, "DICT_6X6_250")
    printable.add_argument("--dpi", type=int, default=300, help="print resolution (default 300)")
    printable.add_argument("--out", required=True, help="PNG file to write")
    printable.set_defaults(func=run_target)
    register_import(commands)  # `calibrate import`: OpenCV FileStorage files
    register_latency(commands)  # `calibrate latency`: glass-to-frame latency


# --- commands ----------------------------------------------------------------------------


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def _progress(items: Iterable[str | Path]) -> Iterable[str | Path]:
    return tqdm(list(items), desc="calibrate", unit="image", file=sys.stderr, leave=False)


def _print_views(views: list[ViewResult]) -> None:
    for view in views:
        name = Path(view.file).name
        sharp = "-" if view.sharpness is None else f"{view.sharpness:.0f}"
        if view.used:
            error = view.reprojection_error_px
            shown = "-" if error is None else f"{error:.3f} px"
            print(
                f"  {name:<24} used      sharpness {sharp:>6}  corners {view.corners:>3}  {shown}"
            )
        else:
            print(f"  {name:<24} rejected  sharpness {sharp:>6}  {view.reason}")


def _charuco_target(
    args: argparse.Namespace, squares: tuple[int, int], option: str
) -> CharucoTarget:
    if args.marker_size is None or args.square_size is None:
        raise ValueError(f"{option} needs --square-size and --marker-size")
    return CharucoTarget(
        squares_x=squares[0], squares_y=squares[1], square_size_m=args.square_size,
        marker_size_m=args.marker_size, dictionary=args.dictionary,
    )  # fmt: skip


def run_intrinsics(args: argparse.Namespace) -> int:
    """Calibrate intrinsics from photos and write the calibration file."""
    try:
        if not (0.0 < args.min_corners <= 1.0):
            raise ValueError(f"--min-corners must be in (0, 1], got {args.min_corners}")
        if not (math.isfinite(args.min_sharpness) and args.min_sharpness >= 0):
            raise ValueError(f"--min-sharpness must be >= 0, got {args.min_sharpness}")
        if args.chessboard is not None:
            cols, rows = args.chessboard
            target: ChessboardTarget | CharucoTarget = ChessboardTarget(
                cols=cols, rows=rows, square_size_m=args.square_size
            )
        else:
            target = _charuco_target(args, args.charuco, "--charuco")
        calibration = calibrate_intrinsics(
            args.images, target, min_sharpness=args.min_sharpness,
            min_corner_fraction=args.min_corners, max_rms_px=args.max_rms,
            camera=args.camera or Path(args.out).stem, progress=_progress,
        )  # fmt: skip
    except (ImageReadError, ValueError) as error:
        _error(str(error))
        return 2
    except CalibrationError as error:
        _print_views(error.views)
        _error(f"calibration failed: {error}")
        return 1
    _print_views(calibration.per_image)
    k = calibration.k()
    assert k is not None and calibration.dist_coeffs is not None and calibration.rms is not None
    used = sum(view.used for view in calibration.per_image)
    print(
        f"RMS {calibration.rms:.4f} px over {used} of {len(calibration.per_image)} views; "
        f"fx {k[0, 0]:.2f} fy {k[1, 1]:.2f} cx {k[0, 2]:.2f} cy {k[1, 2]:.2f}; "
        f"dist {np.array2string(np.asarray(calibration.dist_coeffs), precision=5)}"
    )
    print(f"wrote {save_calibration(calibration, args.out)}")
    return 0


def _rotation_2d(yaw_deg: float) -> np.ndarray:
    angle = math.radians(yaw_deg)
    return np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])


def marker_floor_corners(x: float, y: float, yaw_deg: float, size_m: float) -> np.ndarray:
    """Floor points (4, 2) metres of a marker's corners in OpenCV's order (TL, TR, BR, BL).

    Marker frame: origin at its centre, x to the right of the printed marker, y to its top;
    rotated by yaw (counter-clockwise, degrees) and moved to (x, y) on the floor.
    """
    half = size_m / 2
    local = np.array([[-half, half], [half, half], [half, -half], [-half, -half]])
    return local @ _rotation_2d(yaw_deg).T + np.array([x, y])


def charuco_floor_points(
    board_points: np.ndarray, origin: tuple[float, float], yaw_deg: float
) -> np.ndarray:
    """Floor points (N, 2) of ChArUco board points (N, 3), board frame → floor metres.

    The board frame has y down the printed page; on the floor its y axis points to the
    board's top (so z comes out of the board, up), then yaw and origin apply.
    """
    local = np.c_[board_points[:, 0], -board_points[:, 1]]
    return local @ _rotation_2d(yaw_deg).T + np.asarray(origin)


def _load_intrinsics(path: str | None, needed: bool) -> CameraCalibration | None:
    if path is None:
        if needed:
            raise ValueError("--intrinsics FILE (with camera_matrix) is required for this form")
        return None
    calibration = load_calibration(path)
    if not calibration.has_intrinsics:
        raise ValueError(f"{path}: camera_matrix: missing (run `safetymon calibrate intrinsics`)")
    return calibration


def _target_correspondences(
    args: argparse.Namespace, base: CameraCalibration
) -> tuple[np.ndarray, np.ndarray, str]:
    """(pixels, floor points, image path) of the --aruco / --charuco photo."""
    image = args.aruco or args.charuco
    gray = read_gray(image)
    if base.image_size is not None and (gray.shape[1], gray.shape[0]) != tuple(base.image_size):
        raise ValueError(
            f"{image}: size {gray.shape[1]}x{gray.shape[0]} differs from the intrinsics' "
            f"image_size {base.image_size[0]}x{base.image_size[1]}"
        )
    if args.aruco:
        if not args.marker or args.marker_size is None:
            raise ValueError(
                "--aruco needs --marker ID=X,Y[,YAW] (one per marker) and --marker-size"
            )
        found = detect_markers(gray, args.dictionary)
        pixels, floor = [], []
        for marker_id, x, y, yaw in args.marker:
            if marker_id not in found:
                raise FloorFitError(
                    f"marker {marker_id} not found in {image} (found: {sorted(found) or 'none'})"
                )
            pixels.append(found[marker_id])
            floor.append(marker_floor_corners(x, y, yaw, args.marker_size))
        return np.vstack(pixels), np.vstack(floor), image
    if args.board is None:
        raise ValueError("--charuco needs --board SQUARESxSQUARES")
    target = _charuco_target(args, args.board, "--charuco")
    board_points, pixels, _markers = detect_charuco(gray, target)
    if len(pixels) < 4:
        raise FloorFitError(f"only {len(pixels)} ChArUco corners found in {image}; need >= 4")
    return pixels, charuco_floor_points(board_points, args.origin, args.yaw), image


def _with_floor(
    base: CameraCalibration | None, fit: FloorFit, method: str, camera: str,
    points: tuple[np.ndarray, np.ndarray], sources: list[SourceImage],
) -> CameraCalibration:  # fmt: skip
    pixels, floor = points
    floor_points = [
        FloorPoint(u=u, v=v, x=x, y=y, error_m=float(error))
        for (u, v), (x, y), error in zip(pixels, floor, fit.errors_m, strict=True)
    ]
    fields = {
        "camera": camera,
        "created": now_utc(),
        "floor_method": method,
        "floor_homography": fit.homography.tolist(),
        "floor_error_m": fit.rms_m,
        "floor_max_error_m": fit.max_m,
        "floor_loo_error_m": fit.loo_rms_m,
        "floor_points": floor_points,
        "floor_sources": sources,
        "pose": fit.pose,
    }
    if base is None:
        return CameraCalibration(method=method, **fields)
    prefix = base.method.split("+")[0]
    data = base.model_dump() | fields | {"method": f"{prefix}+{method}"}
    return CameraCalibration.model_validate(data)


def _floor_image_size(
    base: CameraCalibration | None, given: tuple[int, int] | None
) -> tuple[int, int] | None:
    """The image size of a floor calibration: the intrinsics' or --image-size (ValueError if
    they differ)."""
    known = None if base is None or base.image_size is None else tuple(base.image_size)
    if known is not None and given is not None and tuple(given) != known:
        raise ValueError(
            f"--image-size {given[0]}x{given[1]} differs from the intrinsics' image_size "
            f"{known[0]}x{known[1]}"
        )
    return (known[0], known[1]) if known is not None else given


def _floor_footprint(
    calibration: CameraCalibration, fit: FloorFit, size: tuple[int, int] | None
) -> FloorFootprint | None:
    """The footprint of the fitted floor mapping for images of ``size``, None without one."""
    if size is None:
        return None
    mapper = FloorMapper(
        fit.homography, calibration.k(), calibration.dist(), pose=fit.pose, image_size=size
    )
    return floor_footprint(mapper)


def run_floor(args: argparse.Namespace) -> int:
    """Fit the floor homography (and pose) and write the calibration file."""
    camera = args.camera or Path(args.out).stem
    try:
        base = _load_intrinsics(args.intrinsics, needed=args.points is None)
        k = None if base is None else base.k()
        dist = None if base is None else base.dist()
        if args.points is not None:
            pairs = np.asarray(args.points, dtype=np.float64)
            pixels, floor, sources, method = pairs[:, :2], pairs[:, 2:], [], "points"
            fit = fit_floor_from_points(pixels, floor, k, dist)
        else:
            assert base is not None and k is not None and dist is not None
            pixels, floor, image = _target_correspondences(args, base)
            sources = [SourceImage(file=image, sha256=sha256_file(image))]
            method = "aruco" if args.aruco else "charuco"
            fit = fit_floor_from_target(pixels, floor, k, dist)
    except ConfigError as error:
        for issue in error.issues:
            _error(str(issue))
        return 2
    except FloorFitError as error:
        _error(f"floor calibration failed: {error}")
        return 1 if args.points is None else 2
    except (ImageReadError, ValueError) as error:
        _error(str(error))
        return 2
    calibration = _with_floor(base, fit, method, camera, (pixels, floor), sources)
    try:
        size = _floor_image_size(base, args.image_size)
        footprint = _floor_footprint(calibration, fit, size)
    except ValueError as error:
        _error(str(error))
        return 2
    if footprint is not None and footprint.problems:
        for problem in footprint.problems:
            _error(f"camera {camera}: floor mapping refused: {problem}")
        _error(f"camera {camera}: nothing written to {args.out}")
        return 2
    if size is not None and calibration.image_size is None:
        calibration = calibration.model_copy(update={"image_size": size})
    for point in calibration.floor_points:
        print(
            f"  pixel ({point.u:8.2f}, {point.v:8.2f}) → floor ({point.x:7.3f}, {point.y:7.3f}) m"
            f"  error {point.error_m * 1000:7.1f} mm"
        )
    loo = "" if fit.loo_rms_m is None else f", leave-one-out RMS {fit.loo_rms_m:.4f} m"
    print(f"floor reprojection error: RMS {fit.rms_m:.4f} m, max {fit.max_m:.4f} m{loo}")
    if fit.reprojection_px is not None:
        print(f"pose fit: RMS {fit.reprojection_px:.3f} px")
    if len(pixels) == 4 and method == "points":
        print("note: 4 points fit exactly, so the error above says nothing; give >= 6 points")
    if base is None:
        print("note: no --intrinsics: lens distortion is not removed before the homography")
    if footprint is None:
        print("note: no --image-size: the floor footprint (what the image sees) is not checked")
    else:
        print(f"footprint: {footprint.describe()}")
    if fit.pose is not None:
        print(f"camera height above the floor: {fit.pose.camera_height_m:.3f} m")
    elif k is not None:
        print("note: no camera pose: the homography does not decompose with these intrinsics")
    print(f"wrote {save_calibration(calibration, args.out)}")
    return 0


def run_target(args: argparse.Namespace) -> int:
    """Write a printable target PNG."""
    try:
        if args.square_size is None:
            raise ValueError("--square-size METRES is required")
        if args.chessboard is not None:
            cols, rows = args.chessboard
            image = chessboard_image(
                ChessboardTarget(cols=cols, rows=rows, square_size_m=args.square_size), args.dpi
            )
        elif args.charuco is not None:
            image = charuco_image(_charuco_target(args, args.charuco, "--charuco"), args.dpi)
        else:
            side = round(args.square_size / 0.0254 * args.dpi)
            marker = cv2.aruco.generateImageMarker(
                dictionary(args.dictionary), args.aruco_marker, side
            )
            image = np.pad(marker, side // 4, constant_values=255)
    except (ValueError, cv2.error) as error:
        _error(str(error).strip())
        return 2
    if not cv2.imwrite(args.out, image):
        _error(f"{args.out}: cannot write PNG")
        return 1
    height, width = image.shape[:2]
    inches = f"{width / args.dpi:.2f} x {height / args.dpi:.2f} in"
    print(f"wrote {args.out}: {width}x{height} px at {args.dpi} dpi ({inches}); print at 100 %")
    return 0
