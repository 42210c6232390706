"""A SiteConfig compiled into the arrays the per-cycle evaluation reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from safetymon.config.robots import RobotConfig
from safetymon.config.safety import SafetyConfig
from safetymon.config.site import SiteConfig
from safetymon.config.zones import ZoneConfig, ZoneType
from safetymon.geometry.polygons import PackedPolygons, pack_polygons


@dataclass(frozen=True)
class ZoneGroup:
    """Zones of one kind of check, packed for the kernels (floor frame, metres)."""

    zones: tuple[ZoneConfig, ...]
    packed: PackedPolygons

    @classmethod
    def of(cls, zones: list[ZoneConfig]) -> ZoneGroup:
        """Pack these zones."""
        return cls(tuple(zones), pack_polygons([zone.polygon for zone in zones]))

    @property
    def ids(self) -> tuple[str, ...]:
        """Zone ids in pack order."""
        return tuple(zone.id for zone in self.zones)


@dataclass(frozen=True)
class CompiledSite:
    """Everything the decision needs from the configuration, in array form.

    Attributes:
        config: the validated site configuration.
        people_zones: warning and protective zones (checked against people).
        restricted_zones: zones no robot may enter.
        envelope_zones: permitted areas that robots must stay inside.
        robots: configured robots in config order; ``robot_index`` maps id to position.
        deceleration_mps2: (R,) constant deceleration, NaN where stopping data are given.
        stopping_time_s, stopping_distance_m: (R,) measured stopping data, NaN where a
            deceleration is given.
        reaction_time_s: (R,) monitor + controller reaction time, seconds (input ages are
            added per cycle).
        max_speed_mps, uncertainty_m: (R,) from each robot's config.
        camera_latency_s: camera id → glass-to-frame latency, seconds, added to that
            camera's frame age in T_r.
        fall_reach_m, height_m: (R,) a dynamically stable robot's fall envelope radius
            around its base and its height, metres; NaN for other robots.
        max_base_speed_mps: (R,) its largest base speed, m/s (0 for other robots).
        base_deceleration_mps2, base_stopping_time_s, base_stopping_distance_m: (R,) how
            its base brakes (NaN where not given).
    """

    config: SiteConfig
    people_zones: ZoneGroup
    restricted_zones: ZoneGroup
    envelope_zones: ZoneGroup
    robots: tuple[RobotConfig, ...]
    robot_index: dict[str, int]
    deceleration_mps2: np.ndarray
    stopping_time_s: np.ndarray
    stopping_distance_m: np.ndarray
    reaction_time_s: np.ndarray
    max_speed_mps: np.ndarray
    uncertainty_m: np.ndarray
    camera_latency_s: Mapping[str, float]
    fall_reach_m: np.ndarray
    height_m: np.ndarray
    max_base_speed_mps: np.ndarray
    base_deceleration_mps2: np.ndarray
    base_stopping_time_s: np.ndarray
    base_stopping_distance_m: np.ndarray

    @property
    def safety(self) -> SafetyConfig:
        """The safety parameters."""
        return self.config.safety

    @property
    def all_zone_ids(self) -> tuple[str, ...]:
        """Every zone id in config order."""
        return tuple(zone.id for zone in self.config.zones)


def compile_site(
    config: SiteConfig, camera_latency_s: Mapping[str, float] | None = None
) -> CompiledSite:
    """Pack zones and gather robot parameters into arrays.

    Args:
        camera_latency_s: each camera's glass-to-frame latency, seconds, as resolved with
            its calibration file (``safetymon.perception.camera_latency``). None: from the
            site file alone (``CameraConfig.configured_latency_s``).
    """
    latency = {camera.id: camera.configured_latency_s() for camera in config.cameras}
    if camera_latency_s is not None:
        unknown = set(camera_latency_s) - set(latency)
        missing = set(latency) - set(camera_latency_s)
        if unknown or missing:
            raise ValueError(
                f"camera latencies do not match the cameras: unknown {sorted(unknown)}, "
                f"missing {sorted(missing)}"
            )
        bad = {k: v for k, v in camera_latency_s.items() if not 0.0 <= v < float("inf")}
        if bad:
            raise ValueError(f"camera latencies must be finite and >= 0 s, got {bad}")
        latency = dict(camera_latency_s)

    def of_type(*types: ZoneType) -> ZoneGroup:
        return ZoneGroup.of([zone for zone in config.zones if zone.type in types])

    robots = tuple(config.robots)

    def robot_values(getter: object) -> np.ndarray:
        return np.array([getter(robot) for robot in robots], dtype=np.float64)  # type: ignore[operator]

    nan = float("nan")

    def or_nan(value: float | None) -> float:
        return float("nan") if value is None else float(value)

    return CompiledSite(
        config=config,
        people_zones=of_type(ZoneType.WARNING, ZoneType.PROTECTIVE),
        restricted_zones=of_type(ZoneType.RESTRICTED),
        envelope_zones=of_type(ZoneType.ENVELOPE),
        robots=robots,
        robot_index={robot.id: index for index, robot in enumerate(robots)},
        deceleration_mps2=robot_values(lambda r: or_nan(r.stopping.deceleration_mps2)),
        stopping_time_s=robot_values(lambda r: or_nan(r.stopping.stopping_time_s)),
        stopping_distance_m=robot_values(lambda r: or_nan(r.stopping.stopping_distance_m)),
        reaction_time_s=robot_values(lambda r: config.safety.reaction_time_s + r.reaction_time_s),
        max_speed_mps=robot_values(lambda r: r.max_speed_mps),
        uncertainty_m=robot_values(lambda r: r.uncertainty_m),
        camera_latency_s=MappingProxyType(latency),
        fall_reach_m=robot_values(lambda r: r.stability.fall_reach_m if r.stability else nan),
        height_m=robot_values(lambda r: r.stability.height_m if r.stability else nan),
        max_base_speed_mps=robot_values(
            lambda r: r.stability.max_base_speed_mps if r.stability else 0.0
        ),
        base_deceleration_mps2=robot_values(
            lambda r: or_nan(r.stability.base_stopping.deceleration_mps2) if r.stability else nan
        ),
        base_stopping_time_s=robot_values(
            lambda r: or_nan(r.stability.base_stopping.stopping_time_s) if r.stability else nan
        ),
        base_stopping_distance_m=robot_values(
            lambda r: or_nan(r.stability.base_stopping.stopping_distance_m)
            if r.stability else nan
        ),
    )
