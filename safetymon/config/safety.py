"""Safety parameters of the decision: ISO/TS 15066 terms, margins and restart rules."""

from __future__ import annotations

from pydantic import Field, model_validator

from safetymon.config.base import StrictModel


class SafetyConfig(StrictModel):
    """Parameters of the protective separation distance and of the decision state machine.

    Defaults are conservative starting points, not values for any particular cell: the safety
    officer sets them from the robot's stopping data and the risk assessment.
    """

    human_speed_mps: float = Field(
        1.6,
        gt=0.0,
        description=(
            "v_h floor: the human approach speed used when the measured one is lower "
            "(ISO 13855 walking speed 1.6 m/s)."
        ),
    )
    reaction_time_s: float = Field(
        0.1,
        ge=0.0,
        description=(
            "Monitor reaction time in seconds (detection, decision, signalling); input ages and "
            "each robot's controller reaction time are added at run time."
        ),
    )
    intrusion_distance_m: float = Field(
        0.85,
        ge=0.0,
        description=(
            "C: intrusion distance in metres (reach of a body part beyond the tracked body; "
            "850 mm is ISO 13855's arm reach for coarse detection)."
        ),
    )
    human_uncertainty_m: float = Field(
        0.1,
        ge=0.0,
        description="Z_d floor: human position uncertainty in metres (tracks may report more).",
    )
    human_speed_limit_mps: float = Field(
        12.0,
        gt=0.0,
        description=(
            "Tracked speeds above this (m/s, faster than any sprinter) are treated as invalid "
            "track data: STOP."
        ),
    )
    human_radius_m: float = Field(
        0.3, gt=0.0, description="Body radius in metres when a detection gives no footprint."
    )
    human_height_m: float = Field(
        2.0, gt=0.0, description="Height of the vertical body capsule in metres."
    )
    warning_margin_m: float = Field(
        0.5,
        ge=0.0,
        description="Within S_p + this margin (metres) the robot is slowed (velocity scaling).",
    )
    hysteresis_m: float = Field(
        0.05,
        ge=0.0,
        description=(
            "Distance in metres a cause must clear beyond its threshold before it counts as "
            "clear (prevents chattering at a boundary)."
        ),
    )
    restart_delay_s: float = Field(
        1.0,
        ge=0.0,
        description="Every cause must have been clear this long (seconds) before speed returns.",
    )
    warning_zone_speed_scale: float = Field(
        0.3, gt=0.0, le=1.0, description="Speed scale while a warning zone is occupied."
    )
    min_speed_scale: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="A velocity-scaled speed below this fraction of maximum is a STOP.",
    )
    startup_requires_reset: bool = Field(
        False, description="After a (re)start, RUN also needs an explicit reset."
    )
    decision_rate_hz: float = Field(
        100.0, gt=0.0, le=2000.0, description="Rate of the decision loop in hertz."
    )
    protected_otherwise: str | None = Field(
        None,
        min_length=10,
        max_length=500,
        description=(
            "How the cell is protected besides its protective zones (e.g. 'light curtain "
            "on the keep-out line, PL d'), when it is: only then may a zone edit leave less "
            "of the robot's worst-case S_p around its reach covered by protective zones "
            "than before (`safetymon config check --previous`, the zone editor)."
        ),
    )

    @model_validator(mode="after")
    def _scales(self) -> SafetyConfig:
        if self.min_speed_scale > self.warning_zone_speed_scale:
            raise ValueError(
                f"min_speed_scale ({self.min_speed_scale}) is above warning_zone_speed_scale "
                f"({self.warning_zone_speed_scale}): a warning zone would always stop"
            )
        return self
