"""Configuration of the signal outputs (`outputs:` in a site file)."""

from __future__ import annotations

from pydantic import Field

from safetymon.config.base import StrictModel


class ZmqOutputConfig(StrictModel):
    """ZeroMQ PUB output of the safety frames."""

    endpoint: str = Field(
        "tcp://127.0.0.1:5560",
        title="Endpoint",
        description="ZeroMQ endpoint to bind, tcp://HOST:PORT or ipc://PATH.",
    )
    connection_id: int = Field(
        1, ge=0, le=0xFFFFFFFF, description="Connection id shared with the controller."
    )
    heartbeat_hz: float = Field(50.0, gt=0, le=1000, description="Heartbeat rate in hertz.")


class OutputsConfig(StrictModel):
    """Every configured output; none configured means decisions are only logged."""

    zmq: ZmqOutputConfig | None = Field(None, description="ZeroMQ publisher.")
