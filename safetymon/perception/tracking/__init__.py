"""Multi-camera people tracking on the floor (constant-velocity Kalman, Hungarian association).

Example:
    >>> from safetymon.perception.tracking import FloorObservation, MultiCameraTracker
    >>> tracker = MultiCameraTracker()
    >>> seen = FloorObservation("cam1", 10.0, (1.0, 2.0), 0.1, 0.3, 0.9, "person")
    >>> result = tracker.update([seen], 10.0)
    >>> tracker.humans_at(10.05).count
    1
"""

from safetymon.perception.tracking.observation import FloorObservation, Label
from safetymon.perception.tracking.tracker import (
    MultiCameraTracker,
    TrackerStats,
    TrackView,
    UpdateResult,
)

__all__ = [
    "FloorObservation",
    "Label",
    "MultiCameraTracker",
    "TrackView",
    "TrackerStats",
    "UpdateResult",
]
