"""Command-line argument types shared by several commands (argparse ``type=`` callables)."""

from __future__ import annotations

import argparse


def _int_pair(text: str, form: str, example: str, minimum: int) -> tuple[int, int]:
    """``AxB`` as two integers >= ``minimum``; ``form`` names them (``WIDTHxHEIGHT``)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(part.strip().isdigit() for part in parts):
        raise argparse.ArgumentTypeError(f"expected {form} such as {example}, got {text!r}")
    first, second = int(parts[0]), int(parts[1])
    if first < minimum or second < minimum:
        names = " and ".join(form.split("x"))
        raise argparse.ArgumentTypeError(f"{names} must be >= {minimum}, got {text!r}")
    return first, second


def image_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` pixels such as ``640x480``; both >= 16."""
    return _int_pair(text, "WIDTHxHEIGHT", "640x480", 16)


def grid(text: str) -> tuple[int, int]:
    """``COLSxROWS`` such as ``9x6`` → (9, 6); both >= 2."""
    return _int_pair(text, "COLSxROWS", "9x6", 2)
