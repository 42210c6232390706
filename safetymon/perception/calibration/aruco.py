"""ArUco dictionaries, marker detection (sub-pixel corners) and ChArUco boards (OpenCV 4.7+)."""

from __future__ import annotations

import cv2
import numpy as np

from safetymon.perception.calibration.model import CharucoTarget


def dictionary_names() -> list[str]:
    """The names of OpenCV's predefined ArUco dictionaries (DICT_4X4_50, ...)."""
    return sorted(
        name
        for name in dir(cv2.aruco)
        if name.startswith("DICT_") and isinstance(getattr(cv2.aruco, name), int)
    )


def dictionary_id(name: str) -> int:
    """OpenCV's id of a predefined dictionary name (ValueError naming the choices if unknown)."""
    if name not in dictionary_names():
        raise ValueError(
            f"unknown ArUco dictionary {name!r}; choose one of {', '.join(dictionary_names())}"
        )
    return int(getattr(cv2.aruco, name))


def dictionary(name: str) -> cv2.aruco.Dictionary:
    """A predefined ArUco dictionary by name."""
    return cv2.aruco.getPredefinedDictionary(dictionary_id(name))


def marker_detector(name: str) -> cv2.aruco.ArucoDetector:
    """An ArUco detector for this dictionary with sub-pixel corner refinement."""
    parameters = cv2.aruco.DetectorParameters()
    parameters.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    return cv2.aruco.ArucoDetector(dictionary(name), parameters)


def detect_markers(gray: np.ndarray, dictionary_name: str) -> dict[int, np.ndarray]:
    """Markers found in a grayscale image: id → (4, 2) corners in pixels.

    Corner order is OpenCV's: the marker's top-left, top-right, bottom-right, bottom-left as
    printed. An id seen twice raises ValueError (its position would be ambiguous).
    """
    corners, ids, _rejected = marker_detector(dictionary_name).detectMarkers(gray)
    found: dict[int, np.ndarray] = {}
    if ids is None:
        return found
    for marker_corners, marker_id in zip(corners, ids.ravel(), strict=True):
        key = int(marker_id)
        if key in found:
            raise ValueError(f"marker id {key} appears twice in the image")
        found[key] = np.asarray(marker_corners, dtype=np.float64).reshape(4, 2)
    return found


def charuco_board(target: CharucoTarget) -> cv2.aruco.CharucoBoard:
    """The OpenCV board of a ChArUco target.

    Board frame (OpenCV's): origin at the board's top-left outer corner as printed, x along
    the top edge to the right, y down the printed page, metres.
    """
    return cv2.aruco.CharucoBoard(
        (target.squares_x, target.squares_y),
        target.square_size_m,
        target.marker_size_m,
        dictionary(target.dictionary),
    )


def detect_charuco(gray: np.ndarray, target: CharucoTarget) -> tuple[np.ndarray, np.ndarray, int]:
    """ChArUco corners of one view: (board points (N, 3) metres, pixels (N, 2), markers found).

    N is 0 when the board is not seen.
    """
    board = charuco_board(target)
    detector = cv2.aruco.CharucoDetector(board)
    charuco_corners, charuco_ids, _marker_corners, marker_ids = detector.detectBoard(gray)
    markers = 0 if marker_ids is None else len(marker_ids)
    if charuco_ids is None or len(charuco_ids) == 0:
        return np.zeros((0, 3)), np.zeros((0, 2)), markers
    object_points, image_points = board.matchImagePoints(charuco_corners, charuco_ids)
    return (
        np.asarray(object_points, dtype=np.float64).reshape(-1, 3),
        np.asarray(image_points, dtype=np.float64).reshape(-1, 2),
        markers,
    )


def charuco_corner_count(target: CharucoTarget) -> int:
    """Inner chessboard corners of the board (the most a view can show)."""
    return (target.squares_x - 1) * (target.squares_y - 1)
