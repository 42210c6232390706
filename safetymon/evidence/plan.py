"""The verification plan: success criteria per scenario, read from YAML (Pydantic, strict).

A *scenario* is a named filter over evidence records: the sites (the ``site`` of each run's
``run_start`` record), the robots (ids from the run's configuration and the episodes) and a
UTC time window ``[since, until)``. Its ``criteria`` are the thresholds the records must meet;
each criterion left out is not evaluated. Units: milliseconds, hours, per operating hour,
percent (see ``docs/EVIDENCE.md``, "Verification plan and report", for the exact
definitions, and ``criteria.py`` for the computation).

Plan files are read like site files (``config/safe_yaml.py``: bounded, no repeated keys) and
every problem is a ``ConfigError`` naming the file, the field path and the value.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pydantic import AwareDatetime, Field, field_validator, model_validator

from safetymon.config.base import StrictModel
from safetymon.config.loader import read_yaml, validate_model
from safetymon.config.zones import IDENTIFIER_PATTERN


class Criteria(StrictModel):
    """Success criteria of one scenario; a criterion left out (null) is not evaluated."""

    protective_zone_stop_within_ms: float | None = Field(
        None,
        gt=0.0,
        description=(
            "Every episode with a person in a protective zone must reach STOP, with its "
            "reaction latency (signal sent − cause seen) at most this many milliseconds."
        ),
    )
    separation_below_sp_requires_stop: bool | None = Field(
        None,
        description=(
            "true: every episode whose closest distance d fell below its S_p must reach STOP."
        ),
    )
    reaction_latency_p99_max_ms: float | None = Field(
        None, gt=0.0, description="Nearest-rank p99 of the episodes' reaction latency, ms."
    )
    protective_stops_per_hour_max: float | None = Field(
        None, ge=0.0, description="Proximity STOP episodes per operating hour, at most."
    )
    input_fault_stops_per_hour_max: float | None = Field(
        None, ge=0.0, description="Input-fault STOP episodes per operating hour, at most."
    )
    availability_min_percent: float | None = Field(
        None,
        ge=0.0,
        le=100.0,
        description="100 × (1 − time inside STOP episodes / operating time), at least.",
    )
    operating_hours_min: float | None = Field(
        None, ge=0.0, description="Operating hours of the monitor in the scenario, at least."
    )

    @model_validator(mode="after")
    def _something(self) -> Criteria:
        if all(value is None for value in self.model_dump().values()):
            raise ValueError("no criterion given: state at least one")
        if self.separation_below_sp_requires_stop is False:
            raise ValueError(
                "separation_below_sp_requires_stop: false is not a criterion (leave it out)"
            )
        return self


class Scenario(StrictModel):
    """A named filter over the records (sites, robots, time window) with its criteria."""

    id: str = Field(pattern=IDENTIFIER_PATTERN, description="Unique scenario id.")
    description: str = Field("", max_length=2000)
    sites: list[str] = Field(
        default_factory=list, description="Site names (run_start.site); empty: every site."
    )
    robots: list[str] = Field(
        default_factory=list, description="Robot ids; empty: every robot of the sites."
    )
    since: AwareDatetime | None = Field(None, description="UTC start, inclusive.")
    until: AwareDatetime | None = Field(None, description="UTC end, exclusive.")
    criteria: Criteria

    @model_validator(mode="after")
    def _window(self) -> Scenario:
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise ValueError(
                f"until ({self.until.isoformat()}) must be after since ({self.since.isoformat()})"
            )
        return self


class VerificationPlan(StrictModel):
    """A verification plan: its name and scenarios (at least one)."""

    plan: str = Field(min_length=1, max_length=200, description="Name of the plan.")
    description: str = Field("", max_length=5000)
    scenarios: list[Scenario] = Field(min_length=1)

    @field_validator("scenarios")
    @classmethod
    def _unique(cls, scenarios: list[Scenario]) -> list[Scenario]:
        counts = Counter(scenario.id for scenario in scenarios)
        for scenario_id, count in counts.items():
            if count > 1:
                where = [f"scenarios[{i}]" for i, s in enumerate(scenarios) if s.id == scenario_id]
                raise ValueError(f"duplicate id {scenario_id!r} at {', '.join(where)}")
        return scenarios


def load_plan(path: str | Path) -> VerificationPlan:
    """Read and validate a plan file (raises ``ConfigError`` naming file, field and value)."""
    return validate_model(VerificationPlan, read_yaml(path, "verification plan"), str(path))
