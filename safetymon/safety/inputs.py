"""What the decision sees in one cycle. All positions in the floor frame (metres, z up).

These are in-process values (NumPy arrays for the hot path); messages that cross a process
boundary are Pydantic models elsewhere and are converted to these at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def _array(value: np.ndarray | list, shape_tail: tuple[int, ...], name: str) -> np.ndarray:
    array = np.ascontiguousarray(value, dtype=np.float64)
    if array.ndim != 1 + len(shape_tail) or array.shape[1:] != shape_tail:
        raise ValueError(f"{name} must have shape (N, {', '.join(map(str, shape_tail))})")
    return array


@dataclass(frozen=True)
class HumanBatch:
    """Tracked people (and unclassified foreground blobs), predicted to the cycle time.

    Attributes:
        track_ids: (H,) int64 track ids.
        xy: (H, 2) footprint centre on the floor, metres.
        velocity: (H, 2) floor velocity, m/s.
        radius_m: (H,) body radius, metres.
        uncertainty_m: (H,) position uncertainty (1-sigma-ish bound used as Z_d), metres.
    """

    track_ids: np.ndarray
    xy: np.ndarray
    velocity: np.ndarray
    radius_m: np.ndarray
    uncertainty_m: np.ndarray

    @classmethod
    def empty(cls) -> HumanBatch:
        """No people."""
        return cls.build([], [], [], [], [])

    @classmethod
    def build(
        cls,
        track_ids: np.ndarray | list,
        xy: np.ndarray | list,
        velocity: np.ndarray | list,
        radius_m: np.ndarray | list,
        uncertainty_m: np.ndarray | list,
    ) -> HumanBatch:
        """Build with dtype and shape checks (values are not checked: NaN is the decision's job)."""
        ids = np.ascontiguousarray(track_ids, dtype=np.int64).reshape(-1)
        count = ids.shape[0]
        batch = cls(
            ids,
            _array(np.reshape(xy, (count, 2)), (2,), "xy"),
            _array(np.reshape(velocity, (count, 2)), (2,), "velocity"),
            np.ascontiguousarray(radius_m, dtype=np.float64).reshape(count),
            np.ascontiguousarray(uncertainty_m, dtype=np.float64).reshape(count),
        )
        return batch

    @property
    def count(self) -> int:
        """Number of people."""
        return int(self.track_ids.shape[0])


@dataclass(frozen=True)
class RobotSnapshot:
    """The newest state of one robot as link capsules in the floor frame.

    Attributes:
        robot_id: the configured robot id.
        age_s: age of the state at the cycle time (cycle time − capture time), seconds.
        link_a, link_b: (L, 3) capsule axis endpoints, metres.
        link_radius_m: (L,) capsule radii, metres.
        link_vel_a, link_vel_b: (L, 3) velocities of the endpoints, m/s.
        fault: why the state is unusable (malformed message, ...), or None.
        base_xy: (2,) floor point of the robot's base origin, metres (None: unknown; a
            dynamically stable robot's fall envelope is centred on it).
        base_velocity: (2,) the base's floor velocity, m/s (None: unknown; a dynamically
            stable robot's base braking then assumes its largest base speed).
    """

    robot_id: str
    age_s: float
    link_a: np.ndarray
    link_b: np.ndarray
    link_radius_m: np.ndarray
    link_vel_a: np.ndarray
    link_vel_b: np.ndarray
    fault: str | None = None
    base_xy: np.ndarray | None = None
    base_velocity: np.ndarray | None = None

    def problem(self) -> str | None:
        """Why this state cannot be used (shape or non-finite values), or None."""
        if self.fault:
            return self.fault
        links = self.link_a.shape[0] if self.link_a.ndim == 2 else -1
        shapes = {
            "link_a": (self.link_a, (links, 3)),
            "link_b": (self.link_b, (links, 3)),
            "link_radius_m": (self.link_radius_m, (links,)),
            "link_vel_a": (self.link_vel_a, (links, 3)),
            "link_vel_b": (self.link_vel_b, (links, 3)),
        }
        if links < 1:
            return "no links"
        for name, (array, shape) in shapes.items():
            if array.shape != shape:
                return f"{name} has shape {array.shape}, expected {shape}"
            if not np.all(np.isfinite(array)):
                return f"{name} has a non-finite value"
        if np.any(self.link_radius_m < 0):
            return "link_radius_m has a negative value"
        for name, vector in (("base_xy", self.base_xy), ("base_velocity", self.base_velocity)):
            if vector is not None and (vector.shape != (2,) or not np.all(np.isfinite(vector))):
                return f"{name} must be 2 finite values, got {vector!r}"
        return None


@dataclass(frozen=True)
class CameraStatus:
    """Health of one camera's pipeline at the cycle time.

    Attributes:
        camera_id: the configured camera id.
        frame_age_s: age of the newest processed frame (cycle time − capture time), seconds.
        fault: camera fault (disconnected, frozen image), or None.
        detector_fault: detector failure on the newest frame, or None.
        calibrated: whether a floor mapping is available.
    """

    camera_id: str
    frame_age_s: float
    fault: str | None = None
    detector_fault: str | None = None
    calibrated: bool = True


@dataclass(frozen=True)
class CycleInput:
    """Everything one decision cycle looks at.

    Attributes:
        time_s: monotonic time of the cycle, seconds.
        humans: people predicted to ``time_s``.
        robots: newest state of each robot (a configured robot missing here is stale).
        cameras: status of each camera (a configured camera missing here is stale).
        reset_requested: an authenticated operator reset arrived since the last cycle.
        operator_stop: an operator or external stop request is active.
        faults: other faults of the monitor (evidence store, outputs, loop overrun), as
            (reason name, detail) pairs; each is a STOP cause.
    """

    time_s: float
    humans: HumanBatch = field(default_factory=HumanBatch.empty)
    robots: tuple[RobotSnapshot, ...] = ()
    cameras: tuple[CameraStatus, ...] = ()
    reset_requested: bool = False
    operator_stop: bool = False
    faults: tuple[tuple[str, str], ...] = ()
