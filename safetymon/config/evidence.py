"""Evidence settings: where records and snapshots go and what counts as an episode."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from pydantic import Field, field_validator

from safetymon.config.base import StrictModel
from safetymon.signals.reasons import Reason


class EvidenceShipConfig(StrictModel):
    """Continuous shipping of the store to a central PostgreSQL while the monitor runs.

    Connection details the URL leaves out come from the standard libpq ``PG*`` environment
    variables (``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGPASSWORD``, ``PGSSLMODE``, ...) or
    ``~/.pgpass`` of the monitor's account; a password in the URL is refused. Shipping is
    not a safety function: a slow, absent or refusing centre never changes the decision.
    """

    to: str = Field(
        description=(
            "The centre: postgresql://[user@]host[:port]/database, without a password "
            "(use PGPASSWORD, PGPASSFILE or ~/.pgpass)."
        ),
    )
    interval_s: float = Field(
        10.0, gt=0.0, le=86_400.0,
        description="Seconds between shipping runs (and between retries after a failure).",
    )  # fmt: skip
    batch_rows: int = Field(
        500, ge=1, le=100_000, description="Records per batch (one centre transaction each)."
    )
    connect_timeout_s: float = Field(
        10.0, ge=1.0, le=600.0, description="Seconds to wait for a connection to the centre."
    )
    full_audit_interval_s: float = Field(
        3600.0, gt=0.0,
        description=(
            "Seconds between full audits of the shipped prefix (every local record the "
            "centre holds re-verified and compared); in between, each run checks only that "
            "the local record at the centre's head still has the accepted hash. A full "
            "audit also runs at start and after every reconnection."
        ),
    )  # fmt: skip

    @field_validator("to")
    @classmethod
    def _postgres_without_password(cls, url: str) -> str:
        if not url.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        try:
            parts = urlsplit(url)
            has_password = parts.password is not None
        except ValueError as error:
            raise ValueError(f"cannot parse the URL: {error}") from None
        if has_password or "password" in parse_qs(parts.query):
            raise ValueError(
                "a password in the URL is refused (site files are copied and shown); use "
                "PGPASSWORD, PGPASSFILE or ~/.pgpass of the monitor's account"
            )
        return url


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
    ship: EvidenceShipConfig | None = Field(
        None,
        description=(
            "Ship the store to a central PostgreSQL while the monitor runs (off the decision "
            "path; a failing centre never stops the robot). Off when absent."
        ),
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
