"""A saved zone change is recorded at once and applied by the running decision only in STOP."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from safetymon.config.loader import ConfigError, config_hash, load_site_config
from safetymon.config.zone_edit import ZoneEditRequest, preview_zone_edit
from safetymon.evidence.reader import iter_records, open_readonly
from safetymon.evidence.store import EvidenceStore
from safetymon.evidence.verify import verify_store
from safetymon.monitor.decision_loop import DecisionLoop
from safetymon.monitor.zone_changes import ZoneChanges
from safetymon.safety.decision import DecisionEngine
from safetymon.safety.inputs import CameraStatus, CycleInput, HumanBatch
from safetymon.safety.site import compile_site
from safetymon.signals.frame import SafetyState

REPO = Path(__file__).resolve().parents[2]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_zone_change_waits_for_stop_and_is_recorded(tmp_path: Path) -> None:
    site = tmp_path / "service-counter.yaml"
    shutil.copy(REPO / "zones" / "service-counter.yaml", site)
    config = load_site_config(site)
    zone = next(z for z in config.zones if z.type.value == "protective")
    clock = FakeClock()
    person = {"xy": [[0.0, 0.0]]}  # a person, moved by the test

    def gather(now: float) -> CycleInput:
        humans = HumanBatch.build([1], person["xy"], [[0, 0]], [0.3], [0.1])
        cameras = tuple(CameraStatus(c.id, 0.01) for c in config.cameras)
        return CycleInput(time_s=now, humans=humans, cameras=cameras)

    store = EvidenceStore.open(tmp_path / "evidence.db")
    changes = ZoneChanges(config, record=store.record, run_id="run-1")
    loop = DecisionLoop(
        DecisionEngine(compile_site(config)), gather, lambda decision: None,
        listeners=(changes.on_cycle,), clock=clock,
    )  # fmt: skip
    changes.loop = loop
    far = np.array(zone.shape().bounds[2:]) + 20.0  # nowhere near any zone
    person["xy"] = [far.tolist()]
    for _ in range(300):  # past the restart delay: RUN
        clock.now += 0.01
        record = loop.run_cycle()
    assert record.decision.state is SafetyState.RUN

    # grow the protective zone over the person; save it while RUN
    x0, y0, _, _ = zone.shape().bounds
    grown = [(x0, y0), (far[0] + 1, y0), (far[0] + 1, far[1] + 1), (x0, far[1] + 1)]
    preview = preview_zone_edit(site, ZoneEditRequest(zone_id=zone.id, polygon=grown))
    changes.save(preview, zone.id)
    assert load_site_config(site).zone(zone.id).polygon == grown  # the file changed at once
    clock.now += 0.01
    assert loop.run_cycle().decision.state is SafetyState.RUN  # not while running
    assert changes.pending is not None and changes.applied == 0

    assert changes.apply_now(how="explicit apply")
    clock.now += 0.01
    decision = loop.run_cycle().decision
    assert decision.state is SafetyState.STOP  # restarted from start-up, person now inside
    assert "PROTECTIVE_ZONE" in decision.reason_names
    assert changes.config.zone(zone.id).polygon == grown
    assert not changes.apply_now()  # nothing pending any more

    store.close()
    conn = open_readonly(tmp_path / "evidence.db")
    payloads = [r.parsed()["payload"] for r in iter_records(conn, kinds=["config_change"])]
    conn.close()
    assert [p["event"] for p in payloads] == ["saved", "applied"]
    assert payloads[0]["old_config_hash"] == config_hash(config)
    assert payloads[0]["new_config_hash"] == config_hash(load_site_config(site))
    added = [line for line in payloads[0]["diff"].splitlines() if line.startswith("+ ")]
    assert any(f"{far[0] + 1:g}" in line for line in added)
    assert payloads[1]["how"] == "explicit apply" and payloads[1]["zones"] == [zone.id]
    assert verify_store(tmp_path / "evidence.db").ok
    json.dumps(payloads)  # plain JSON


def test_applied_automatically_on_the_next_stop(tmp_path: Path) -> None:
    site = tmp_path / "demo-cell.yaml"
    shutil.copy(REPO / "zones" / "demo-cell.yaml", site)
    config = load_site_config(site)
    clock = FakeClock()
    loop = DecisionLoop(
        DecisionEngine(compile_site(config)), lambda now: CycleInput(time_s=now),
        lambda decision: None, clock=clock,
    )  # fmt: skip
    changes = ZoneChanges(config, loop)
    preview = preview_zone_edit(
        site, ZoneEditRequest(zone_id="keep-out", polygon=[(0, 0), (2.1, 0), (2.1, 1.5), (0, 1.5)])
    )
    changes.save(preview, "keep-out")
    record = loop.run_cycle()  # no camera, no robot: STOP
    assert record.decision.state is SafetyState.STOP
    changes.on_cycle(record)
    assert changes.pending is None and changes.applied == 1
    assert loop._next_engine is not None  # taken into use on the next cycle


def test_an_edit_that_lowers_a_robots_cover_is_refused_before_writing(tmp_path: Path) -> None:
    """Issue 15, finding 13, at the monitor: whatever front end saves, the check holds."""
    site = tmp_path / "demo-cell.yaml"
    shutil.copy(REPO / "zones" / "demo-cell.yaml", site)
    before = site.read_bytes()
    store = EvidenceStore.open(tmp_path / "evidence.db")
    changes = ZoneChanges(load_site_config(site), record=store.record, run_id="run-1")
    far = [(50.0, 50.0), (50.001, 50.0), (50.001, 50.001), (50.0, 50.001)]
    preview = preview_zone_edit(site, ZoneEditRequest(zone_id="keep-out", polygon=far))
    with pytest.raises(ConfigError, match="worst-case S_p"):
        changes.save(preview, "keep-out")
    assert site.read_bytes() == before and changes.pending is None
    store.close()
