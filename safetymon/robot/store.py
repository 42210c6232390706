"""Thread-safe store of the newest valid state of each robot, with rejection counters.

Receivers (``receiver.py``) call ``submit(raw, arrival_s)``; the monitor loop calls
``snapshot(robot_id, now_s)`` once per cycle. All times are monotonic seconds.

Clock (per robot, ``state_input.clock``):

- ``receiver`` (default): the state's time is its arrival time. Age counts from arrival, so
  transport latency is not counted: conservative only while latency is small against
  ``max_state_age_s`` (a local network, a serial line). ``capture_time_s`` is then only used
  for ordering and for velocity differencing; "too old" and "from the future" cannot be
  judged across two clocks and are not checked.
- ``shared_monotonic``: the sender stamps ``capture_time_s`` with this host's
  CLOCK_MONOTONIC (``time.monotonic()``, same machine); a ``ros2`` input's
  ``shared_realtime`` is the same once its receiver has moved the stamps to this clock.
  The state's time is its capture time, so latency counts; a message older than
  ``max_state_age_s`` on arrival is rejected as ``too_old``, one more than
  ``future_tolerance_s`` ahead as ``from_future``.

Sessions: a sender that names its ``session`` (one id per run of the sender) may restart its
``sequence`` and ``capture_time_s`` with a new session. The first message of a new session
is ordered afresh, counted as a sender restart and logged; velocity is not differenced
across the restart. Messages of a replaced session are then refused (``out_of_order``), so
a stale sender still running cannot interleave with its successor, and so is a new session
less than ``MIN_SESSION_S`` after the current one began (a sender that changes its session
at every message would otherwise turn the order checks off). Without a session a
restarted sender must continue above its last sequence and capture time.

Two senders for one robot (a forger beside the controller, or a session taken over while
its sender still runs) are a named fault, never a silent mix: a replaced session that still
sends, a new session that tries to replace one still younger than ``MIN_SESSION_S``, or
``SECOND_SENDER_OUT_OF_ORDER`` out-of-order messages (one link never reorders), or as many
messages refused by an authenticated input (``reject_unauthenticated``), within
``SECOND_SENDER_WINDOW_S`` make the robot's state a fault ("two senders", logged) until
``SECOND_SENDER_HOLD_S`` after the last such sign. It is never a lock-out: when the current
session has been silent for ``SILENT_SESSION_S`` while a replaced one still sends, the
replaced one is taken back (a restart), and the fault ends once the other is quiet.

A rejected message is counted and ignored: the previous valid state simply ages. A robot
reports a fault (the decision's ROBOT_STATE_INVALID) when it has two senders (above), when
its last ``max_consecutive_rejections`` messages were all rejected, when its newest state's velocity
is unknown (first state without velocities: nothing to difference yet), or when its
receiver failed.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path

import numpy as np

from safetymon.config.robots import RobotConfig
from safetymon.robot.geometry import FloorCapsules, RobotModel, difference_velocity
from safetymon.robot.messages import MessageError, RobotStateMessage, parse_message
from safetymon.safety.inputs import RobotSnapshot

_log = logging.getLogger(__name__)

RETIRED_SESSIONS_KEPT = 16
"""How many replaced sessions per robot are remembered (and refused)."""

MIN_SESSION_S = 1.0
"""A new session is refused until the current one has lasted this long (arrival clock,
seconds): a sender that changes its session at every message would otherwise turn the order
checks off. Its states then arrive once a second at most, so the robot goes stale (STOP)."""

SECOND_SENDER_HOLD_S = 2.0
"""After the last sign of a second sender the robot's state stays a fault this long (s)."""
SECOND_SENDER_OUT_OF_ORDER = 3
"""This many out-of-order messages within ``SECOND_SENDER_WINDOW_S`` are a second sender."""
SECOND_SENDER_WINDOW_S = 1.0
SILENT_SESSION_S = 1.0
"""A current session silent this long (s) gives way to a replaced one that still sends."""


class Rejection(str, Enum):
    """Why a state message was rejected (the counter keys)."""

    MALFORMED = "malformed"  # not UTF-8 JSON, not an object, too large, bad framing
    SCHEMA = "schema"  # a field missing, of the wrong type or out of range
    NON_FINITE = "non_finite"  # NaN, Infinity or an overflowing number anywhere
    UNKNOWN_ROBOT = "unknown_robot"  # robot_id not configured (or not served by the source)
    OUT_OF_ORDER = "out_of_order"  # sequence or capture time not increasing
    TOO_OLD = "too_old"  # shared_monotonic: older than max_state_age_s on arrival
    FROM_FUTURE = "from_future"  # shared_monotonic: capture time ahead of arrival
    GEOMETRY = "geometry"  # does not fit the configured geometry (joint count, limits, ...)
    UNAUTHENTICATED = "unauthenticated"  # an authenticated input: no valid HMAC tag, CURVE
    JOINT_NAMES = "joint_names"  # ros2: joint names do not match the configured joints


@dataclass(frozen=True)
class SubmitResult:
    """Outcome of one ``submit``: accepted, or the rejection kind with a detail."""

    accepted: bool
    robot_id: str | None
    rejection: Rejection | None = None
    detail: str = ""


@dataclass
class _RobotState:
    """Mutable per-robot bookkeeping, guarded by the store's lock."""

    config: RobotConfig
    model: RobotModel
    session: str | None = None
    session_began_s: float = -math.inf  # arrival of the current session's first message
    retired_sessions: deque[str | None] = field(
        default_factory=lambda: deque(maxlen=RETIRED_SESSIONS_KEPT)
    )
    restarts: int = 0
    sequence: int = -1
    capture_s: float = -math.inf
    state_time_s: float = -math.inf  # arrival (receiver clock) or capture (shared clock)
    capsules: FloorCapsules | None = None
    velocity_fault: str | None = None
    consecutive_rejections: int = 0
    last_rejection: str = ""
    source_fault: str | None = None
    last_accepted_s: float = -math.inf  # arrival of the newest accepted message
    second_sender_s: float = -math.inf  # arrival of the newest sign of a second sender
    second_sender: str = ""
    out_of_order_s: deque[float] = field(
        default_factory=lambda: deque(maxlen=SECOND_SENDER_OUT_OF_ORDER)
    )
    unauthenticated_s: deque[float] = field(
        default_factory=lambda: deque(maxlen=SECOND_SENDER_OUT_OF_ORDER)
    )
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    compute_lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class StoreCounters:
    """Counts since start: accepted messages, rejected ones by kind (all and per robot), and
    sender restarts (a new ``session``) per robot."""

    accepted: int
    rejected: dict[str, int]
    per_robot: dict[str, dict[str, int]]
    restarts: dict[str, int] = field(default_factory=dict)

    @property
    def rejected_total(self) -> int:
        """All rejected messages."""
        return sum(self.rejected.values())


class RobotStateStore:
    """Newest valid state per configured robot; ``submit`` and ``snapshot`` are thread-safe.

    Args:
        robots: the site's robots.
        base_dir: folder for relative URDF paths (the site file's folder).

    Raises:
        ValueError: a robot's configured kinematics cannot be built (refuse to start).
    """

    def __init__(self, robots: Sequence[RobotConfig], base_dir: Path | str = ".") -> None:
        """Build each robot's geometry model."""
        self._lock = threading.Lock()
        self._robots: dict[str, _RobotState] = {}
        for index, robot in enumerate(robots):
            try:
                model = RobotModel(robot, base_dir)
            except ValueError as error:
                raise ValueError(f"robots[{index}] ({robot.id}): {error}") from None
            self._robots[robot.id] = _RobotState(robot, model)
        self._rejected: Counter[str] = Counter()
        self._accepted = 0

    @property
    def robot_ids(self) -> tuple[str, ...]:
        """The configured robot ids."""
        return tuple(self._robots)

    def robot_config(self, robot_id: str) -> RobotConfig:
        """The robot's configuration.

        Raises:
            KeyError: ``robot_id`` is not configured.
        """
        return self._robots[robot_id].config

    def joint_names(self, robot_id: str) -> tuple[str, ...] | None:
        """The robot's joint names in message order (URDF names; DH "1".."n"), or None for
        capsules geometry.

        Raises:
            KeyError: ``robot_id`` is not configured.
        """
        chain = self._robots[robot_id].model.chain
        return None if chain is None else tuple(getattr(chain, "names", ()))

    def submit(
        self, raw: bytes | str, arrival_s: float, source_robots: Iterable[str] | None = None
    ) -> SubmitResult:
        """Check one wire message that arrived at monotonic ``arrival_s`` and keep it if valid.

        ``source_robots``: the robots the calling receiver serves; a message naming another
        robot is ``unknown_robot``, and with exactly one robot an unparseable message counts
        against that robot's consecutive rejections.
        """
        served = None if source_robots is None else tuple(source_robots)
        try:
            message = parse_message(raw)
        except MessageError as error:
            return self.reject(served, Rejection(error.kind), error.detail)
        except Exception as error:  # no message may escape as an exception: it is malformed
            detail = f"could not be parsed: {type(error).__name__}: {str(error)[:200]}"
            return self.reject(served, Rejection.MALFORMED, detail)
        robot_id = message.robot_id
        with self._lock:
            state = self._robots.get(robot_id)
            if state is None or (served is not None and robot_id not in served):
                return self._reject_locked(
                    None, Rejection.UNKNOWN_ROBOT, f"robot_id: {robot_id!r} is not served here"
                )
            problem = self._arrival_problem(state, message, arrival_s)
            if problem is not None:
                if problem[0] is Rejection.OUT_OF_ORDER:
                    self._note_out_of_order(state, message, arrival_s, problem[1])
                return self._reject_locked(robot_id, *problem)
        with state.compute_lock:  # FK outside the store lock: snapshot() never waits on it
            try:
                capsules = state.model.capsules(message)
            except MessageError as error:
                return self._reject(robot_id, Rejection.GEOMETRY, error.detail)
            except Exception as error:  # a kinematics failure is this message's rejection
                detail = f"kinematics failed: {type(error).__name__}: {error}"
                return self._reject(robot_id, Rejection.GEOMETRY, detail)
        with self._lock:
            problem = self._arrival_problem(state, message, arrival_s)  # a newer one came in
            if problem is not None:
                return self._reject_locked(robot_id, *problem)
            self._accept_locked(state, message, capsules, arrival_s)
            shared = state.config.state_input.clock != "receiver"
            state.state_time_s = message.capture_time_s if shared else arrival_s
            return SubmitResult(True, robot_id)

    @classmethod
    def _arrival_problem(
        cls, state: _RobotState, message: RobotStateMessage, arrival_s: float
    ) -> tuple[Rejection, str] | None:
        """Session and ordering, and with a shared clock the age on arrival; None when fine."""
        if cls._restarts(state, message):  # a new session orders afresh; a replaced one never
            if message.session in state.retired_sessions and not cls._silent(state, arrival_s):
                return Rejection.OUT_OF_ORDER, (
                    f"session: {message.session!r} was replaced by {state.session!r}"
                )
            lasted = arrival_s - state.session_began_s
            if lasted < MIN_SESSION_S:
                return Rejection.OUT_OF_ORDER, (
                    f"session: {message.session!r} would replace {state.session!r} only "
                    f"{lasted * 1000:.0f} ms after it began (minimum {MIN_SESSION_S:g} s): "
                    "a sender keeps one session for its whole run"
                )
        elif (order := cls._order_problem(state, message.sequence, message.capture_time_s)):
            return Rejection.OUT_OF_ORDER, order
        state_input = state.config.state_input
        if state_input.clock == "receiver":
            return None
        lag = arrival_s - message.capture_time_s
        limit = state.config.max_state_age_s
        if lag > limit:
            return Rejection.TOO_OLD, (
                f"capture_time_s: {message.capture_time_s} is {lag * 1000:.0f} ms old on "
                f"arrival (limit {limit * 1000:.0f} ms)"
            )
        if -lag > state_input.future_tolerance_s:
            return Rejection.FROM_FUTURE, (
                f"capture_time_s: {message.capture_time_s} is {-lag * 1000:.1f} ms ahead of "
                "this host's monotonic clock"
            )
        return None

    @staticmethod
    def _silent(state: _RobotState, arrival_s: float) -> bool:
        """Whether the current session has sent nothing accepted for ``SILENT_SESSION_S``."""
        return arrival_s - state.last_accepted_s >= SILENT_SESSION_S

    def _note_out_of_order(
        self, state: _RobotState, message: RobotStateMessage, arrival_s: float, detail: str
    ) -> None:
        """Record an out-of-order message; mark a second sender when it is one's sign."""
        if self._restarts(state, message):  # another session alive beside the current one
            self._second_sender_locked(state, arrival_s, detail)
            return
        state.out_of_order_s.append(arrival_s)
        recent = [t for t in state.out_of_order_s if arrival_s - t <= SECOND_SENDER_WINDOW_S]
        if len(recent) >= SECOND_SENDER_OUT_OF_ORDER:
            self._second_sender_locked(
                state, arrival_s,
                f"{len(recent)} out-of-order messages within {SECOND_SENDER_WINDOW_S:g} s "
                f"(newest: {detail})",
            )  # fmt: skip

    @staticmethod
    def _second_sender_locked(state: _RobotState, arrival_s: float, detail: str) -> None:
        if arrival_s - state.second_sender_s > SECOND_SENDER_HOLD_S:  # log each episode once
            _log.warning("robot %s: two senders (STOP): %s", state.config.id, detail)
        state.second_sender_s = arrival_s
        state.second_sender = f"two senders for one robot: {detail}"

    @staticmethod
    def _restarts(state: _RobotState, message: RobotStateMessage) -> bool:
        """Whether ``message`` comes from another sender session than the accepted state."""
        return state.accepted > 0 and message.session != state.session

    @staticmethod
    def _order_problem(state: _RobotState, sequence: int, capture_s: float) -> str | None:
        if sequence <= state.sequence:
            return f"sequence: {sequence} not above the last accepted {state.sequence}"
        if capture_s <= state.capture_s:
            return f"capture_time_s: {capture_s} not after the last accepted {state.capture_s}"
        return None

    def _accept_locked(
        self,
        state: _RobotState,
        message: RobotStateMessage,
        capsules: FloorCapsules,
        arrival_s: float,
    ) -> None:
        """Store a valid state; velocity from the message or by differencing the last one."""
        sequence, capture_s = message.sequence, message.capture_time_s
        previous, previous_capture = state.capsules, state.capture_s
        restarted = self._restarts(state, message)
        if restarted:
            _log.warning(
                "robot %s: sender restarted (session %r replaces %r, sequence %d)",
                state.config.id, message.session, state.session, sequence,
            )  # fmt: skip
            if message.session in state.retired_sessions:  # taken back: the other fell silent
                state.retired_sessions.remove(message.session)
            state.retired_sessions.append(state.session)
            state.restarts += 1
            previous = None  # two runs of the sender: nothing to difference
        if restarted or state.accepted == 0:
            state.session, state.session_began_s = message.session, arrival_s
        state.velocity_fault = None
        if capsules.vel_a is None:
            dt = capture_s - previous_capture
            usable = (
                previous is not None
                and previous.a.shape == capsules.a.shape
                and 0.0 < dt <= state.config.max_state_age_s
            )
            if usable:
                assert previous is not None
                vel_a, vel_b = difference_velocity(previous, capsules, dt)
                base_velocity = capsules.base_velocity
                if base_velocity is None:
                    base_velocity = (capsules.base_xy - previous.base_xy) / dt
                capsules = replace(capsules, vel_a=vel_a, vel_b=vel_b, base_velocity=base_velocity)
            else:
                state.velocity_fault = (
                    "velocity unknown: the message gives none and no previous state within "
                    f"{state.config.max_state_age_s * 1000:.0f} ms to difference"
                )
        state.sequence, state.capture_s, state.capsules = sequence, capture_s, capsules
        state.consecutive_rejections = 0
        state.last_accepted_s = arrival_s
        state.accepted += 1
        self._accepted += 1

    def _reject(self, robot_id: str, kind: Rejection, detail: str) -> SubmitResult:
        with self._lock:
            return self._reject_locked(robot_id, kind, detail)

    def reject(
        self, source_robots: Sequence[str] | None, kind: Rejection, detail: str
    ) -> SubmitResult:
        """Count a message rejected before it named a robot (bad JSON, bad framing).

        With exactly one robot in ``source_robots`` it counts against that robot's
        consecutive rejections (the source serves only it).
        """
        owner = source_robots[0] if source_robots is not None and len(source_robots) == 1 else None
        with self._lock:
            return self._reject_locked(owner, kind, detail)

    def reject_unauthenticated(
        self, source_robots: Sequence[str], detail: str, arrival_s: float
    ) -> SubmitResult:
        """Count a message refused by an authenticated input (bad or missing HMAC tag).

        Counted like ``reject``; and since its robot cannot be known, every robot the source
        serves notes it as a second sender's sign: ``SECOND_SENDER_OUT_OF_ORDER`` of them
        within ``SECOND_SENDER_WINDOW_S`` (someone else is writing on the link, or the link
        corrupts messages) make those robots' states a fault, even while the real sender's
        messages are still accepted.
        """
        result = self.reject(source_robots, Rejection.UNAUTHENTICATED, detail)
        with self._lock:
            for robot_id in source_robots:
                state = self._robots.get(robot_id)
                if state is None:
                    continue
                state.unauthenticated_s.append(arrival_s)
                recent = [
                    t for t in state.unauthenticated_s if arrival_s - t <= SECOND_SENDER_WINDOW_S
                ]
                if len(recent) >= SECOND_SENDER_OUT_OF_ORDER:
                    self._second_sender_locked(
                        state, arrival_s,
                        f"{len(recent)} unauthenticated messages within "
                        f"{SECOND_SENDER_WINDOW_S:g} s (newest: {detail})",
                    )  # fmt: skip
        return result

    def _reject_locked(self, robot_id: str | None, kind: Rejection, detail: str) -> SubmitResult:
        self._rejected[kind.value] += 1
        state = self._robots.get(robot_id) if robot_id is not None else None
        if state is not None:
            state.rejected[kind.value] += 1
            state.consecutive_rejections += 1
            state.last_rejection = f"{kind.value}: {detail}"
        return SubmitResult(False, robot_id, kind, detail)

    def set_source_fault(self, robot_ids: Iterable[str], detail: str | None) -> None:
        """Mark (or with None clear) a receiver failure for these robots: a fault while set."""
        with self._lock:
            for robot_id in robot_ids:
                if robot_id in self._robots:
                    self._robots[robot_id].source_fault = detail

    def snapshot(self, robot_id: str, now_s: float) -> RobotSnapshot:
        """The robot's newest valid state as seen at monotonic ``now_s``.

        Age = ``now_s`` − state time (arrival or capture, see the module doc), clamped at 0
        for a shared clock's tolerated future stamps; infinite before the first state.

        Raises:
            KeyError: ``robot_id`` is not configured.
        """
        with self._lock:
            state = self._robots[robot_id]
            capsules = state.capsules
            limit = state.config.state_input.max_consecutive_rejections
            fault = state.source_fault
            if fault is None and now_s - state.second_sender_s <= SECOND_SENDER_HOLD_S:
                fault = state.second_sender
            if fault is None and state.consecutive_rejections >= limit:
                fault = (
                    f"last {state.consecutive_rejections} state messages rejected "
                    f"(newest: {state.last_rejection})"
                )
            if fault is None and capsules is not None:
                fault = state.velocity_fault
            age = max(0.0, now_s - state.state_time_s)
        if capsules is None:
            empty = np.zeros((0, 3))
            return RobotSnapshot(robot_id, math.inf, empty, empty, np.zeros(0), empty, empty, fault)
        zeros = np.zeros_like(capsules.a)
        return RobotSnapshot(
            robot_id,
            age,
            capsules.a,
            capsules.b,
            capsules.radius_m,
            zeros if capsules.vel_a is None else capsules.vel_a,
            zeros if capsules.vel_b is None else capsules.vel_b,
            fault,
            base_xy=capsules.base_xy,
            base_velocity=capsules.base_velocity,
        )

    def snapshots(self, now_s: float) -> tuple[RobotSnapshot, ...]:
        """``snapshot`` of every configured robot (the decision's ``CycleInput.robots``)."""
        return tuple(self.snapshot(robot_id, now_s) for robot_id in self._robots)

    def counters(self) -> StoreCounters:
        """A consistent copy of the counters."""
        with self._lock:
            per_robot = {
                robot_id: {"accepted": s.accepted, **dict(s.rejected)}
                for robot_id, s in self._robots.items()
            }
            restarts = {robot_id: s.restarts for robot_id, s in self._robots.items()}
            return StoreCounters(self._accepted, dict(self._rejected), per_robot, restarts)
