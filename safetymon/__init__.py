"""safetymon: a human-robot safety collaboration monitor.

Software on ordinary hardware, not a certified safety device: it is meant to feed a rated
safety controller or relay (which keeps its own watchdog) as the monitoring and evidence layer.
"""

__version__ = "0.1.0"
