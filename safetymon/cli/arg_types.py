"""Command-line argument types shared by several commands (argparse ``type=`` callables)."""

from __future__ import annotations

import argparse


def image_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` pixels such as ``640x480``; both >= 16."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(part.strip().isdigit() for part in parts):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 640x480, got {text!r}")
    width, height = int(parts[0]), int(parts[1])
    if width < 16 or height < 16:
        raise argparse.ArgumentTypeError(f"WIDTH and HEIGHT must be >= 16, got {text!r}")
    return width, height
