"""Evidence settings: where records and snapshots go and what counts as an episode."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from safetymon.config.base import StrictModel
from safetymon.signals.reasons import Reason


class EvidenceConfig(StrictModel):
    """The evidence store and the episode rules (near-misses and stops).

    Relative paths are relative to the monitor's working directory. Snapshot file names are
    recorded relative to the database's folder, so the two may be moved together.
    """

    db_path: Path = Field(
        Path("evidence/evidence.db"),
        description="SQLite evidence database (created with its folder when missing).",
    )
    snapshot_dir: Path = Field(
        Path("evidence/snapshots"),
        description="Folder of the JPEG snapshots taken at each episode's closest approach.",
    )
    warning_margin_m: float = Field(
        0.5,
        ge=0.0,
        description=(
            "A person closer to a robot than S_p + this margin (metres) opens a near-miss "
            "episode even when the decision stayed RUN."
        ),
    )
    merge_gap_s: float = Field(
        2.0,
        ge=0.0,
        description=("Events less than this many seconds apart (monotonic clock) are one episode."),
    )
    max_episode_s: float = Field(
        60.0,
        gt=0.0,
        description=(
            "An episode still open after this many seconds is recorded and continued in a new "
            "one (linked by continues_episode_id), so a crash loses at most this much."
        ),
    )
    ignore_reasons: list[str] = Field(
        default_factory=lambda: ["STARTUP", "SHUTDOWN"],
        description=(
            "Reason names that alone do not open an episode (the STOP at start-up and "
            "shutdown is expected, not an event)."
        ),
    )
    stop_on_failure: bool = Field(
        True,
        description=(
            "A failing store (disk full, read-only, corrupt, queue overflow) is a STOP cause "
            "(EVIDENCE_FAULT). Turn off only where evidence is not part of the safety case."
        ),
    )
    jpeg_quality: int = Field(90, ge=1, le=100, description="JPEG quality of snapshots.")
    queue_size: int = Field(
        1024,
        ge=1,
        le=1_000_000,
        description="Records waiting for the writer thread; a full queue is a store fault.",
    )

    @field_validator("ignore_reasons")
    @classmethod
    def _known_reasons(cls, names: list[str]) -> list[str]:
        known = {member.name for member in Reason}
        for index, name in enumerate(names):
            if name not in known:
                raise ValueError(
                    f"ignore_reasons[{index}]: unknown reason {name!r}; "
                    f"known: {', '.join(sorted(n for n in known if n))}"
                )
        return names
