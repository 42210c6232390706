"""Bounded YAML (issue 15, findings 8 and 9): every hostile file is a ConfigError, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from safetymon.config.loader import ConfigError, load_site_config, parse_yaml
from safetymon.config.safe_yaml import MAX_EXPANDED_NODES, expanded_size, load_bounded
from safetymon.perception.calibration.model import load_calibration

REPO = Path(__file__).resolve().parents[2]

BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
)
BOMB = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + BOMB


def test_an_alias_bomb_is_refused_before_it_is_built() -> None:
    assert len(BOMB) < 3000  # the reported 2.9 kB file: 9**9 leaves
    with pytest.raises(ConfigError, match="expands to more than"):
        parse_yaml(BOMB, "bomb.yaml")
    bomb_in_a_zone = BOMB + "zones:\n  - {id: z, type: warning, polygon: *i}\n"
    with pytest.raises(ConfigError, match="expands to more than"):
        parse_yaml(bomb_in_a_zone, "bomb.yaml")


def test_aliases_within_the_budget_still_work(tmp_path: Path) -> None:
    text = (REPO / "zones" / "service-counter.yaml").read_text(encoding="utf-8")
    staff = "polygon: [[0, -1.5], [3, -1.5], [3, 0], [0, 0]]"
    front = "polygon: [[-0.5, 0], [3.5, 0], [3.5, 1.2], [2.0, 1.6], [1.0, 1.6], [-0.5, 1.2]]"
    assert staff in text and front in text
    anchored = text.replace(staff, staff.replace("polygon: ", "polygon: &counter ")).replace(
        front, front + "\n  - {id: counter-copy, type: warning, polygon: *counter}"
    )
    site = tmp_path / "site.yaml"
    site.write_text(anchored, encoding="utf-8")
    config = load_site_config(site)
    assert config.zone("counter-copy").polygon == config.zones[0].polygon
    assert load_bounded("a: &p [1, 2]\nb: *p\nc: *p\n") == {"a": [1, 2], "b": [1, 2], "c": [1, 2]}


def test_expanded_size_counts_each_alias_use() -> None:
    import yaml

    node = yaml.compose("a: &p [1, 2]\nb: *p\nc: *p\n")
    # mapping + 3 keys + 3 x (sequence + 2 scalars)
    assert expanded_size(node) == 1 + 3 + 3 * 3
    assert expanded_size(yaml.compose(BOMB), limit=MAX_EXPANDED_NODES) == MAX_EXPANDED_NODES + 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: &a [*a]\n", "recursive alias"),
        ("site: x\n? [a, b]\n: 1\n", "line 2, column 3: a mapping key must be a plain value"),
        ("site: x\n? {a: 1}\n: 1\n", "a mapping key must be a plain value"),
        ("site: x\nn: " + "9" * 5000 + "\n", "invalid YAML value: ValueError"),
        ("site: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
        ("site: x\nsite: y\n", "line 2, column 1: duplicate key 'site'"),
        ("site: [unclosed\n", "invalid YAML"),
    ],
)
def test_hostile_yaml_is_a_config_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_yaml(text, "hostile.yaml")
    assert message in str(caught.value), str(caught.value)
    assert "hostile.yaml" in str(caught.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("site: café\n".encode("latin-1"), "not UTF-8 text: byte 0xe9 at offset 9"),
        ("site: café\n".encode("utf-16"), "not UTF-8 text: byte 0xff at offset 0"),
    ],
)
def test_files_that_are_not_utf8_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "site.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        load_site_config(path)
    calibration = tmp_path / "cam.yaml"
    calibration.write_bytes(content)
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_calibration(calibration)


def test_devices_and_huge_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a regular file"):
        load_site_config("/dev/zero")
    huge = tmp_path / "huge.yaml"
    huge.write_bytes(b"# " + b"x" * (5 * 1024 * 1024) + b"\nsite: x\n")
    with pytest.raises(ConfigError, match="larger than"):
        load_site_config(huge)


@pytest.mark.parametrize(
    "content",
    [
        (BOMB + "site: x\n").encode(),
        b"site: x\nn: " + b"9" * 5000 + b"\n",
        b"site: x\n? [a, b]\n: 1\n",
        b"site: " + b"[" * 5000 + b"]" * 5000 + b"\n",
        "site: café\n".encode("latin-1"),
    ],
    ids=["alias bomb", "5000-digit integer", "complex key", "5000-deep nesting", "latin-1"],
)
def test_config_check_exits_2_naming_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "site.yaml"
    path.write_bytes(content)
    completed = subprocess.run(
        [sys.executable, "-m", "safetymon", "config", "check", str(path)],
        capture_output=True, text=True, timeout=120,  # a hang guard, not a speed check
    )  # fmt: skip
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert str(path) in completed.stderr + completed.stdout
    assert "Traceback" not in completed.stderr


def test_a_control_character_is_a_named_refusal() -> None:
    """Found by tests/fuzz: a C0 control character made the loader raise yaml.ReaderError
    (a traceback, exit 1) before parsing began."""
    with pytest.raises(ConfigError, match="invalid YAML"):
        parse_yaml("\x1f", "odd.yaml")
    with pytest.raises(ConfigError, match="special characters"):
        parse_yaml("site: demo\x07\n", "odd.yaml")


@pytest.mark.parametrize("command", [["run", "--config"], ["config", "check"]])
def test_a_latin1_calibration_file_is_refused_under_its_camera(
    tmp_path: Path, command: list[str]
) -> None:
    """Finding 9: ``run`` named such a file under ``monitor.http``; both commands must name
    the file and the camera entry that points at it, and start nothing (exit 2)."""
    site = (REPO / "zones" / "pets09-s2l1.yaml").read_text(encoding="utf-8")
    assert "../calibration/pets09-view001.yaml" in site
    (tmp_path / "site.yaml").write_text(
        site.replace("../calibration/pets09-view001.yaml", "cal.yaml"), encoding="utf-8"
    )
    calibration = (REPO / "calibration" / "pets09-view001.yaml").read_bytes()
    (tmp_path / "cal.yaml").write_bytes(calibration + "# café\n".encode("latin-1"))
    completed = subprocess.run(
        [sys.executable, "-m", "safetymon", *command, str(tmp_path / "site.yaml")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,  # a hang guard
    )  # fmt: skip
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert "cal.yaml" in completed.stderr and "not UTF-8 text" in completed.stderr
    assert "(cameras[view001].calibration)" in completed.stderr, completed.stderr
    assert "monitor.http" not in completed.stderr
    assert "Traceback" not in completed.stderr
