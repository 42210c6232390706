"""Saved zone edits and when the running monitor takes them into use.

A zone edit saved from the live view's editor is written to the site file at once (and
recorded in the evidence store with the old and new configuration hashes), but the running
decision keeps its zones until either

- the decision is STOP anyway (the change is then applied on the next STOP cycle), or
- an operator asks for it explicitly (``apply_now``, token-protected in the live view).

Applying restarts the decision engine from its start-up memory: STOP with STARTUP, then the
restart delay and, where configured, a reset. Only the zones are taken over from the edited
file; the rest of the running configuration (sources, outputs, robots) stays as started.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from safetymon.config.loader import ConfigError, ConfigIssue, config_hash
from safetymon.config.site import SiteConfig
from safetymon.config.zone_edit import ZoneEditPreview, save_zone_edit
from safetymon.evidence.records import CONFIG_CHANGE, ConfigChange
from safetymon.geometry.protection import ProtectionReport, protection_report
from safetymon.geometry.site_separation import camera_latencies_s
from safetymon.monitor.decision_loop import CycleRecord, DecisionLoop
from safetymon.safety.decision import DecisionEngine
from safetymon.safety.site import compile_site
from safetymon.signals.frame import SafetyState

log = logging.getLogger(__name__)


class ZoneChanges:
    """The monitor's pending zone change and its application.

    Args:
        config: the running configuration.
        loop: the decision loop whose engine is replaced.
        record: appends an evidence record (kind, payload), or None without evidence.
        run_id: the evidence run id, if recording.
    """

    def __init__(
        self,
        config: SiteConfig,
        loop: DecisionLoop | None = None,
        record: object = None,
        run_id: str | None = None,
        camera_latency_s: Mapping[str, float] | None = None,
    ) -> None:
        self.config = config
        self.camera_latency_s = camera_latency_s  # kept for the recompiled site
        self.loop = loop
        self._record = record
        self.run_id = run_id
        self._lock = threading.Lock()
        self._pending: SiteConfig | None = None
        self._pending_zones: list[str] = []
        self.applied = 0
        self.on_applied: list = []

    @property
    def pending(self) -> SiteConfig | None:
        """The configuration waiting to be applied, or None."""
        with self._lock:
            return self._pending

    def save(self, preview: ZoneEditPreview, zone_id: str, how: str = "live view") -> None:
        """Write the edit to the site file, record it, and stage its zones.

        Raises:
            ConfigError: the file changed since the preview, the zones do not fit the
                running configuration (e.g. a robot's permitted zone was removed), or the edit
                lowers a robot's protective cover (``judge_zone_edit``) while the site does
                not say it is protected otherwise.
            OSError: the file cannot be written.
        """
        staged = self._with_zones(preview.config)  # refuse before writing anything
        report = judge_zone_edit(preview)
        if report.refusals:
            raise ConfigError([
                ConfigIssue(str(preview.site_file), f"zones ({zone_id})", reason, None, False)
                for reason in report.refusals
            ])  # fmt: skip
        for line in report.lines():
            log.warning("zone %s edit: %s", zone_id, line)
        save_zone_edit(preview)
        self._append(
            ConfigChange(
                event="saved",
                site=preview.config.site,
                file=str(preview.site_file),
                old_config_hash=preview.old_config_hash,
                new_config_hash=preview.new_config_hash,
                zones=[zone_id],
                diff=preview.diff,
                run_id=self.run_id,
                how=how,
            )
        )
        with self._lock:
            self._pending = staged
            self._pending_zones = sorted({*self._pending_zones, zone_id})

    def _with_zones(self, edited: SiteConfig) -> SiteConfig:
        data = self.config.model_dump(mode="json")
        data["zones"] = [zone.model_dump(mode="json") for zone in edited.zones]
        from safetymon.config.loader import parse_site_config

        return parse_site_config(data, "running configuration with the edited zones")

    def on_cycle(self, record: CycleRecord) -> None:
        """Decision-loop listener: apply a pending change while the decision is STOP."""
        if self._pending is not None and record.decision.state is SafetyState.STOP:
            self.apply_now(how="applied automatically while STOP")

    def apply_now(self, how: str = "explicit apply") -> bool:
        """Apply the pending change now (the decision restarts in STOP); False if none."""
        with self._lock:
            new, zones = self._pending, self._pending_zones
            self._pending, self._pending_zones = None, []
        if new is None:
            return False
        old_hash, new_hash = config_hash(self.config), config_hash(new)
        if self.loop is not None:
            latency_s = camera_latencies_s(new, self.camera_latency_s)
            self.loop.replace_engine(DecisionEngine(compile_site(new, latency_s)))
        self.config = new
        self.applied += 1
        self._append(
            ConfigChange(
                event="applied",
                site=new.site,
                old_config_hash=old_hash,
                new_config_hash=new_hash,
                zones=zones,
                run_id=self.run_id,
                how=how,
            )
        )
        for callback in self.on_applied:
            callback(new)
        log.warning("zone change applied (%s): %s", how, ", ".join(zones))
        return True

    def _append(self, change: ConfigChange) -> None:
        if self._record is not None:
            self._record(CONFIG_CHANGE, change)  # type: ignore[operator]


def judge_zone_edit(preview: ZoneEditPreview) -> ProtectionReport:
    """What an edit does to the protection (``geometry.protection``): the file before vs after.

    ``save`` refuses an edit whose report has refusals; the zone editor shows the report's
    lines with every preview.
    """
    return protection_report(preview.old_config, preview.config)
