"""Receiver threads feeding a ``RobotStateStore``: ZeroMQ SUB and newline-delimited serial.

Each receiver stamps every message with ``time.monotonic()`` on arrival and hands it to the
store. No message can end a receiver: one the store cannot handle is counted as malformed
and logged. A receiver that fails at run time (socket error, serial port gone) marks its
robots with a source fault in the store (a STOP cause), logs it and ends; opening failures
raise at start (refuse to start).

ZeroMQ wire form: two frames, ``[topic, JSON]`` (subscription on the topic frame). Serial wire
form: one JSON message per line, ``\\n``-terminated, UTF-8.

Authentication (hw/ROBOT_STATE.md): a ZeroMQ input given the controller's CURVE public key is
a CURVE client, so only a publisher holding the matching secret key can deliver states (a
failed handshake is counted ``unauthenticated`` and logged); a serial input given a shared
HMAC key takes only lines ``TAG SP JSON`` whose tag verifies (``robot.authentication``), and
refused lines are signs of a second sender in the store.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence

import serial
import zmq
from zmq.utils.monitor import recv_monitor_message

from safetymon.config.robots import (
    Ros2StateInputConfig,
    SerialStateInputConfig,
    ZmqStateInputConfig,
)
from safetymon.robot.authentication import UnauthenticatedError, verify_line
from safetymon.robot.messages import MAX_MESSAGE_BYTES
from safetymon.robot.store import Rejection, RobotStateStore

POLL_S = 0.05
BindCheck = Callable[[str], None]
"""Called with an endpoint before it is bound; raises OSError to refuse it (the monitor passes
``signals.endpoints.check_bindable``: no ipc path that is a file or a live socket)."""
HANDSHAKE_LOG_INTERVAL_S = 10.0
"""A failing CURVE handshake is logged at most this often (it repeats at every reconnect)."""
_HANDSHAKE_FAILURES = (
    zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
)
log = logging.getLogger(__name__)


class _ReceiverThread:
    """Common start/stop of a receiver thread."""

    name = "safetymon-robot-rx"

    def __init__(self, store: RobotStateStore, robot_ids: Sequence[str]) -> None:
        self.store = store
        self.robot_ids = tuple(robot_ids)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._guarded, name=self.name, daemon=True)
        self.error: str | None = None
        self._started = False

    def start(self) -> None:
        """Start the thread."""
        self._started = True
        self._thread.start()

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop the thread and release the port or socket."""
        self._stop.set()
        if not self._started:
            self._release()
        elif self._thread.is_alive():
            self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        """Whether the thread is running."""
        return self._thread.is_alive()

    def __enter__(self) -> _ReceiverThread:
        """Start on entering a ``with`` block."""
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Close on leaving it."""
        self.close()

    def _guarded(self) -> None:
        try:
            self._run()
        except Exception as error:  # any failure must surface as a fault, never vanish
            self.error = f"{type(error).__name__}: {error}"
            log.error("%s failed, robots %s stop: %s", self.name, self.robot_ids, self.error)
            self.store.set_source_fault(self.robot_ids, f"{self.name} failed: {self.error}")
        finally:
            self._release()

    def _deliver(self, raw: bytes, arrival_s: float) -> None:
        """Hand one message to the store; one it cannot handle is malformed, never fatal."""
        try:
            self.store.submit(raw, arrival_s, self.robot_ids)
        except Exception as error:  # one message must never end the receiver
            log.exception("%s: a %d-byte message could not be handled", self.name, len(raw))
            detail = f"could not be handled: {type(error).__name__}: {str(error)[:200]}"
            self.store.reject(self.robot_ids, Rejection.MALFORMED, detail)

    def _run(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError

    def reopened(self) -> _ReceiverThread:
        """A new, started receiver for the same input and robots (after this one died).

        The robots' source fault is cleared once it runs: their state stays stale (STOP)
        until the first new valid message.

        Raises:
            OSError: the input cannot be opened again (the fault stays).
        """
        fresh = self._reopen()
        fresh.start()
        self.store.set_source_fault(self.robot_ids, None)
        return fresh

    def _reopen(self) -> _ReceiverThread:
        raise NotImplementedError


class ZmqStateReceiver(_ReceiverThread):
    """Subscribe to robot state messages on a ZeroMQ endpoint.

    Args:
        store: where accepted states go.
        config: endpoint, connect or bind, topic.
        robot_ids: robots served by this endpoint (messages for others: ``unknown_robot``).
        context: ZeroMQ context (default: the process's shared instance).
        curve_server_key: the controller publisher's Z85 CURVE public key (40 bytes), or
            None: without it the input is unauthenticated.
        bind_check: with ``config.bind``, called with the endpoint before binding; raises
            OSError to refuse it (see ``BindCheck``).

    Raises:
        OSError: the endpoint cannot be bound or connected, or CURVE is asked of a libzmq
            without it.
    """

    name = "safetymon-robot-zmq"

    def __init__(
        self,
        store: RobotStateStore,
        config: ZmqStateInputConfig,
        robot_ids: Sequence[str],
        context: zmq.Context | None = None,
        curve_server_key: bytes | None = None,
        bind_check: BindCheck | None = None,
    ) -> None:
        """Open the SUB socket now so that a bad endpoint fails before the thread starts."""
        super().__init__(store, robot_ids)
        self.config = config
        self._curve_server_key = curve_server_key
        self._bind_check = bind_check
        if config.bind and bind_check is not None:
            try:
                bind_check(config.endpoint)
            except OSError as error:
                raise OSError(f"state_input.endpoint {config.endpoint!r}: {error}") from error
        self.authenticated = curve_server_key is not None
        if self.authenticated and not zmq.has("curve"):
            raise OSError("state_input.curve_server_key_file: this libzmq has no CURVE")
        self._sock = (context or zmq.Context.instance()).socket(zmq.SUB)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.RCVHWM, 1000)
        self._sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES + 1024)
        self._sock.setsockopt(zmq.SUBSCRIBE, config.topic.encode())
        self._monitor: zmq.Socket | None = None
        self._handshake_logged_s = -float("inf")
        if curve_server_key is not None:
            try:
                self._sock.curve_serverkey = curve_server_key
                self._sock.curve_publickey, self._sock.curve_secretkey = zmq.curve_keypair()
            except zmq.ZMQError as error:  # not a 40-character Z85 key
                self._sock.close(0)
                raise OSError(
                    f"state_input.curve_server_key_file: not a CURVE public key: {error}"
                ) from error
            self._monitor = self._sock.get_monitor_socket(_HANDSHAKE_FAILURES)
        try:
            if config.bind:
                self._sock.bind(config.endpoint)
            else:
                self._sock.connect(config.endpoint)
        except zmq.ZMQError as error:
            self._release()
            raise OSError(f"state_input.endpoint {config.endpoint!r}: {error}") from error
        self.endpoint: str = (
            self._sock.getsockopt_string(zmq.LAST_ENDPOINT) if config.bind else config.endpoint
        )

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        if self._monitor is not None:
            poller.register(self._monitor, zmq.POLLIN)
        topic = self.config.topic.encode()
        while not self._stop.is_set():
            events = dict(poller.poll(POLL_S * 1000))
            if self._monitor is not None and self._monitor in events:
                self._drain_handshake_failures(self._monitor)
            if self._sock not in events:
                continue
            while True:
                try:
                    frames = self._sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                arrival = time.monotonic()
                if len(frames) != 2 or frames[0] != topic:
                    self.store.reject(
                        self.robot_ids,
                        Rejection.MALFORMED,
                        f"expected 2 frames [topic, JSON], got {len(frames)}",
                    )
                    continue
                self._deliver(frames[1], arrival)

    def _reopen(self) -> ZmqStateReceiver:
        return ZmqStateReceiver(
            self.store, self.config, self.robot_ids, curve_server_key=self._curve_server_key,
            bind_check=self._bind_check,
        )  # fmt: skip

    def _drain_handshake_failures(self, monitor: zmq.Socket) -> None:
        """Count (and now and then log) each failed CURVE handshake: a wrong publisher."""
        while True:
            try:
                event = recv_monitor_message(monitor, zmq.NOBLOCK)
            except zmq.Again:
                return
            detail = (
                f"CURVE handshake with {event['endpoint'].decode(errors='replace')} failed "
                f"(event {event['event']}, code {event['value']}): the publisher there does "
                "not hold the controller's secret key"
            )
            self.store.reject(self.robot_ids, Rejection.UNAUTHENTICATED, detail)
            now = time.monotonic()
            if now - self._handshake_logged_s >= HANDSHAKE_LOG_INTERVAL_S:
                self._handshake_logged_s = now
                log.warning("robots %s: %s", self.robot_ids, detail)

    def _release(self) -> None:
        if self._monitor is not None:
            with contextlib.suppress(zmq.ZMQError):  # the socket may be closed already
                self._sock.disable_monitor()
            self._monitor.close(0)
            self._monitor = None
        self._sock.close(0)


class SerialStateReceiver(_ReceiverThread):
    """Read newline-delimited JSON robot states from a serial port (pyserial).

    Args:
        store: where accepted states go.
        config: port (name or pyserial URL) and baud rate.
        robot_ids: robots served by this port.
        hmac_key: the shared HMAC-SHA256 key, or None: with it only lines ``TAG SP JSON``
            whose tag verifies are taken (``robot.authentication``).

    Raises:
        OSError: the port cannot be opened.
    """

    name = "safetymon-robot-serial"

    def __init__(
        self,
        store: RobotStateStore,
        config: SerialStateInputConfig,
        robot_ids: Sequence[str],
        hmac_key: bytes | None = None,
    ) -> None:
        """Open the port now so that a missing port fails before the thread starts."""
        super().__init__(store, robot_ids)
        self.config = config
        self._hmac_key = hmac_key
        self.authenticated = hmac_key is not None
        try:
            self._port = serial.serial_for_url(
                config.port, baudrate=config.baudrate, timeout=POLL_S
            )
        except (serial.SerialException, ValueError) as error:
            raise OSError(f"state_input.port {config.port!r}: {error}") from error

    def _run(self) -> None:
        pending = bytearray()
        while not self._stop.is_set():
            chunk = self._port.read(max(1, self._port.in_waiting))
            arrival = time.monotonic()
            if not chunk:
                continue
            pending += chunk
            while (end := pending.find(b"\n")) >= 0:
                line = bytes(pending[:end]).rstrip(b"\r")
                del pending[: end + 1]
                if line:
                    self._take(line, arrival)
            if len(pending) > MAX_MESSAGE_BYTES:
                self.store.reject(
                    self.robot_ids,
                    Rejection.MALFORMED,
                    f"line longer than {MAX_MESSAGE_BYTES} bytes",
                )
                pending.clear()

    def _reopen(self) -> SerialStateReceiver:
        return SerialStateReceiver(self.store, self.config, self.robot_ids, self._hmac_key)

    def _take(self, line: bytes, arrival_s: float) -> None:
        """Deliver one line, first checking its HMAC tag when the input has a key."""
        if self._hmac_key is not None:
            try:
                line = verify_line(self._hmac_key, line)
            except UnauthenticatedError as error:
                self.store.reject_unauthenticated(self.robot_ids, error.detail, arrival_s)
                return
        self._deliver(line, arrival_s)

    def _release(self) -> None:
        self._port.close()


StateInput = ZmqStateInputConfig | SerialStateInputConfig | Ros2StateInputConfig


def start_receivers(
    store: RobotStateStore,
    configs: Sequence[tuple[str, StateInput]],
    keys: Mapping[str, bytes] | None = None,
    bind_check: BindCheck | None = None,
) -> list[_ReceiverThread]:
    """Open one receiver per distinct input (robots sharing an endpoint or port share one).

    ``keys`` maps each configured key file (``curve_server_key_file``, ``hmac_key_file``, as
    written in the site file) to its loaded key (``monitor.input_keys``). Robots sharing an
    input must name the same key file. ``bind_check`` guards every bound endpoint. A ``ros2``
    input serves one robot (``robot.ros2_input``; its package is imported only then).

    Raises:
        OSError: an input cannot be opened (receivers opened so far are closed again).
        ValueError: a configured key file has no loaded key, or robots sharing an input
            name different key files.
    """
    keys = keys or {}
    groups: dict[tuple[str, str, str], list[tuple[str, object]]] = {}
    ros2 = [(rid, c) for rid, c in configs if isinstance(c, Ros2StateInputConfig)]
    if ros2:
        from safetymon.robot.ros2_input import ros2_receiver_groups

        ros2_receiver_groups(ros2)
    for robot_id, config in configs:
        if isinstance(config, ZmqStateInputConfig):
            key = (config.endpoint, str(config.bind), config.topic)
        elif isinstance(config, SerialStateInputConfig):
            key = (config.kind, config.port, "")
        else:
            key = (config.kind, robot_id, "")
        groups.setdefault(key, []).append((robot_id, config))
    receivers: list[_ReceiverThread] = []
    try:
        for members in groups.values():
            ids = [robot_id for robot_id, _ in members]
            first = members[0][1]
            key_file = _shared_key_file(members)
            if key_file is not None and key_file not in keys:
                raise ValueError(f"robots {ids}: key file {key_file!r} was not loaded")
            key_bytes = None if key_file is None else keys[key_file]
            if isinstance(first, ZmqStateInputConfig):
                receivers.append(ZmqStateReceiver(
                    store, first, ids, curve_server_key=key_bytes, bind_check=bind_check
                ))  # fmt: skip
            elif isinstance(first, Ros2StateInputConfig):
                from safetymon.robot.ros2_input import Ros2StateReceiver

                receivers.append(Ros2StateReceiver(store, first, ids[0]))
            else:
                assert isinstance(first, SerialStateInputConfig)
                receivers.append(SerialStateReceiver(store, first, ids, hmac_key=key_bytes))
    except (OSError, ValueError):
        for receiver in receivers:
            receiver.close()
        raise
    for receiver in receivers:
        receiver.start()
    return receivers


def key_file_of(config: StateInput) -> str | None:
    """The input's configured key file (CURVE server key or HMAC key), or None (ros2)."""
    if isinstance(config, ZmqStateInputConfig):
        return config.curve_server_key_file
    if isinstance(config, SerialStateInputConfig):
        return config.hmac_key_file
    return None


def _shared_key_file(members: list[tuple[str, object]]) -> str | None:
    files = {key_file_of(config) for _, config in members}  # type: ignore[arg-type]
    if len(files) > 1:
        ids = [robot_id for robot_id, _ in members]
        raise ValueError(
            f"robots {ids} share one state input but name different key files: "
            f"{sorted(map(str, files))}"
        )
    return files.pop()
