"""Printable calibration targets (PNG): chessboards and ChArUco boards.

Images are rendered at ``dpi`` dots per inch so that printing at 100 % scale gives the
stated square size; a white margin of one square surrounds the pattern.
"""

from __future__ import annotations

import numpy as np

from safetymon.perception.calibration.aruco import charuco_board
from safetymon.perception.calibration.model import CharucoTarget, ChessboardTarget

METRES_PER_INCH = 0.0254


def pixels_per_square(square_size_m: float, dpi: int) -> int:
    """Whole pixels per square at this print resolution (ValueError if under 10)."""
    pixels = round(square_size_m / METRES_PER_INCH * dpi)
    if pixels < 10:
        raise ValueError(
            f"a {square_size_m} m square is only {pixels} px at {dpi} dpi: raise --dpi"
        )
    return pixels


def chessboard_image(target: ChessboardTarget, dpi: int = 300) -> np.ndarray:
    """8-bit grayscale chessboard with cols x rows inner corners and a white margin."""
    square = pixels_per_square(target.square_size_m, dpi)
    squares_x, squares_y = target.cols + 1, target.rows + 1
    cells = (np.add.outer(np.arange(squares_y), np.arange(squares_x)) % 2 == 0).astype(np.uint8)
    pattern = np.kron(1 - cells, np.ones((square, square), np.uint8)) * 255
    return np.pad(pattern, square, constant_values=255)


def charuco_image(target: CharucoTarget, dpi: int = 300) -> np.ndarray:
    """8-bit grayscale ChArUco board (OpenCV's layout) with a white margin of one square."""
    square = pixels_per_square(target.square_size_m, dpi)
    size = (target.squares_x * square, target.squares_y * square)
    pattern = charuco_board(target).generateImage(size, marginSize=0, borderBits=1)
    return np.pad(pattern, square, constant_values=255)
