"""Multi-camera people tracker on the floor: association, Kalman tracks, birth and death.

Floor frame, metres, seconds (monotonic capture times). Each camera frame updates one shared
set of constant-velocity tracks (``update``); the decision loop reads them predicted to its
cycle time (``humans_at``).

Safety bias (nobody vanishes early):
- a new (tentative) track is reported at once; ``confirmed`` is for display and evidence;
- a track without observations coasts on its velocity, with growing covariance and so
  growing ``uncertainty_m`` (by at most ``coast_growth_mps``, a walking person's speed),
  until ``max_coast_s`` after its last observation;
- an observation that fits no track starts a new one; observations of one frame go to
  distinct tracks; observations and tracks of different labels never associate;
- invalid observations are rejected and reported in the ``UpdateResult`` and ``stats``
  (the monitor should treat them as a detector fault of that camera: STOP).

Late frames: a frame older than a track's last update (cameras arrive out of order by a few
milliseconds) is applied to that track's newest state by shifting the observation forward
by the track's velocity times the lag and inflating its variance by the velocity and
process uncertainty of that shift; the track's time does not go back. A frame older than
the newest seen by more than ``max_out_of_order_s`` is rejected as stale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from safetymon.config.tracking import TrackingConfig
from safetymon.perception.tracking import kalman
from safetymon.perception.tracking.association import assign, association_cost
from safetymon.perception.tracking.observation import LABELS, FloorObservation
from safetymon.safety.inputs import HumanBatch


@dataclass(frozen=True)
class TrackView:
    """One track as of its last observation (floor frame).

    Attributes:
        track_id: stable id (never reused).
        xy: (2,) position, metres.
        velocity: (2,) velocity, m/s (clamped to ``max_human_speed_mps``).
        covariance: (4, 4) covariance of (x, y, vx, vy), m^2, m^2/s, m^2/s^2.
        radius_m: body radius, metres (largest of the recent observations).
        hits: number of observations fused.
        age_s: time from birth to the last observation, seconds.
        last_update_s: capture time of the last observation, monotonic seconds.
        label: ``"person"`` or ``"foreground"``.
        confirmed: ``hits >= confirm_hits`` (display only; tentative tracks are reported too).
        cameras: ids of every camera that has observed it.
    """

    track_id: int
    xy: np.ndarray
    velocity: np.ndarray
    covariance: np.ndarray
    radius_m: float
    hits: int
    age_s: float
    last_update_s: float
    label: str
    confirmed: bool
    cameras: frozenset[str]


@dataclass(frozen=True)
class UpdateResult:
    """What one camera frame did to the tracks.

    Attributes:
        matched: observations that updated an existing track.
        born: ids of the tracks started by this frame.
        rejected: ``(observation index, reason)`` of every observation not used.
        stale: the whole frame was rejected as too old.
    """

    matched: int = 0
    born: tuple[int, ...] = ()
    rejected: tuple[tuple[int, str], ...] = ()
    stale: bool = False


@dataclass
class TrackerStats:
    """Running counters since the tracker started."""

    frames: int = 0
    observations: int = 0
    rejected_invalid: int = 0
    rejected_stale: int = 0
    late_frames: int = 0
    born: int = 0
    died: int = 0
    merged: int = 0


@dataclass
class _Meta:
    """Per-track bookkeeping that is not part of the Kalman state."""

    label: str
    born_s: float
    hits: int = 0
    cameras: set[str] = field(default_factory=set)
    recent: dict[str, tuple[float, float, float]] = field(default_factory=dict)


class MultiCameraTracker:
    """Fuses every camera's floor observations into one set of constant-velocity tracks."""

    def __init__(self, config: TrackingConfig | None = None) -> None:
        self.config = config or TrackingConfig()
        self._ids = np.zeros(0, dtype=np.int64)
        self._x = np.zeros((0, 4))
        self._P = np.zeros((0, 4, 4))
        self._t = np.zeros(0)
        self._radius = np.zeros(0)
        self._obs_sigma = np.zeros(0)
        self._meta: list[_Meta] = []
        self._next_id = 1
        self._latest_s: float | None = None
        self._stats = TrackerStats()

    # ------------------------------------------------------------------ queries

    @property
    def stats(self) -> TrackerStats:
        """A copy of the running counters."""
        return TrackerStats(**vars(self._stats))

    @property
    def latest_time_s(self) -> float | None:
        """Capture time of the newest frame applied, monotonic seconds (None before any)."""
        return self._latest_s

    def humans_at(self, time_s: float) -> HumanBatch:
        """Every live track predicted to ``time_s`` (monotonic seconds); mutates nothing.

        Live: observed within ``max_coast_s`` before ``time_s``. ``uncertainty_m`` is
        ``uncertainty_sigmas`` x sqrt(largest eigenvalue of the predicted position
        covariance), but while coasting at most its value at the last observation plus
        ``coast_growth_mps`` x the time since, and at least the recent observations'
        smallest 1-sigma uncertainty.

        Raises:
            ValueError: ``time_s`` is not finite.
        """
        if not math.isfinite(time_s):
            raise ValueError(f"time_s={time_s!r} is not finite")
        live = (time_s - self._t) <= self.config.max_coast_s
        if not np.any(live):
            return HumanBatch.empty()
        x, P = kalman.predict(
            self._x[live], self._P[live], time_s - self._t[live], self.config.accel_noise_mps2
        )
        cfg = self.config
        predicted = cfg.uncertainty_sigmas * kalman.largest_position_sigma(P)
        # Coasting: at most a walking person's growth since the last observation, starting
        # from the uncertainty reported then (a barely known velocity must not inflate it).
        at_update = cfg.uncertainty_sigmas * kalman.largest_position_sigma(self._P[live])
        coast_s = np.maximum(time_s - self._t[live], 0.0)
        walked = at_update + cfg.coast_growth_mps * coast_s
        uncertainty = np.maximum(np.minimum(predicted, walked), self._obs_sigma[live])
        return HumanBatch.build(
            self._ids[live], x[:, :2], x[:, 2:], self._radius[live], uncertainty
        )

    def tracks(self) -> tuple[TrackView, ...]:
        """Every track held (live or not yet pruned) as of its last observation."""
        views = []
        for row, meta in enumerate(self._meta):
            views.append(
                TrackView(
                    track_id=int(self._ids[row]),
                    xy=self._x[row, :2].copy(),
                    velocity=self._x[row, 2:].copy(),
                    covariance=self._P[row].copy(),
                    radius_m=float(self._radius[row]),
                    hits=meta.hits,
                    age_s=float(self._t[row] - meta.born_s),
                    last_update_s=float(self._t[row]),
                    label=meta.label,
                    confirmed=meta.hits >= self.config.confirm_hits,
                    cameras=frozenset(meta.cameras),
                )
            )
        return tuple(views)

    # ------------------------------------------------------------------ update

    def update(self, observations: Sequence[FloorObservation], time_s: float) -> UpdateResult:
        """Apply one camera frame captured at ``time_s`` (monotonic seconds).

        Never raises on bad data: invalid observations (non-finite or out-of-range values,
        a time other than ``time_s``) and stale frames are rejected, counted and returned.
        """
        self._stats.frames += 1
        self._stats.observations += len(observations)
        if not _is_finite(time_s):
            return self._reject_all(observations, f"frame time_s={time_s!r} is not finite")
        time_s = float(time_s)
        latest = self._latest_s
        if latest is not None and time_s < latest - self.config.max_out_of_order_s:
            self._stats.rejected_stale += len(observations)
            reason = (
                f"frame time_s={time_s} is {latest - time_s:.3f} s older than the newest frame "
                f"(max_out_of_order_s={self.config.max_out_of_order_s})"
            )
            result = self._reject_all(observations, reason, count=False)
            return UpdateResult(rejected=result.rejected, stale=True)
        if latest is not None and time_s < latest:
            self._stats.late_frames += 1
        self._latest_s = time_s if latest is None else max(latest, time_s)
        self._prune(self._latest_s)

        valid, rejected = self._validate(observations, time_s)
        if not valid:
            return UpdateResult(rejected=tuple(rejected))
        obs_xy = np.array([obs.xy for _, obs in valid], dtype=np.float64)
        obs_var = np.array([float(obs.uncertainty_m) ** 2 for _, obs in valid])
        obs_var = np.maximum(obs_var, 1e-6)  # 1 mm floor keeps the filter well-conditioned
        obs_label = np.array([LABELS.index(obs.label) for _, obs in valid])

        rows, cols = self._associate(obs_xy, obs_var, obs_label, time_s)
        kept = self._apply(rows, cols, obs_xy, obs_var, time_s)
        rows, cols = rows[kept], cols[kept]
        for row, col in zip(rows, cols, strict=True):
            self._note(int(row), valid[col][1], time_s)
        unmatched = np.setdiff1d(np.arange(len(valid)), cols)
        born_rows = self._birth(
            obs_xy[unmatched], obs_var[unmatched], time_s, [valid[j][1] for j in unmatched]
        )
        touched = np.concatenate([rows, born_rows]).astype(np.intp)
        born_ids = tuple(int(i) for i in self._ids[born_rows])
        self._merge_duplicates(touched, time_s)
        return UpdateResult(matched=len(rows), born=born_ids, rejected=tuple(rejected))

    # ------------------------------------------------------------------ steps

    def _validate(
        self, observations: Sequence[FloorObservation], time_s: float
    ) -> tuple[list[tuple[int, FloorObservation]], list[tuple[int, str]]]:
        valid: list[tuple[int, FloorObservation]] = []
        rejected: list[tuple[int, str]] = []
        for index, obs in enumerate(observations):
            if not isinstance(obs, FloorObservation):
                problem: str | None = f"{type(obs).__name__} is not a FloorObservation"
            else:
                problem = obs.problem()
            if problem is None and float(obs.time_s) != time_s:
                problem = f"time_s={obs.time_s!r} differs from the frame time {time_s!r}"
            if problem is None:
                valid.append((index, obs))
            else:
                rejected.append((index, problem))
        self._stats.rejected_invalid += len(rejected)
        return valid, rejected

    def _reject_all(
        self, observations: Sequence[FloorObservation], reason: str, count: bool = True
    ) -> UpdateResult:
        if count:
            self._stats.rejected_invalid += len(observations)
        return UpdateResult(rejected=tuple((i, reason) for i in range(len(observations))))

    def _prune(self, now_s: float) -> None:
        alive = (now_s - self._t) <= self.config.max_coast_s
        if np.all(alive):
            return
        self._stats.died += int(np.count_nonzero(~alive))
        self._keep(alive)

    def _keep(self, mask: np.ndarray) -> None:
        self._ids = self._ids[mask]
        self._x = self._x[mask]
        self._P = self._P[mask]
        self._t = self._t[mask]
        self._radius = self._radius[mask]
        self._obs_sigma = self._obs_sigma[mask]
        self._meta = [meta for meta, keep in zip(self._meta, mask, strict=True) if keep]

    def _associate(
        self, obs_xy: np.ndarray, obs_var: np.ndarray, obs_label: np.ndarray, time_s: float
    ) -> tuple[np.ndarray, np.ndarray]:
        if self._ids.shape[0] == 0:
            empty = np.zeros(0, dtype=np.intp)
            return empty, empty
        cfg = self.config
        dt = time_s - self._t
        x_pred, P_pred = kalman.predict(self._x, self._P, dt, cfg.accel_noise_mps2)
        gate = cfg.gate_m + cfg.max_human_speed_mps * np.abs(dt)
        track_label = np.array([LABELS.index(meta.label) for meta in self._meta])
        compatible = track_label[:, None] == obs_label[None, :]
        cost = association_cost(x_pred[:, :2], P_pred[:, :2, :2], gate, obs_xy, obs_var, compatible)
        return assign(cost, cfg.assignment)

    def _apply(
        self,
        rows: np.ndarray,
        cols: np.ndarray,
        obs_xy: np.ndarray,
        obs_var: np.ndarray,
        time_s: float,
    ) -> np.ndarray:
        """Kalman-update the matched tracks (late frames: shifted observation, see module).

        Returns the (len(rows),) mask of the pairs applied. A pair whose updated track would
        lie farther than ``gate_m`` from its observation is not applied: a track that coasted
        with a narrow covariance would otherwise absorb the observation and be reported
        between the two, far from where the person was just seen. Such an observation is
        born as a track of its own (the caller treats it as unmatched) and the old track
        coasts on: both are reported, the conservative side.
        """
        if rows.shape[0] == 0:
            return np.zeros(0, dtype=bool)
        cfg = self.config
        dt = time_s - self._t[rows]
        forward = np.maximum(dt, 0.0)
        lag = np.maximum(-dt, 0.0)
        x, P = kalman.predict(self._x[rows], self._P[rows], forward, cfg.accel_noise_mps2)
        z = obs_xy[cols] + x[:, 2:] * lag[:, None]
        vel_var = np.linalg.eigvalsh(P[:, 2:, 2:])[:, -1]
        r = obs_var[cols] + lag**2 * vel_var + cfg.accel_noise_mps2**2 * lag**3 / 3.0
        x, P = kalman.update(x, P, z, r)
        x = kalman.clamp_speed(x, cfg.max_human_speed_mps)
        kept = np.hypot(*(x[:, :2] - z).T) <= cfg.gate_m
        rows = rows[kept]
        self._x[rows] = x[kept]
        self._P[rows] = P[kept]
        self._t[rows] = np.maximum(self._t[rows], time_s)
        return kept

    def _note(self, row: int, obs: FloorObservation, time_s: float) -> None:
        """Record hit, camera, radius and observation uncertainty of a fused observation."""
        meta = self._meta[row]
        meta.hits += 1
        meta.cameras.add(obs.camera_id)
        previous = meta.recent.get(obs.camera_id)
        if previous is None or previous[0] <= time_s:
            meta.recent[obs.camera_id] = (time_s, float(obs.radius_m), float(obs.uncertainty_m))
        self._refresh_extent(row)

    def _refresh_extent(self, row: int) -> None:
        meta = self._meta[row]
        horizon = self._t[row] - self.config.max_coast_s
        meta.recent = {cam: entry for cam, entry in meta.recent.items() if entry[0] >= horizon}
        self._radius[row] = max(entry[1] for entry in meta.recent.values())
        self._obs_sigma[row] = min(entry[2] for entry in meta.recent.values())

    def _birth(
        self,
        obs_xy: np.ndarray,
        obs_var: np.ndarray,
        time_s: float,
        observations: list[FloorObservation],
    ) -> np.ndarray:
        count = obs_xy.shape[0]
        first = self._ids.shape[0]
        if count == 0:
            return np.zeros(0, dtype=np.intp)
        x = np.zeros((count, 4))
        x[:, :2] = obs_xy
        self._ids = np.concatenate([self._ids, np.arange(self._next_id, self._next_id + count)])
        self._next_id += count
        self._x = np.concatenate([self._x, x])
        self._P = np.concatenate(
            [self._P, kalman.initial_covariance(obs_var, self.config.initial_speed_sigma_mps)]
        )
        self._t = np.concatenate([self._t, np.full(count, time_s)])
        self._radius = np.concatenate([self._radius, np.zeros(count)])
        self._obs_sigma = np.concatenate([self._obs_sigma, np.zeros(count)])
        for offset, obs in enumerate(observations):
            self._meta.append(_Meta(label=obs.label, born_s=time_s))
            self._note(first + offset, obs, time_s)
        self._stats.born += count
        return np.arange(first, first + count, dtype=np.intp)

    def _merge_duplicates(self, touched: np.ndarray, time_s: float) -> None:
        """Merge a touched track into a same-label track within ``merge_distance_m`` that no
        common camera has observed (one person seen by two cameras as two tracks).

        The survivor is the older track; its covariance grows by the spread between the two
        positions, so the merged report still covers both.
        """
        limit = self.config.merge_distance_m
        if limit <= 0.0 or touched.shape[0] == 0 or self._ids.shape[0] < 2:
            return
        xy = self._x[:, :2] + self._x[:, 2:] * (time_s - self._t)[:, None]
        rows = np.unique(touched)
        distance = np.hypot(xy[rows, None, 0] - xy[None, :, 0], xy[rows, None, 1] - xy[None, :, 1])
        distance[np.arange(rows.shape[0]), rows] = np.inf
        near_i, near_j = np.nonzero(distance <= limit)
        gone: set[int] = set()
        for index in np.argsort(distance[near_i, near_j], kind="stable"):
            row, other = int(rows[near_i[index]]), int(near_j[index])
            if row in gone or other in gone or not self._duplicates(row, other):
                continue
            survivor, merged = sorted((row, other), key=lambda r: self._ids[r])
            self._absorb(survivor, merged)
            gone.add(merged)
        if gone:
            self._stats.merged += len(gone)
            self._keep(~np.isin(np.arange(self._ids.shape[0]), sorted(gone)))

    def _duplicates(self, a: int, b: int) -> bool:
        first, second = self._meta[a], self._meta[b]
        return first.label == second.label and not (first.cameras & second.cameras)

    def _absorb(self, survivor: int, merged: int) -> None:
        cfg = self.config
        t = max(self._t[survivor], self._t[merged])
        rows = np.array([survivor, merged])
        x, P = kalman.predict(self._x[rows], self._P[rows], t - self._t[rows], cfg.accel_noise_mps2)
        r_var = kalman.largest_position_sigma(P[1:2]) ** 2
        fused_x, fused_P = kalman.update(x[:1], P[:1], x[1:2, :2], r_var)
        spread = x[1, :2] - fused_x[0, :2]
        fused_P[0, :2, :2] += np.outer(spread, spread)
        self._x[survivor] = kalman.clamp_speed(fused_x, cfg.max_human_speed_mps)[0]
        self._P[survivor] = fused_P[0]
        self._t[survivor] = t
        keep, gone = self._meta[survivor], self._meta[merged]
        keep.hits += gone.hits
        keep.born_s = min(keep.born_s, gone.born_s)
        keep.cameras |= gone.cameras
        for camera, entry in gone.recent.items():
            if camera not in keep.recent or keep.recent[camera][0] < entry[0]:
                keep.recent[camera] = entry
        self._refresh_extent(survivor)


def _is_finite(value: object) -> bool:
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
