"""Zone changes named with the protection they take away (issue 15, finding 13).

With the token, a protective zone shrunk to 1 mm² 50 m away, or an envelope grown to 200 m,
was accepted and applied without a word. Pure checks on the demo cell's site first, then the
zone editor over HTTP and `safetymon config check --previous` as a subprocess.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from safetymon.config.site import SiteConfig
from safetymon.geometry.protection import protection_report
from safetymon.geometry.site_separation import robot_separation_m

REPO = Path(__file__).resolve().parents[2]
DEMO = yaml.safe_load((REPO / "zones" / "demo-cell.yaml").read_text())
TINY_FAR = [[50, 50], [50.001, 50], [50.001, 50.001], [50, 50.001]]
HUGE = [[-100, -100], [100, -100], [100, 100], [-100, 100]]


def site(edit=None, protected_otherwise: str | None = None) -> SiteConfig:
    data = copy.deepcopy(DEMO)
    if edit is not None:
        edit(data)
    if protected_otherwise:
        data["safety"]["protected_otherwise"] = protected_otherwise
    return SiteConfig.model_validate(data)


def zone(data: dict, zone_id: str) -> dict:
    return next(z for z in data["zones"] if z["id"] == zone_id)


def test_the_findings_protective_zone_shrunk_far_away_is_refused() -> None:
    def shrink(data: dict) -> None:
        zone(data, "keep-out")["polygon"] = TINY_FAR

    report = protection_report(site(), site(shrink))
    change = next(z for z in report.zones if z.zone_id == "keep-out")
    assert change.area_before_m2 == pytest.approx(3.0) and change.lost_m2 == pytest.approx(3.0)
    assert change.reach_distance_before_m == 0.0 and change.reach_distance_after_m > 45
    cover = report.robots[0]
    assert cover.separation_m == pytest.approx(robot_separation_m(site(), 0))
    assert cover.cover_before > 0.05 and cover.cover_after == 0.0 and cover.lowered
    assert len(report.refusals) == 1 and "robot 'arm1'" in report.refusals[0]
    assert any(line.startswith("refused:") for line in report.lines())


def test_the_findings_envelope_grown_to_200_m_is_refused() -> None:
    def grow(data: dict) -> None:
        zone(data, "robot-envelope")["polygon"] = HUGE

    report = protection_report(site(), site(grow))
    change = next(z for z in report.zones if z.zone_id == "robot-envelope")
    assert change.area_after_m2 == pytest.approx(40_000) and change.lost_m2 == 0.0
    assert report.robots[0].required_m2 > 40_000 and report.refusals


def test_more_cover_and_other_zones_are_allowed() -> None:
    def enlarge(data: dict) -> None:
        zone(data, "keep-out")["polygon"] = [[-0.5, -0.5], [2.5, -0.5], [2.5, 2], [-0.5, 2]]

    report = protection_report(site(), site(enlarge))
    assert not report.refusals and not report.weakens
    assert report.robots[0].cover_after > report.robots[0].cover_before

    def move_warning(data: dict) -> None:
        zone(data, "caution")["polygon"] = [[-1, -1], [3.5, -1], [3, 2.5], [-1, 2.5]]

    quiet = protection_report(site(), site(move_warning))
    assert quiet.zones == () and quiet.lines() == [] and not quiet.refusals


def test_restricted_zone_shrunk_is_named_not_refused() -> None:
    def shrink(data: dict) -> None:
        zone(data, "walkway")["polygon"] = [[2.6, -1], [3, -1], [3, 2.5], [2.6, 2.5]]

    report = protection_report(site(), site(shrink))
    (change,) = report.zones
    assert change.zone_type == "restricted" and change.lost_m2 == pytest.approx(0.4 * 3.5)
    assert report.weakens and not report.refusals
    assert "1.40 m² lost" in report.lines()[0]


def test_protected_otherwise_allows_it_and_says_so() -> None:
    def shrink(data: dict) -> None:
        zone(data, "keep-out")["polygon"] = TINY_FAR

    why = "light curtain on the keep-out line, PL d"
    report = protection_report(site(), site(shrink, protected_otherwise=why))
    assert not report.refusals and report.weakens
    assert report.lines()[-1] == f"allowed: the cell is protected otherwise ({why})"


def test_a_robot_without_an_envelope_stands_at_its_base_point() -> None:
    def no_envelope(data: dict) -> None:
        data["robots"][0].pop("permitted_zone", None)
        data["robots"][0]["base_pose"] = {"x_m": 1.0, "y_m": 0.75}

    def and_no_keep_out(data: dict) -> None:
        no_envelope(data)
        data["zones"] = [z for z in data["zones"] if z["id"] != "keep-out"]

    report = protection_report(site(no_envelope), site(and_no_keep_out))
    assert report.robots[0].reach == "base point (1, 0.75)"
    assert report.refusals and report.zones[0].area_after_m2 is None
    assert "removed (3.00 m² no longer covered)" in report.lines()[0]


def test_config_check_previous_names_and_refuses(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    old.write_text(yaml.safe_dump(DEMO))
    new_data = copy.deepcopy(DEMO)
    zone(new_data, "keep-out")["polygon"] = TINY_FAR
    new = tmp_path / "new.yaml"
    new.write_text(yaml.safe_dump(new_data))

    def check(path: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "safetymon", "config", "check", str(path), "--previous",
             str(old)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    refused = check(new)
    assert refused.returncode == 2
    assert "error:" in refused.stderr and "robot 'arm1'" in refused.stderr
    assert "protection: protective zone 'keep-out'" in refused.stderr
    new_data["safety"]["protected_otherwise"] = "light curtain on the keep-out line, PL d"
    new.write_text(yaml.safe_dump(new_data))
    allowed = check(new)
    assert allowed.returncode == 0, allowed.stderr
    assert "changes against" in allowed.stdout and "3.00 m² lost" in allowed.stdout
    same = check(old)
    assert same.returncode == 0 and "no protective, restricted or envelope zone" in same.stdout
