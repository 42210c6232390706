"""`safetymon subscribe`, `safetymon publish`, `safetymon keys generate`: signal tools.

Only imports the light signal modules (pyzmq, pydantic; ``cyclonedds`` with ``--dds``), so
they run on a controller PC. ``--dds [DOMAIN]`` uses the ROS 2 (DDS) topics of
``outputs.dds`` instead of a ZeroMQ endpoint (docs/ROS2.md).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from safetymon.config.outputs import DdsOutputConfig, ZmqOutputConfig
from safetymon.signals.frame import SafetyState
from safetymon.signals.reasons import Reason

if TYPE_CHECKING:
    from safetymon.signals.client import SafetyClient
    from safetymon.signals.dds_client import DdsSafetyClient


class _InputError(ValueError):
    """A command line value is unusable; the message names the option and the value."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `subscribe`, `publish` and `keys` commands."""
    sub = subparsers.add_parser(
        "subscribe",
        help="watch a safety publisher as a controller would (state changes, rates, errors)",
    )
    sub.add_argument(
        "endpoint", nargs="?", metavar="ENDPOINT", help="tcp://HOST:PORT or ipc://PATH (or --dds)"
    )
    _add_dds_options(sub, "read the frames from the ROS 2 (DDS) topic on DOMAIN (default 0)")
    sub.add_argument("--connection-id", type=int, default=1, metavar="N", help="default 1")
    sub.add_argument("--watchdog-ms", type=float, default=100.0, metavar="MS", help="default 100")
    sub.add_argument("--json", action="store_true", help="print JSON lines")
    sub.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    sub.add_argument("--curve-server-key", metavar="FILE", help="publisher's public key file")
    sub.add_argument(
        "--same-clock", action="store_true", help="publisher on this host: exact frame ages"
    )
    sub.set_defaults(func=run_subscribe)

    pub = subparsers.add_parser(
        "publish",
        help="commissioning tool: publish a fixed state at the heartbeat rate (STOP on exit)",
    )
    pub.add_argument("endpoint", nargs="?", metavar="ENDPOINT", help="endpoint to bind (or --dds)")
    _add_dds_options(pub, "publish on the ROS 2 (DDS) topics on DOMAIN (default 0)")
    pub.add_argument(
        "--state", required=True, type=str.upper, choices=[s.name for s in SafetyState]
    )
    pub.add_argument(
        "--speed-scale", type=float, metavar="X", help="0..1 (default RUN 1.0, SLOW 0.5)"
    )
    pub.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    pub.add_argument("--connection-id", type=int, default=1, metavar="N", help="default 1")
    pub.add_argument("--rate", type=float, default=50.0, metavar="HZ", help="default 50")
    pub.add_argument("--curve-secret-key", metavar="FILE", help="publisher's .key_secret file")
    pub.set_defaults(func=run_publish)

    keys = subparsers.add_parser(
        "keys", help="CURVE key pairs (safety channel, robot-state input) and HMAC keys"
    )
    key_commands = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    gen = key_commands.add_parser(
        "generate", help="write NAME.key and NAME.key_secret (or NAME.hmac with --hmac)"
    )
    gen.add_argument("--out", required=True, metavar="DIR", help="output directory")
    gen.add_argument("--name", help="file name stem (default safetymon; robot-state with --hmac)")
    gen.add_argument(
        "--hmac",
        action="store_true",
        help="a shared HMAC-SHA256 key for a serial robot-state input (hw/ROBOT_STATE.md)",
    )
    gen.add_argument(
        "--force",
        action="store_true",
        help="replace an existing key (every other end then needs the new key)",
    )
    gen.set_defaults(func=run_keys_generate)


def _add_dds_options(parser: argparse.ArgumentParser, dds_help: str) -> None:
    parser.add_argument("--dds", nargs="?", const=0, type=int, metavar="DOMAIN", help=dds_help)
    parser.add_argument(
        "--dds-topic",
        default=DdsOutputConfig().frame_topic,
        metavar="TOPIC",
        help="ROS 2 topic of the frames (default %(default)s)",
    )
    parser.add_argument(
        "--dds-network",
        action="store_true",
        help="join the DDS domain on the network (default: loopback only); unauthenticated",
    )


# -- validation ------------------------------------------------------------------------------
def _positive(option: str, value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise _InputError(f"{option} must be a finite number > 0, got {value}")
    return value


def _connection_id(value: int) -> int:
    if not 0 <= value <= 0xFFFFFFFF:
        raise _InputError(f"--connection-id must be 0..4294967295, got {value}")
    return value


def _endpoint(value: str) -> str:
    try:
        return ZmqOutputConfig(endpoint=value).endpoint
    except ValidationError:
        raise _InputError(
            f"ENDPOINT must be tcp://HOST:PORT or ipc://PATH, got {value!r}"
        ) from None


def _dds_config(args: argparse.Namespace, **extra: Any) -> DdsOutputConfig | None:
    """``outputs.dds`` settings from ``--dds``, ``--dds-topic``, ``--dds-network`` (None
    without ``--dds``); exactly one of ENDPOINT and ``--dds`` must be given."""
    if args.dds is None:
        if args.endpoint is None:
            raise _InputError("give ENDPOINT or --dds [DOMAIN]")
        return None
    if args.endpoint is not None:
        raise _InputError(f"give ENDPOINT or --dds, not both (ENDPOINT {args.endpoint!r})")
    if not 0 <= args.dds <= 232:
        raise _InputError(f"--dds DOMAIN must be 0..232, got {args.dds}")
    try:
        return DdsOutputConfig(
            domain_id=args.dds,
            loopback_only=not args.dds_network,
            frame_topic=args.dds_topic,
            **extra,
        )
    except ValidationError:
        raise _InputError(
            f"--dds-topic must be a ROS 2 topic name like /safetymon/safety_frame, got "
            f"{args.dds_topic!r}"
        ) from None


def _fail(command: str, exc: Exception, code: int) -> int:
    print(f"safetymon {command}: {exc}", file=sys.stderr)
    return code


def _stop_event() -> threading.Event:
    """An event set by SIGINT or SIGTERM (so both end in the same clean STOP path)."""
    event = threading.Event()

    def handler(signum: int, frame: object) -> None:
        event.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return event


# -- subscribe -------------------------------------------------------------------------------
def run_subscribe(args: argparse.Namespace) -> int:
    """Print state changes, and once a second the rate and error counters."""
    from safetymon.signals.client import PermittedState, SafetyClient
    from safetymon.signals.keys import KeyFileError, load_public_key

    try:
        dds = _dds_config(args)
        endpoint = _endpoint(args.endpoint) if dds is None else ""
        conn = _connection_id(args.connection_id)
        watchdog_ms = _positive("--watchdog-ms", args.watchdog_ms)
        duration = _positive("--duration", args.duration)
        if dds is not None and args.curve_server_key:
            raise _InputError("--curve-server-key is for ZeroMQ: DDS carries no CURVE")
        server_key = load_public_key(args.curve_server_key) if args.curve_server_key else None
    except (_InputError, KeyFileError) as exc:
        return _fail("subscribe", exc, 2)
    assert watchdog_ms is not None
    if dds is not None:
        print(
            "safetymon subscribe: warning: DDS is unauthenticated (no DDS-Security): the "
            "frame checks refuse a second publisher only while the monitor is alive; after it "
            "dies, any participant "
            + ("on this host" if dds.loopback_only else "that reaches the domain")
            + " can publish RUN with this connection id (docs/ROS2.md).",
            file=sys.stderr,
        )
    elif server_key is None:
        print(
            "safetymon subscribe: warning: CURVE is off (no --curve-server-key): frames are "
            "not authenticated. After the monitor dies, a process that binds its endpoint "
            "with this connection id can send RUN"
            + ("" if args.same_clock else ", and recorded frames can be replayed (--same-clock "
               "refuses them when publisher and controller share a host)")
            + " (hw/PROTOCOL.md, section 6).",
            file=sys.stderr,
        )  # fmt: skip
    changes: queue.Queue[PermittedState] = queue.Queue()
    client: SafetyClient | DdsSafetyClient
    if dds is not None:
        try:
            from safetymon.signals.dds_client import DdsSafetyClient
        except ImportError as exc:
            return _fail("subscribe", _InputError(f"--dds needs 'cyclonedds': {exc}"), 2)
        client = DdsSafetyClient(
            conn,
            domain_id=dds.domain_id,
            loopback_only=dds.loopback_only,
            frame_topic=dds.frame_topic,
            watchdog_s=watchdog_ms / 1000,
            same_clock=args.same_clock,
            on_change=changes.put,
        )
    else:
        client = SafetyClient(
            endpoint,
            conn,
            watchdog_s=watchdog_ms / 1000,
            same_clock=args.same_clock,
            curve_server_key=server_key,
            on_change=changes.put,
        )
    stop = _stop_event()
    start = time.monotonic()
    end = math.inf if duration is None else start + duration
    try:
        client.start()
    except (ValueError, OSError) as exc:
        return _fail("subscribe", exc, 1)
    _emit(args.json, _change_record(client.status, start))
    next_stats = start + 1.0
    try:
        while not stop.is_set() and time.monotonic() < end:
            timeout = max(0.0, min(next_stats, end) - time.monotonic())
            with contextlib.suppress(queue.Empty):
                _emit(args.json, _change_record(changes.get(timeout=min(timeout, 0.1)), start))
            if time.monotonic() >= next_stats:
                _emit(args.json, _stats_record(client, start))
                next_stats += 1.0
    finally:
        client.close()
    _emit(args.json, _stats_record(client, start))
    return 0


def _change_record(s: Any, start: float) -> dict[str, Any]:
    return {
        "event": "change",
        "t_s": round(time.monotonic() - start, 4),
        "state": s.state.name,
        "speed_scale": round(s.speed_scale, 5),
        "reasons": s.reasons,
        "reason_names": Reason(s.reasons).names,
        "cause": s.cause,
        "sequence": s.sequence,
    }


def _stats_record(client: Any, start: float) -> dict[str, Any]:
    return {
        "event": "stats",
        "t_s": round(time.monotonic() - start, 4),
        "state": client.state.name,
        "rate_hz": round(client.message_rate_hz, 2),
        "received": client.received,
        "accepted": client.accepted,
        "errors": client.counters,
        "two_publishers": client.two_publishers,
        "last_error": client.last_error,
    }


def _emit(as_json: bool, record: dict[str, Any]) -> None:
    if as_json:
        print(json.dumps(record), flush=True)
    elif record["event"] == "change":
        names = ",".join(record["reason_names"]) or "-"
        print(
            f"{record['t_s']:9.3f}s  {record['state']:<4} speed={record['speed_scale']:.3f} "
            f"reasons={names} ({record['cause']})",
            flush=True,
        )
    else:
        errors = " ".join(f"{k}={v}" for k, v in record["errors"].items() if v) or "none"
        print(
            f"{record['t_s']:9.3f}s  stats: {record['rate_hz']:.1f} Hz, "
            f"{record['accepted']}/{record['received']} accepted, errors: {errors}",
            flush=True,
        )


# -- publish ---------------------------------------------------------------------------------
def run_publish(args: argparse.Namespace) -> int:
    """Publish one state at the heartbeat rate until the duration ends or a signal arrives."""
    from safetymon.signals.keys import KeyFileError

    state = SafetyState[args.state]
    try:
        default_scale = {SafetyState.STOP: 0.0, SafetyState.SLOW: 0.5, SafetyState.RUN: 1.0}
        scale = default_scale[state] if args.speed_scale is None else args.speed_scale
        if not (math.isfinite(scale) and 0.0 <= scale <= 1.0):
            raise _InputError(f"--speed-scale must be in 0..1, got {args.speed_scale}")
        if state is SafetyState.STOP and scale != 0.0:
            raise _InputError(f"--speed-scale must be 0 with --state STOP, got {scale}")
        rate = _positive("--rate", args.rate)
        assert rate is not None
        if rate > 1000:
            raise _InputError(f"--rate must be at most 1000 Hz, got {rate}")
        duration = _positive("--duration", args.duration)
        conn = _connection_id(args.connection_id)
        dds = _dds_config(args, connection_id=conn, heartbeat_hz=rate)
        if dds is not None and args.curve_secret_key:
            raise _InputError("--curve-secret-key is for ZeroMQ: DDS carries no CURVE")
        config = None
        if dds is None:
            config = ZmqOutputConfig(
                endpoint=_endpoint(args.endpoint),
                connection_id=conn,
                heartbeat_hz=rate,
                curve_secret_key_file=args.curve_secret_key,
            )
    except _InputError as exc:
        return _fail("publish", exc, 2)
    stop = _stop_event()
    try:
        pub = _open_publisher(config, dds)
    except ImportError as exc:
        return _fail("publish", _InputError(f"--dds needs 'cyclonedds': {exc}"), 2)
    except KeyFileError as exc:
        return _fail("publish", exc, 2)
    except OSError as exc:
        return _fail("publish", exc, 1)
    reasons = int(Reason.OPERATOR_STOP) if state is SafetyState.STOP else 0
    try:
        pub.set(state, scale, reasons)
        print(
            f"publishing {state.name} speed_scale={scale:.3f} on {pub.endpoint} "
            f"(connection {conn}, {rate:g} Hz); Ctrl-C sends STOP and exits",
            flush=True,
        )
        deadline = None if duration is None else time.monotonic() + duration
        while not stop.wait(1.0 / rate):  # re-decide every period: the state stays fresh
            if deadline is not None and time.monotonic() >= deadline:
                break
            pub.set(state, scale, reasons)
    finally:
        pub.close()
    print(f"sent STOP ({pub.sent()} frames in total)", flush=True)
    return 0


class _Publisher:
    """The ZeroMQ publisher or the DDS output behind one interface: set, sent, close."""

    def __init__(self, output: Any, endpoint: str, *, dds: bool) -> None:
        self._output = output
        self.endpoint = endpoint
        self._dds = dds

    def set(self, state: SafetyState, scale: float, reasons: int) -> None:
        if self._dds:
            self._output.set_state(state, speed_scale=scale, reasons=reasons)
        else:
            self._output.publish(state, scale, reasons)

    def sent(self) -> int:
        return int(self._output.frames_sent if self._dds else self._output.sent)

    def close(self) -> None:
        self._output.close()


def _open_publisher(config: ZmqOutputConfig | None, dds: DdsOutputConfig | None) -> _Publisher:
    """Open the ZeroMQ publisher (``config``) or the DDS output (``dds``); raises KeyFileError,
    ImportError (no ``cyclonedds``) or OSError."""
    if dds is not None:
        from safetymon.signals.dds_output import DdsOutput

        if not dds.loopback_only:
            print(
                "safetymon publish: warning: publishing on the network without "
                "authentication (DDS, docs/ROS2.md)",
                file=sys.stderr,
            )
        output = DdsOutput(dds)
        output.start()
        return _Publisher(output, output.endpoint, dds=True)
    from safetymon.signals.zmq_publisher import ZmqPublisher

    assert config is not None
    zmq_publisher = ZmqPublisher(config)
    return _Publisher(zmq_publisher, zmq_publisher.endpoint, dds=False)


# -- keys ------------------------------------------------------------------------------------
def run_keys_generate(args: argparse.Namespace) -> int:
    """Write a CURVE key pair, or with ``--hmac`` a shared HMAC key."""
    from safetymon.signals.keys import (
        KeyFileError,
        KeyFileExistsError,
        generate_hmac_key,
        generate_keypair,
    )

    try:
        if args.hmac:
            name = args.name or "robot-state"
            shared = generate_hmac_key(Path(args.out), name, overwrite=args.force)
        else:
            public, secret = generate_keypair(
                Path(args.out), args.name or "safetymon", overwrite=args.force
            )
    except KeyFileExistsError as exc:
        return _fail("keys generate", _InputError(f"--out: {exc}"), 2)
    except KeyFileError as exc:
        return _fail("keys generate", _InputError(f"--name: {exc}"), 2)
    except OSError as exc:
        return _fail("keys generate", _InputError(f"--out {args.out!r}: {exc}"), 2)
    if args.hmac:
        print(f"shared HMAC key (copy to the other end of the link only): {shared}")
        return 0
    print(f"public key (give to the other end: controllers, or the monitor): {public}")
    print(f"secret key (keep on the CURVE server: the monitor, or the robot): {secret}")
    return 0
