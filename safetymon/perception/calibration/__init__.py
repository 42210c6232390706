"""Camera calibration: intrinsics (chessboard, ChArUco), floor plane (points, ArUco, ChArUco),
the calibration file model and its YAML I/O, printable targets and floor-accuracy checks.

Pixel → floor mapping of detections lives in ``safetymon.perception.mapping``.
"""
