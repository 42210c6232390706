"""Glass-to-frame latency from pattern show times and decoded camera frames (pure).

Each code of the pattern (`latency_pattern`) is shown at a known time (monotonic seconds,
taken as the screen has it); each camera frame is handed out at a known time (the camera
source's capture time, the same clock and the same moment the decision's frame age starts
from). A frame showing code c gives one sample: handout time − show time of c. The light
of that frame left the screen at or after the show time, so every sample is an upper bound
of the camera's latency (by at most the time the code stayed on screen, plus the screen's
own lag): what is counted in S_p is never less than the camera's latency.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from safetymon.perception.calibration.model import LatencyMeasurement, now_utc

MIN_SAMPLES = 30
"""Fewer decoded frames than this is no measurement."""


class LatencyMeasurementError(ValueError):
    """The frames do not give a usable latency measurement (says why)."""


@dataclass(frozen=True)
class LatencySamples:
    """Samples of one measurement run.

    Attributes:
        latency_s: (N,) handout − show time of each decoded frame, seconds.
        frames: frames handed out by the camera.
        decoded: frames whose code was read.
        unknown: decoded codes that were never shown (misreads; should be 0).
    """

    latency_s: np.ndarray
    frames: int
    decoded: int
    unknown: int


def latency_samples(
    shown_s: Mapping[int, float], frames: Iterable[tuple[int | None, float]]
) -> LatencySamples:
    """Samples from ``shown_s`` (code → show time, s) and ``frames`` ((decoded code or None,
    handout time s) per camera frame)."""
    values: list[float] = []
    total = decoded = unknown = 0
    for code, handout_s in frames:
        total += 1
        if code is None:
            continue
        decoded += 1
        shown = shown_s.get(code)
        if shown is None or handout_s < shown:
            unknown += 1  # a code never shown, or shown after its frame: a misread
            continue
        values.append(handout_s - shown)
    return LatencySamples(np.asarray(values, dtype=np.float64), total, decoded, unknown)


def summarize(
    samples: LatencySamples, *, margin_s: float, pattern_period_s: float, source: str
) -> LatencyMeasurement:
    """The calibration entry: p50/p95/p99 (conservative: the next higher sample) and the
    counted latency p99 + ``margin_s`` (raises LatencyMeasurementError when unusable)."""
    count = samples.latency_s.size
    if count < MIN_SAMPLES:
        raise LatencyMeasurementError(
            f"only {count} of {samples.frames} camera frames showed a readable code (need "
            f"{MIN_SAMPLES}): point the camera at the pattern, fill more of its view with it, "
            "or measure for longer"
        )
    if samples.unknown > max(2, samples.decoded // 100):
        raise LatencyMeasurementError(
            f"{samples.unknown} of {samples.decoded} decoded codes were never shown before "
            "their frame: the camera sees another pattern, or the clocks disagree"
        )
    p50, p95, p99 = (
        float(np.percentile(samples.latency_s, q, method="higher")) for q in (50, 95, 99)
    )
    return LatencyMeasurement(
        latency_s=round(p99 + margin_s, 4), p50_s=round(p50, 4), p95_s=round(p95, 4),
        p99_s=round(p99, 4), margin_s=margin_s, samples=count,
        pattern_period_s=pattern_period_s, measured=now_utc(), source=source,
    )  # fmt: skip
