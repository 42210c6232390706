"""Geometry of the safety core: zones, distance kernels and safety-distance formulas.

Everything here lives in the floor frame (x, y on the floor, z up, metres) and does no I/O.
Import the submodules directly (e.g. ``safetymon.geometry.polygons``,
``safetymon.geometry.kernels``); this package file imports nothing so that loading it never
triggers Numba compilation.
"""
