"""Robot configuration: speed limits, stopping data and where each robot may be."""

from __future__ import annotations

from pydantic import Field, model_validator

from safetymon.config.base import StrictModel
from safetymon.config.zones import IDENTIFIER_PATTERN


class StoppingConfig(StrictModel):
    """Robot stopping data (ISO 10218-2 / ISO/TS 15066 S_s and T_s).

    Give either a constant deceleration, from which T_s = v_r / a_s and S_s = v_r² / (2·a_s)
    follow for each measured speed, or the measured stopping time and distance at the robot's
    maximum speed (used as conservative constants).
    """

    deceleration_mps2: float | None = Field(
        None, gt=0.0, description="Constant braking deceleration a_s in m/s²."
    )
    stopping_time_s: float | None = Field(
        None, ge=0.0, description="Stopping time T_s in seconds at maximum speed."
    )
    stopping_distance_m: float | None = Field(
        None, ge=0.0, description="Stopping distance S_s in metres at maximum speed."
    )

    @model_validator(mode="after")
    def _one_form(self) -> StoppingConfig:
        measured = (self.stopping_time_s, self.stopping_distance_m)
        if self.deceleration_mps2 is not None:
            if any(v is not None for v in measured):
                raise ValueError(
                    "give either deceleration_mps2 or stopping_time_s + stopping_distance_m, "
                    "not both"
                )
        elif any(v is None for v in measured):
            raise ValueError(
                "needs deceleration_mps2, or both stopping_time_s and stopping_distance_m"
            )
        return self


class RobotConfig(StrictModel):
    """One robot of the cell. Its link geometry arrives at run time in its state messages."""

    id: str = Field(pattern=IDENTIFIER_PATTERN, description="Unique robot id.")
    max_speed_mps: float = Field(
        gt=0.0, description="Largest speed of any point of the robot in its program, m/s."
    )
    stopping: StoppingConfig = Field(description="Stopping data.")
    reaction_time_s: float = Field(
        0.05,
        ge=0.0,
        description="Controller reaction time: stop message received to braking, seconds.",
    )
    uncertainty_m: float = Field(
        0.02, ge=0.0, description="Z_r: robot position uncertainty in metres."
    )
    link_radius_m: float = Field(0.1, gt=0.0, description="Default link capsule radius in metres.")
    max_state_age_s: float = Field(
        0.1, gt=0.0, description="A robot state older than this (seconds) is stale: STOP."
    )
    permitted_zone: str | None = Field(
        None, description="Zone id the whole robot must stay inside, or none."
    )
