"""The real-time monitor: wires cameras, perception, robot state, the decision, the signal
outputs and the evidence store into one process (``safetymon run`` and ``safetymon demo``).

Everything here is I/O and threads around the pure decision of :mod:`safetymon.safety`.
"""
