"""`safetymon calibrate import`: a calibration from OpenCV FileStorage files (XML / YAML).

Reads ``camera_matrix``, ``distortion_coefficients``, ``image_width``, ``image_height`` and
the floor → camera pose (``rvec``/``tvec`` or ``R``/``T``) from one file or several (see
``safetymon.perception.calibration.opencv_import``), derives the floor homography from K and
the pose, checks the floor footprint, and writes ``calibration/<camera>.yaml``.
Exit codes: 0 written, 2 unreadable or invalid input (nothing written).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from safetymon.cli.arg_types import image_size
from safetymon.perception.calibration.model import save_calibration
from safetymon.perception.calibration.opencv_import import (
    OpenCVImportError,
    calibration_from_import,
    read_opencv_calibration,
)
from safetymon.perception.floor_footprint import floor_footprint
from safetymon.perception.mapping import FloorMapper


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def register_import(commands: argparse._SubParsersAction) -> None:
    """Add ``import`` to the ``calibrate`` subcommands."""
    parser = commands.add_parser(
        "import",
        help="calibration from OpenCV FileStorage files (camera_matrix, distortion, pose)",
        description=(
            "Keys (OpenCV calibration sample names): camera_matrix, distortion_coefficients, "
            "image_width, image_height, and the floor → camera pose as rvec/tvec (Rodrigues, "
            "translation) or R/T (3x3 rotation, translation): X_cam = R X_floor + t, floor "
            "z up. Keys may be split over several files (e.g. intrinsics and extrinsics)."
        ),
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="FileStorage XML or YAML")
    parser.add_argument("--out", required=True, help="calibration file to write (YAML)")
    parser.add_argument("--camera", help="camera id (default: the --out file's stem)")
    parser.add_argument(
        "--unit-scale", type=_positive, default=1.0, metavar="FACTOR",
        help="multiply the translation by this to get metres (0.01: cm, 0.001: mm; default 1)",
    )  # fmt: skip
    parser.add_argument(
        "--image-size", type=image_size, metavar="WIDTHxHEIGHT",
        help="size of the calibrated images, for files without image_width/image_height "
        "(e.g. 1920x1080); files that give them must agree",
    )  # fmt: skip
    parser.add_argument(
        "--floor-error-m", type=_non_negative, default=0.0, metavar="METRES",
        help="the imported pose's floor error if known (default 0: the pose is taken as exact "
        "and only each detection's pixel uncertainty counts)",
    )  # fmt: skip
    parser.set_defaults(func=run_import)


def run_import(args: argparse.Namespace) -> int:
    """Import, check and write the calibration file."""
    camera = args.camera or Path(args.out).stem
    try:
        imported = read_opencv_calibration(args.files, args.unit_scale, args.image_size)
        calibration = calibration_from_import(imported, camera, args.floor_error_m)
        mapper = FloorMapper(
            imported.floor_homography(), imported.camera_matrix, imported.dist_coeffs,
            pose=imported.pose, image_size=imported.image_size,
        )  # fmt: skip
    except (OpenCVImportError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    footprint = floor_footprint(mapper)
    if footprint.problems:
        for problem in footprint.problems:
            print(f"error: camera {camera}: floor mapping refused: {problem}", file=sys.stderr)
        print(f"error: camera {camera}: nothing written to {args.out}", file=sys.stderr)
        return 2
    k = imported.camera_matrix
    width, height = imported.image_size
    print(f"image {width}x{height} px, fx {k[0, 0]:.2f} fy {k[1, 1]:.2f} cx {k[0, 2]:.2f} "
          f"cy {k[1, 2]:.2f} px, {len(imported.dist_coeffs)} distortion coefficients")  # fmt: skip
    print(f"camera height above the floor: {imported.pose.camera_height_m:.3f} m")
    print(f"footprint: {footprint.describe()}")
    if args.floor_error_m == 0:
        print("note: floor_error_m 0: the imported pose's own error is unknown; give "
              "--floor-error-m if it is known")  # fmt: skip
    print(f"wrote {save_calibration(calibration, args.out)}")
    return 0
