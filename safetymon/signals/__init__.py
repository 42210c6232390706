"""Stop signals: the black-channel wire protocol, its outputs and the controller-side client.

Importing this package must stay light (no OpenCV, no Numba): controllers import the client.
"""
