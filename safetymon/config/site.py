"""The site configuration: everything a safety officer writes for one monitored cell."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import Field, field_validator, model_validator

from safetymon.config.base import StrictModel
from safetymon.config.cameras import CameraConfig, DetectorConfig
from safetymon.config.evidence import EvidenceConfig
from safetymon.config.monitor import MonitorConfig
from safetymon.config.outputs import OutputsConfig
from safetymon.config.robots import RobotConfig
from safetymon.config.safety import SafetyConfig
from safetymon.config.tracking import TrackingConfig
from safetymon.config.zones import IDENTIFIER_PATTERN, ZoneConfig, ZoneType


def _unique_ids(items: list[Any], field: str) -> None:
    counts = Counter(item.id for item in items)
    for item_id, count in counts.items():
        if count > 1:
            where = [f"{field}[{i}]" for i, item in enumerate(items) if item.id == item_id]
            raise ValueError(f"duplicate id {item_id!r} at {', '.join(where)}")


class SiteConfig(StrictModel):
    """One monitored work cell (floor frame: metres, z up, the site's own origin and axes)."""

    site: str = Field(pattern=IDENTIFIER_PATTERN, description="Site or cell name.")
    cameras: list[CameraConfig] = Field(
        min_length=1, description="Cameras watching the cell (at least one)."
    )
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    robots: list[RobotConfig] = Field(
        default_factory=list, description="Robots of the cell; may be empty (zones only)."
    )
    zones: list[ZoneConfig] = Field(default_factory=list, description="Floor zones.")
    safety: SafetyConfig = Field(default_factory=SafetyConfig)
    outputs: OutputsConfig = Field(default_factory=OutputsConfig)
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)

    @field_validator("cameras")
    @classmethod
    def _unique_cameras(cls, cameras: list[CameraConfig]) -> list[CameraConfig]:
        _unique_ids(cameras, "cameras")
        return cameras

    @field_validator("robots")
    @classmethod
    def _unique_robots(cls, robots: list[RobotConfig]) -> list[RobotConfig]:
        _unique_ids(robots, "robots")
        return robots

    @field_validator("zones")
    @classmethod
    def _unique_zones(cls, zones: list[ZoneConfig]) -> list[ZoneConfig]:
        _unique_ids(zones, "zones")
        return zones

    @model_validator(mode="after")
    def _tracking_speed(self) -> SiteConfig:
        limit = self.safety.human_speed_limit_mps
        if self.tracking.max_human_speed_mps > limit:
            raise ValueError(
                f"tracking.max_human_speed_mps ({self.tracking.max_human_speed_mps}) exceeds "
                f"safety.human_speed_limit_mps ({limit}): tracked people would be rejected "
                "as implausible"
            )
        return self

    @model_validator(mode="after")
    def _references(self) -> SiteConfig:
        zone_types = {zone.id: zone.type for zone in self.zones}
        for index, robot in enumerate(self.robots):
            wanted = robot.permitted_zone
            if wanted is None:
                continue
            if wanted not in zone_types:
                raise ValueError(f"robots[{index}].permitted_zone: no zone with id {wanted!r}")
            if zone_types[wanted] is not ZoneType.ENVELOPE:
                raise ValueError(
                    f"robots[{index}].permitted_zone: zone {wanted!r} has type "
                    f"{zone_types[wanted].value!r}, expected 'envelope'"
                )
        return self

    @model_validator(mode="after")
    def _dds_domains_agree(self) -> SiteConfig:
        """One process joins a DDS domain one way: the ros2 inputs and the DDS output on a
        domain id must agree on ``loopback_only`` (``safetymon.dds.domain``)."""
        joined: dict[int, tuple[bool, str]] = {}
        sides = [
            (f"robots[{index}].state_input", robot.state_input)
            for index, robot in enumerate(self.robots)
            if robot.state_input.kind == "ros2"
        ]
        if self.outputs.dds is not None:
            sides.append(("outputs.dds", self.outputs.dds))
        for where, side in sides:
            domain, loopback = side.domain_id, side.loopback_only  # type: ignore[union-attr]
            if domain in joined and joined[domain][0] != loopback:
                first_loopback, first = joined[domain]
                raise ValueError(
                    f"{where}.loopback_only ({loopback}) differs from {first}.loopback_only "
                    f"({first_loopback}) on DDS domain {domain}: one process joins a domain "
                    "either on loopback only or on the network; set both alike or use "
                    "another domain_id"
                )
            joined.setdefault(domain, (loopback, where))
        return self

    def zone(self, zone_id: str) -> ZoneConfig:
        """The zone with this id (KeyError if none)."""
        for zone in self.zones:
            if zone.id == zone_id:
                return zone
        raise KeyError(zone_id)
