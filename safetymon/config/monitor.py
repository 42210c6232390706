"""Configuration of the running monitor process (`monitor:` in a site file)."""

from __future__ import annotations

from pydantic import Field, field_validator

from safetymon.config.base import StrictModel
from safetymon.config.http import HttpConfig


class MetricsConfig(StrictModel):
    """Prometheus metrics endpoint (opt-in)."""

    enabled: bool = Field(False, description="Serve /metrics over HTTP for operations.")
    host: str = Field(
        "127.0.0.1", description="Address to bind; loopback unless operations need it remote."
    )
    port: int = Field(9108, ge=0, le=65535, description="TCP port (0: any free port).")

    @field_validator("host")
    @classmethod
    def _check_host(cls, host: str) -> str:
        if not host.strip() or any(ch.isspace() for ch in host):
            raise ValueError(f"not a host address: {host!r}")
        return host


class MonitorConfig(StrictModel):
    """How the monitor process runs its loops."""

    overrun_factor: float = Field(
        10.0,
        gt=1.0,
        le=100.0,
        description=(
            "A decision cycle that starts later than this many periods after the previous "
            "one is a loop overrun: STOP with LOOP_OVERRUN until cycles are on time again. "
            "The default (10: 100 ms at 100 Hz) matches the monitor's reaction-time budget "
            "(safety.reaction_time_s 0.1 s); 5 gave false STOPs on a loaded 2-core host."
        ),
    )
    opencv_threads: int | None = Field(
        None,
        ge=1,
        le=256,
        description=(
            "Threads OpenCV may use inside one frame's detection (cv2.setNumThreads, for the "
            "whole process while the monitor runs). None: the CPU count divided by the "
            "number of cameras, at least 1, so that each camera's detection worker has a "
            "core instead of every worker splitting every frame over all cores. Measured on "
            "a 2-core box with ssdlite at 15 fps (benchmarks/bench_monitor.py --cameras): "
            "with 3 cameras 95-98 % of the frames were detected with 1 thread, 82-95 % with "
            "OpenCV's default of 2."
        ),
    )
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    http: HttpConfig = Field(
        default_factory=HttpConfig, description="The live view in the browser (opt-in)."
    )
