"""`safetymon zones render`: the floor plan of a site, or its zones drawn on a camera frame;
`safetymon zones examples`: the packaged example sites copied out for editing.

Exit codes: 0 written, 1 the output file could not be written, 2 invalid input (config,
camera id, frame, sizes, output type).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from safetymon.config.loader import ConfigError, load_site_config
from safetymon.config.site import SiteConfig

SIZE_PATTERN = re.compile(r"^([1-9][0-9]{0,4})x([1-9][0-9]{0,4})$")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `zones` command group."""
    parser = subparsers.add_parser("zones", help="draw a site's zones for checking them")
    commands = parser.add_subparsers(dest="zones_command", metavar="SUBCOMMAND", required=True)
    render = commands.add_parser(
        "render",
        help="floor plan to scale (PNG/JPEG), or the zones on a camera frame (--camera, --frame)",
    )
    render.add_argument("--config", required=True, help="site configuration (YAML)")
    render.add_argument("--out", required=True, help="image to write (.png, .jpg or .jpeg)")
    render.add_argument(
        "--size", default="1200x900", help="floor plan size in pixels, WxH (default 1200x900)"
    )
    render.add_argument(
        "--image-size",
        action="append",
        default=[],
        metavar="CAMERA=WxH",
        help="image size of a camera whose calibration has none, to draw its floor view "
        "(repeatable)",
    )
    render.add_argument("--camera", help="camera id: draw the zones on --frame instead")
    render.add_argument("--frame", help="an image of --camera (needs --camera)")
    render.set_defaults(func=run_render)
    examples = commands.add_parser(
        "examples", help="copy the example site files (demo cell and two more) out for editing"
    )
    examples.add_argument("--out", required=True, metavar="DIR", help="folder to write to")
    examples.add_argument("--force", action="store_true", help="replace files of the same name")
    examples.set_defaults(func=run_examples)


def run_examples(args: argparse.Namespace) -> int:
    """Copy the packaged example sites to ``--out``; 2 when one exists there, 1 on I/O errors."""
    from safetymon.examples import copy_examples

    try:
        written = copy_examples(Path(args.out), overwrite=args.force)
    except FileExistsError as error:
        print(f"error: --out: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: --out {args.out!r}: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


def _size(text: str, what: str) -> tuple[int, int]:
    match = SIZE_PATTERN.match(text)
    if match is None:
        raise ValueError(f"{what}: expected WxH in pixels (e.g. 1200x900), got {text!r}")
    return int(match.group(1)), int(match.group(2))


def _image_sizes(items: list[str]) -> dict[str, tuple[int, int]]:
    sizes: dict[str, tuple[int, int]] = {}
    for item in items:
        camera, sep, size = item.partition("=")
        if not sep or not camera:
            raise ValueError(f"--image-size: expected CAMERA=WxH, got {item!r}")
        sizes[camera] = _size(size, f"--image-size {camera}")
    return sizes


def _fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def run_render(args: argparse.Namespace) -> int:
    """Render the plan or the camera overlay; print what was written."""
    from safetymon.viz.images import check_image_path

    if (args.camera is None) != (args.frame is None):
        return _fail("--camera and --frame go together (the zones are drawn on that frame)")
    try:
        check_image_path(args.out)
    except ValueError as error:
        return _fail(f"--out {error}")
    try:
        size = _size(args.size, "--size")
        image_sizes = _image_sizes(args.image_size)
        config = load_site_config(args.config)
    except ValueError as error:
        return _fail(str(error))
    except ConfigError as error:
        for issue in error.issues:
            print(f"error: {issue}", file=sys.stderr)
        return 2
    unknown = sorted(set(image_sizes) - {camera.id for camera in config.cameras})
    if unknown:
        ids = ", ".join(camera.id for camera in config.cameras)
        return _fail(f"--image-size: no camera {unknown[0]!r}; the site has: {ids}")
    base_dir = Path(args.config).parent
    if args.camera is not None:
        return _render_overlay(args, config, base_dir)
    return _render_plan(args, config, base_dir, size, image_sizes)


def _render_plan(
    args: argparse.Namespace,
    config: SiteConfig,
    base_dir: Path,
    size: tuple[int, int],
    image_sizes: dict[str, tuple[int, int]],
) -> int:
    from safetymon.viz.images import write_image
    from safetymon.viz.plan import render_plan

    try:
        plan = render_plan(config, base_dir, size_px=size, image_sizes=image_sizes)
    except ConfigError as error:
        for issue in error.issues:
            print(f"error: {issue}", file=sys.stderr)
        return 2
    except ValueError as error:
        return _fail(str(error))
    try:
        write_image(args.out, plan.image)
    except OSError as error:
        return _fail(f"--out {args.out}: cannot write: {error.strerror or error}", 1)
    height, width = plan.image.shape[:2]
    print(
        f"wrote {args.out}: floor plan {width}x{height} px, "
        f"{plan.transform.scale_px_per_m:.1f} px/m, grid {plan.grid_step_m:g} m"
    )
    for camera in plan.cameras:
        if camera.note:
            print(f"camera {camera.id}: {camera.note}")
    for robot in plan.robots:
        if robot.reach.radius_m is None:
            print(f"robot {robot.id}: {robot.reach.basis}")
    return 0


def _render_overlay(args: argparse.Namespace, config: SiteConfig, base_dir: Path) -> int:
    import cv2
    import numpy as np

    from safetymon.viz.images import write_image
    from safetymon.viz.overlay import (
        camera_mapper,
        check_frame_size,
        draw_projected,
        project_zones,
    )

    try:
        mapper = camera_mapper(config, args.camera, base_dir)
    except KeyError as error:
        return _fail(f"--camera {error.args[0]}")
    except ConfigError as error:
        for issue in error.issues:
            print(f"error: {issue}", file=sys.stderr)
        return 2
    try:
        data = np.frombuffer(Path(args.frame).read_bytes(), np.uint8)
    except OSError as error:
        return _fail(f"--frame {args.frame}: cannot read: {error.strerror or error}")
    frame = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if frame is None:
        return _fail(f"--frame {args.frame}: not an image OpenCV can decode")
    try:
        check_frame_size(mapper, frame, args.camera)
    except ValueError as error:
        return _fail(f"--frame {args.frame}: {error}")
    height, width = frame.shape[:2]
    projected = project_zones(mapper, config.zones, (width, height))
    try:
        write_image(args.out, draw_projected(frame, projected))
    except OSError as error:
        return _fail(f"--out {args.out}: cannot write: {error.strerror or error}", 1)
    print(f"wrote {args.out}: zones of {args.camera} on {args.frame} ({width}x{height} px)")
    for zone in projected:
        state = "visible" if zone.visible else "NOT visible in this camera"
        print(f"zone {zone.id} ({zone.type.value}): {state}")
    return 0
