"""`safetymon config check|schema` as a user runs it: real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def safetymon(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "safetymon", *args],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip


def test_check_demo_cell_prints_ok_and_summary() -> None:
    result = safetymon("config", "check", "zones/demo-cell.yaml")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "OK"
    assert any("keep-out" in line and "protective" in line for line in lines)
    assert any("worst-case S_p" in line for line in lines)
    assert len(lines) < 40  # one screen


def test_check_reports_every_error_with_file_field_and_value(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = (REPO / "zones" / "demo-cell.yaml").read_text()
    text = text.replace(
        "[[-1, -1], [3, -1], [3, 2.5], [-1, 2.5]]", "[[0, 0], [2, 2], [2, 0], [0, 2]]"
    )
    text = text.replace("human_speed_mps: 1.6", "human_speed_mps: -2")
    bad.write_text(text)
    result = safetymon("config", "check", str(bad))
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"{bad}: zones[1].polygon: polygon is not valid" in result.stderr
    assert "Self-intersection" in result.stderr
    assert "(value: [[0, 0], [2, 2], [2, 0], [0, 2]])" in result.stderr
    assert f"{bad}: safety.human_speed_mps" in result.stderr and "-2" in result.stderr


def test_check_missing_file_exits_2(tmp_path: Path) -> None:
    result = safetymon("config", "check", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert "cannot read file" in result.stderr


def test_schema_is_json_schema() -> None:
    result = safetymon("config", "schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["type"] == "object"
    assert {"site", "cameras", "zones", "robots", "safety"} <= schema["properties"].keys()
    assert schema["additionalProperties"] is False
