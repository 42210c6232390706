"""Perception: camera sources, person detectors, calibration, pixel-to-floor mapping, tracking.

Submodules are imported where used; this package imports nothing heavy on its own.
"""
