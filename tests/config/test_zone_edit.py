"""Zone edits of a site file: validated, previewed as a diff, saved keeping comments."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from safetymon.config.loader import ConfigError, load_site_config
from safetymon.config.zone_edit import (
    ZoneEditRequest,
    preview_zone_edit,
    save_zone_edit,
    text_sha256,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    target = tmp_path / "demo-cell.yaml"
    shutil.copy(REPO / "zones" / "demo-cell.yaml", target)
    return target


def test_moving_vertices_changes_one_line_and_keeps_comments(site: Path) -> None:
    before = site.read_text()
    edit = ZoneEditRequest(
        zone_id="keep-out",
        polygon=[(0, 0), (2.2000004, 0), (2.2, 1.5), (0, 1.5)],
        base_sha256=text_sha256(before),
    )
    preview = preview_zone_edit(site, edit)
    assert site.read_text() == before  # a preview writes nothing
    changed = [line for line in preview.diff.splitlines() if line[:1] in "+-"]
    assert changed[2:] == [
        "-  - {id: keep-out, type: protective, polygon: [[0, 0], [2, 0], [2, 1.5], [0, 1.5]]}",
        "-  - {id: caution,  type: warning,    polygon: [[-1, -1], [3, -1], [3, 2.5], [-1, 2.5]]}",
        "+  - {id: keep-out, type: protective, polygon: [[0, 0], [2.2, 0], [2.2, 1.5], [0, 1.5]]}",
        "+  - {id: caution, type: warning, polygon: [[-1, -1], [3, -1], [3, 2.5], [-1, 2.5]]}",
    ]  # ruamel keeps comments and layout; only the aligned spaces of the next flow map go
    assert preview.old_config_hash != preview.new_config_hash
    save_zone_edit(preview)
    after = site.read_text()
    assert after == preview.new_text
    assert "# Ceiling camera south of the cell" in after
    assert load_site_config(site).zone("keep-out").polygon[1] == (2.2, 0.0)


def test_a_new_zone_needs_a_type_and_is_appended(site: Path) -> None:
    square = [(4, 0), (5, 0), (5, 1), (4, 1)]
    with pytest.raises(ConfigError, match="is new: give its type"):
        preview_zone_edit(site, ZoneEditRequest(zone_id="bench", polygon=square))
    preview = preview_zone_edit(
        site, ZoneEditRequest(zone_id="bench", polygon=square, type="warning",
                              description="tool bench")
    )  # fmt: skip
    assert preview.added
    assert "+  - id: bench" in preview.diff
    assert preview.config.zone("bench").type.value == "warning"


def test_an_invalid_polygon_is_refused_naming_the_field(site: Path) -> None:
    bow_tie = [(0, 0), (2, 1.5), (2, 0), (0, 1.5)]
    with pytest.raises(ConfigError) as caught:
        preview_zone_edit(site, ZoneEditRequest(zone_id="keep-out", polygon=bow_tie))
    assert caught.value.issues[0].field == "zones[0].polygon"
    assert "Self-intersection" in str(caught.value)


def test_the_editor_does_not_change_a_zones_type(site: Path) -> None:
    with pytest.raises(ConfigError, match=r"zones\[0\].type"):
        preview_zone_edit(
            site,
            ZoneEditRequest(zone_id="keep-out", polygon=[(0, 0), (1, 0), (1, 1)], type="warning"),
        )


def test_a_file_changed_meanwhile_is_never_overwritten(site: Path) -> None:
    stale = text_sha256("something else")
    with pytest.raises(ConfigError, match="changed since the editor loaded it"):
        preview_zone_edit(
            site, ZoneEditRequest(zone_id="keep-out", polygon=[(0, 0), (1, 0), (1, 1)],
                                  base_sha256=stale)
        )  # fmt: skip
    preview = preview_zone_edit(
        site, ZoneEditRequest(zone_id="keep-out", polygon=[(0, 0), (1, 0), (1, 1)])
    )
    site.write_text(site.read_text() + "# edited by hand meanwhile\n")
    with pytest.raises(ConfigError, match="nothing was written"):
        save_zone_edit(preview)
    assert site.read_text().endswith("# edited by hand meanwhile\n")
    assert not list(site.parent.glob(".demo-cell.yaml.*"))  # no temporary file left


def test_a_symlinked_site_file_is_written_through(tmp_path: Path) -> None:
    """Issue 15, finding 13: saving replaced the link with a plain file (the deployment's
    real site file, the link's target, kept the old zones)."""
    real = tmp_path / "deploy" / "demo-cell.yaml"
    real.parent.mkdir()
    shutil.copy(REPO / "zones" / "demo-cell.yaml", real)
    link = tmp_path / "site.yaml"
    link.symlink_to(real)
    before = link.read_text()
    preview = preview_zone_edit(
        link,
        ZoneEditRequest(
            zone_id="keep-out",
            polygon=[(0, 0), (2.2, 0), (2.2, 1.5), (0, 1.5)],
            base_sha256=text_sha256(before),
        ),
    )
    save_zone_edit(preview)
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert real.read_text() == preview.new_text != before
    assert sorted(p.name for p in real.parent.iterdir()) == ["demo-cell.yaml"]  # no leftovers
