"""Each camera's glass-to-frame latency as the decision counts it (seconds).

The decision adds a camera's frame age to the reaction time T_r of S_p; that age starts
when OpenCV hands the frame out. The time before (light on the sensor → encode → network →
jitter buffer → decode) is the camera's glass-to-frame latency, which the decision adds as
well. Where it comes from, in order:

1. measured: the camera's calibration file (``latency``, written by `safetymon calibrate
   latency`) and/or the site file's ``cameras[].latency_s``; when both give one, the larger
   counts;
2. otherwise a conservative default by source class (`DEFAULT_LATENCY_S`: network streams
   0.5 s, devices 0.15 s, recorded files 0) with a warning for a live source.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from safetymon.config.cameras import DEFAULT_LATENCY_S, CameraConfig, source_class
from safetymon.config.site import SiteConfig
from safetymon.perception.calibration.model import LatencyMeasurement, load_camera_calibration


@dataclass(frozen=True)
class CameraLatency:
    """One camera's glass-to-frame latency.

    Attributes:
        camera_id: the site file's camera id.
        latency_s: what the decision adds to the frame age (seconds).
        origin: where it came from ("site file", "calibration file", "the larger of site file
            and calibration file", or "default for a <class> source").
        measured: the calibration file's measurement, if any.
        warning: why a live camera's latency is a default (None when measured or recorded).
    """

    camera_id: str
    latency_s: float
    origin: str
    measured: LatencyMeasurement | None = None
    warning: str | None = None

    def describe(self, human_speed_mps: float) -> str:
        """One line for `config check`: the latency and its term v_h·latency in S_p."""
        text = (
            f"latency {self.latency_s * 1000:.0f} ms ({self.origin}): S_p + "
            f"{human_speed_mps * self.latency_s:.2f} m at v_h {human_speed_mps:g} m/s"
        )
        if self.measured is not None:
            m = self.measured
            text += (
                f"; measured p50 {m.p50_s * 1000:.0f} / p95 {m.p95_s * 1000:.0f} / p99 "
                f"{m.p99_s * 1000:.0f} ms over {m.samples} frames on {m.measured:%Y-%m-%d}"
            )
        return text


def calibration_path(camera: CameraConfig, base_dir: Path) -> Path | None:
    """The camera's calibration file (relative paths from the site file's folder), or None."""
    if camera.calibration is None:
        return None
    path = Path(camera.calibration)
    return path if path.is_absolute() else Path(base_dir) / path


def camera_latency(camera: CameraConfig, base_dir: Path) -> CameraLatency:
    """Resolve one camera's latency (raises ConfigError for an invalid calibration file)."""
    path = calibration_path(camera, base_dir)
    measured = None if path is None else load_camera_calibration(path, camera.id).latency
    if measured is not None and camera.latency_s is not None:
        larger = max(measured.latency_s, camera.latency_s)
        return CameraLatency(
            camera.id, larger, "the larger of site file and calibration file", measured
        )
    if measured is not None:
        return CameraLatency(camera.id, measured.latency_s, "calibration file", measured)
    if camera.latency_s is not None:
        return CameraLatency(camera.id, camera.latency_s, "site file")
    kind = source_class(camera.source)
    default = DEFAULT_LATENCY_S[kind]
    warning = None
    if kind != "recorded":
        warning = (
            f"cameras[{camera.id}]: glass-to-frame latency not measured; counting the "
            f"default {default * 1000:.0f} ms of a {kind} source in S_p (measure it with "
            f"`safetymon calibrate latency --camera {camera.id}` or set latency_s)"
        )
    return CameraLatency(camera.id, default, f"default for a {kind} source", warning=warning)


def camera_latencies(config: SiteConfig, base_dir: Path) -> dict[str, CameraLatency]:
    """Every camera's latency, by camera id."""
    return {camera.id: camera_latency(camera, base_dir) for camera in config.cameras}


def latency_seconds(latencies: dict[str, CameraLatency]) -> dict[str, float]:
    """Camera id → seconds, as `compile_site` takes them."""
    return {camera_id: latency.latency_s for camera_id, latency in latencies.items()}
