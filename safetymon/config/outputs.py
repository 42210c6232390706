"""Configuration of the signal outputs (`outputs:` in a site file)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from safetymon.config.base import StrictModel


class ZmqOutputConfig(StrictModel):
    """ZeroMQ PUB output of the safety frames."""

    endpoint: str = Field(
        "tcp://127.0.0.1:5560",
        title="Endpoint",
        description="ZeroMQ endpoint to bind, tcp://HOST:PORT or ipc://PATH.",
        pattern=r"^(tcp://[^\s]+:[0-9]+|ipc://[^\s]+)$",
    )
    connection_id: int = Field(
        1, ge=0, le=0xFFFFFFFF, description="Connection id shared with the controller."
    )
    heartbeat_hz: float = Field(50.0, gt=0, le=1000, description="Heartbeat rate in hertz.")
    curve_secret_key_file: str | None = Field(
        None,
        title="CURVE secret key file",
        description=(
            "Publisher's `.key_secret` file (from `safetymon keys generate`): enables CURVE "
            "encryption; controllers authenticate the publisher with the matching `.key` file."
        ),
    )
    state_timeout_s: float = Field(
        0.5,
        gt=0,
        description=(
            "If the monitor has not set a state for this long (seconds; a hung decision loop), "
            "the heartbeat sends STOP with LOOP_OVERRUN instead of repeating the last state."
        ),
    )
    stop_repeats: int = Field(
        3, ge=1, le=100, description="STOP frames sent on close before the socket closes."
    )
    linger_ms: int = Field(
        200, ge=0, le=10_000, description="Time to flush queued frames on close, ms."
    )


class SerialOutputConfig(StrictModel):
    """Serial output: the safety frame, COBS-framed, to a stop-relay board (hw/firmware/)."""

    port: str = Field(
        ...,
        title="Port",
        description="Serial port name or pyserial URL, e.g. /dev/ttyACM0 or rfc2217://host:port.",
    )
    baudrate: int = Field(115200, gt=0, le=4_000_000, description="Baud rate in bit/s.")
    connection_id: int = Field(
        1, ge=0, le=0xFFFFFFFF, description="Connection id shared with the receiving board."
    )
    heartbeat_hz: float = Field(50.0, gt=0, le=1000, description="Heartbeat rate in hertz.")
    state_timeout_s: float = Field(
        0.5,
        gt=0,
        le=60,
        description="Seconds without a new decision after which the output sends STOP "
        "(a hung decision loop must not keep the heartbeat saying RUN).",
    )
    write_timeout_s: float = Field(
        0.2, gt=0, le=10, description="Serial write timeout in seconds; a timeout is a fault."
    )


class ModbusOutputConfig(StrictModel):
    """Modbus RTU relay module whose coil is ON only while RUN is being refreshed.

    Enable the module's own communication-loss timeout (most have one): it is what drops the
    relay if this process dies, the cable breaks or refreshing stops.
    """

    port: str = Field(
        ..., title="Port", description="Serial port name or pyserial URL of the RS-485 adapter."
    )
    baudrate: int = Field(9600, gt=0, le=4_000_000, description="Baud rate in bit/s.")
    parity: Literal["N", "E", "O"] = Field("N", description="Parity: N(one), E(ven), O(dd).")
    stopbits: Literal[1, 2] = Field(1, description="Stop bits.")
    slave_id: int = Field(1, ge=1, le=247, description="Modbus device (slave) address.")
    coil_address: int = Field(
        0, ge=0, le=0xFFFF, description="Zero-based address of the relay coil (manual's 1 = 0)."
    )
    refresh_period_s: float = Field(
        0.1, gt=0, le=10, description="Seconds between coil writes (written even if unchanged)."
    )
    timeout_s: float = Field(
        0.2, gt=0, le=10, description="Seconds to wait for the module's reply; longer is a fault."
    )
    slow_means_run: bool = Field(
        True, description="Whether SLOW keeps the coil ON (False: only RUN does)."
    )
    state_timeout_s: float = Field(
        0.5,
        gt=0,
        le=60,
        description="Seconds without a new decision after which the coil is switched OFF.",
    )


ROS_TOPIC_PATTERN = r"^/?[A-Za-z][A-Za-z0-9_]*(/[A-Za-z][A-Za-z0-9_]*)*$"
"""A fully written ROS 2 topic name: ``/`` separated tokens of letters, digits and ``_``."""


class DdsOutputConfig(StrictModel):
    """ROS 2 (DDS) output: the safety frame's exact bytes and a plain status message.

    Each frame is published unchanged as ``std_msgs/msg/UInt8MultiArray`` on ``frame_topic``
    (the receiver rules of hw/PROTOCOL.md hold as on ZeroMQ) and described as
    ``diagnostic_msgs/msg/DiagnosticStatus`` on ``status_topic`` (docs/ROS2.md). QoS is fixed:
    reliable, keep-last ``history_depth``, volatile -- a receiver acts on the newest frame
    only, so a lost sample is never worth a backlog of older ones, and a controller that
    joins late must not be handed a frame cached from the past.
    """

    domain_id: int = Field(0, ge=0, le=232, description="DDS domain id (ROS_DOMAIN_ID).")
    loopback_only: bool = Field(
        True,
        description=(
            "Join the domain on the loopback interface only, with unicast discovery: only "
            "nodes on this host receive (or can inject) frames. False: Cyclone DDS's own "
            "configuration applies (CYCLONEDDS_URI; by default every interface, multicast "
            "discovery) and DDS is unauthenticated beyond this host."
        ),
    )
    frame_topic: str = Field(
        "/safetymon/safety_frame",
        pattern=ROS_TOPIC_PATTERN,
        max_length=200,
        description="ROS 2 topic of the frames (std_msgs/msg/UInt8MultiArray, 32 bytes).",
    )
    status_topic: str | None = Field(
        "/safetymon/safety_status",
        pattern=ROS_TOPIC_PATTERN,
        max_length=200,
        description=(
            "ROS 2 topic of the status (diagnostic_msgs/msg/DiagnosticStatus, one per frame); "
            "null: frames only."
        ),
    )
    status_name: str = Field(
        "safetymon",
        min_length=1,
        max_length=100,
        description="DiagnosticStatus.name (the component, as a diagnostics aggregator shows it).",
    )
    connection_id: int = Field(
        1, ge=0, le=0xFFFFFFFF, description="Connection id shared with the controller."
    )
    heartbeat_hz: float = Field(50.0, gt=0, le=1000, description="Heartbeat rate in hertz.")
    state_timeout_s: float = Field(
        0.5,
        gt=0,
        le=60,
        description=(
            "If the monitor has not set a state for this long (seconds; a hung decision loop), "
            "the heartbeat sends STOP with LOOP_OVERRUN instead of repeating the last state."
        ),
    )
    stop_repeats: int = Field(
        3, ge=1, le=100, description="STOP frames sent on close before the writers close."
    )
    history_depth: int = Field(
        1,
        ge=1,
        le=16,
        description=(
            "Writer keep-last depth, samples: 1 keeps only the newest frame for "
            "retransmission (a newer frame replaces an unacknowledged older one)."
        ),
    )

    @model_validator(mode="after")
    def _distinct_topics(self) -> DdsOutputConfig:
        if self.status_topic is not None and (
            self.status_topic.strip("/") == self.frame_topic.strip("/")
        ):
            raise ValueError(
                f"status_topic ({self.status_topic!r}) must differ from frame_topic "
                f"({self.frame_topic!r}): they carry different message types"
            )
        return self


class OutputsConfig(StrictModel):
    """Every configured output; none configured means decisions are only logged."""

    zmq: ZmqOutputConfig | None = Field(None, description="ZeroMQ publisher.")
    serial: SerialOutputConfig | None = Field(None, description="Serial stop-relay output.")
    modbus: ModbusOutputConfig | None = Field(None, description="Modbus RTU relay module.")
    dds: DdsOutputConfig | None = Field(
        None, description="ROS 2 (DDS) topics: the frames and a status message (docs/ROS2.md)."
    )
