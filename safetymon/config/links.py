"""Which configured links can be reached beyond this host, and which of those are open.

Pure checks on a validated site (no I/O): ``safetymon config check`` prints them as warnings.

- A ZeroMQ endpoint is *local* when it is ``ipc://`` or ``tcp://`` on a loopback address
  (``config.http.is_loopback_host``: ``127.0.0.0/8``, ``::1``, ``localhost``); anything
  else (``*``, ``0.0.0.0``, an interface address or a host name) can be reached from the
  network.
- A serial port is *local* when it is a device (``/dev/...``, ``COM3``): reaching it means
  reaching the cable. A pyserial URL that crosses a network (``socket://``, ``rfc2217://``)
  is not.

- A ROS 2 (DDS) input is *local* only with ``loopback_only: true``; otherwise Cyclone DDS
  joins the domain on the network (its own configuration is not read here).

- The DDS safety output (``outputs.dds``) is *local* only with ``loopback_only: true``.

Unauthenticated means: a robot-state input without ``curve_server_key_file`` (ZeroMQ) or
``hmac_key_file`` (serial), any ``ros2`` input or DDS output (DDS Security is not used), or a
ZeroMQ safety output without ``curve_secret_key_file``.
"""

from __future__ import annotations

from safetymon.config.http import is_loopback_host
from safetymon.config.robots import Ros2StateInputConfig, ZmqStateInputConfig
from safetymon.config.site import SiteConfig

NETWORK_SERIAL_SCHEMES = ("socket://", "rfc2217://")
"""pyserial URL schemes whose far end is across a network."""


def zmq_endpoint_is_local(endpoint: str) -> bool:
    """Whether a ZeroMQ endpoint can be reached only from this host (ipc or loopback tcp)."""
    if endpoint.startswith("ipc://"):
        return True
    if not endpoint.startswith("tcp://"):
        return False
    host = endpoint[len("tcp://") :].rpartition(":")[0]
    host = host.split(";")[-1]  # tcp://source;destination: the destination matters
    return is_loopback_host(host)  # "*", a host or interface name: not loopback


def serial_port_is_local(port: str) -> bool:
    """Whether a serial port is a local device (not a pyserial network URL)."""
    return not port.lower().startswith(NETWORK_SERIAL_SCHEMES)


def state_input_summary(config: SiteConfig, robot_index: int) -> str:
    """Where a robot's state arrives and how it is authenticated, in a few words."""
    state_input = config.robots[robot_index].state_input
    if isinstance(state_input, ZmqStateInputConfig):
        where = f"{state_input.endpoint} ({'bind' if state_input.bind else 'connect'})"
        auth = "CURVE" if state_input.curve_server_key_file else "unauthenticated"
        local = zmq_endpoint_is_local(state_input.endpoint)
    elif isinstance(state_input, Ros2StateInputConfig):
        base = state_input.base_topic or "none (fixed base_pose)"
        where = (
            f"ROS 2 DDS domain {state_input.domain_id} (joints {state_input.joint_topic}, "
            f"base {base})"
        )
        auth = "unauthenticated"
        local = state_input.loopback_only
    else:
        where = f"serial {state_input.port}"
        auth = "HMAC-SHA256" if state_input.hmac_key_file else "unauthenticated"
        local = serial_port_is_local(state_input.port)
    return f"state from {where}, {auth}, {'local' if local else 'reachable from the network'}"


def unauthenticated_link_warnings(config: SiteConfig) -> list[str]:
    """One line per link that is unauthenticated and reachable beyond this host."""
    warnings: list[str] = []
    for index, robot in enumerate(config.robots):
        state_input = robot.state_input
        field = f"robots[{index}].state_input"
        if isinstance(state_input, ZmqStateInputConfig):
            if state_input.curve_server_key_file is None and not zmq_endpoint_is_local(
                state_input.endpoint
            ):
                warnings.append(
                    f"{field}: robot {robot.id!r} takes its state from "
                    f"{state_input.endpoint} WITHOUT AUTHENTICATION: anyone on the network "
                    "who reaches it can forge states that lower the safety distance; set "
                    "curve_server_key_file (hw/ROBOT_STATE.md)"
                )
        elif isinstance(state_input, Ros2StateInputConfig):
            if not state_input.loopback_only:
                warnings.append(
                    f"{field}: robot {robot.id!r} takes its state from ROS 2 DDS domain "
                    f"{state_input.domain_id} WITHOUT AUTHENTICATION: anyone on the network "
                    "who joins the domain can publish joint states; set loopback_only when "
                    "the robot's nodes run on this host, else keep DDS on an isolated robot "
                    "network (docs/ROBOT.md)"
                )
        elif state_input.hmac_key_file is None and not serial_port_is_local(state_input.port):
            warnings.append(
                f"{field}: robot {robot.id!r} takes its state from {state_input.port} across "
                "a network WITHOUT AUTHENTICATION: anyone who reaches it can forge states; "
                "set hmac_key_file (hw/ROBOT_STATE.md)"
            )
    output = config.outputs.zmq
    if (
        output is not None
        and output.curve_secret_key_file is None
        and not zmq_endpoint_is_local(output.endpoint)
    ):
        warnings.append(
            f"outputs.zmq: the safety signal is published on {output.endpoint} WITHOUT CURVE: "
            "after the monitor dies, a process that binds this endpoint can send RUN to the "
            "controllers; set curve_secret_key_file (docs/MONITOR.md)"
        )
    dds = config.outputs.dds
    if dds is not None and not dds.loopback_only:
        warnings.append(
            f"outputs.dds: the safety signal is published on ROS 2 DDS domain {dds.domain_id} "
            f"({dds.frame_topic}) WITHOUT AUTHENTICATION beyond this host: anyone on the "
            "network who joins the domain can read the connection id and, after the monitor "
            "dies, publish RUN frames on the topic (the frame checks refuse them only while "
            "the monitor is alive); set loopback_only when the controller's nodes run on "
            "this host, else keep DDS on an isolated robot network (docs/ROS2.md)"
        )
    return warnings


def dds_output_summary(config: SiteConfig) -> str | None:
    """Where the DDS safety output publishes, in a few words (None when there is none)."""
    dds = config.outputs.dds
    if dds is None:
        return None
    status = (
        "no status topic"
        if dds.status_topic is None
        else f"status on {dds.status_topic} (diagnostic_msgs/DiagnosticStatus)"
    )
    where = "loopback only" if dds.loopback_only else "reachable from the network"
    return (
        f"dds: ROS 2 domain {dds.domain_id}, frames on {dds.frame_topic} "
        f"(std_msgs/UInt8MultiArray), {status}, connection {dds.connection_id}, "
        f"{dds.heartbeat_hz:g} Hz, unauthenticated, {where}"
    )
