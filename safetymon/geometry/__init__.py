"""Geometry of the safety core: zone packing and Numba distance kernels.

Everything here lives in the floor frame (x, y on the floor, z up, metres) and does no I/O.
Import the submodules directly (``safetymon.geometry.polygons``,
``safetymon.geometry.kernels``); this package file imports nothing so that loading it never
triggers JIT compilation.
"""
