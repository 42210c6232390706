"""Editing a site file's zones: validate, preview as a diff, save keeping comments.

Used by the zone editor of the live view. An edit replaces one zone's polygon (or adds a
zone); the result is validated as a whole site (the same rules as ``safetymon config
check``: simple polygons, unique ids, every referenced zone present, ...) before anything
is written. The YAML is edited with ruamel.yaml's round-trip mode, so comments, key order
and the other zones' formatting survive; the polygon is written in flow style, one vertex
per pair. Saving is atomic (a temporary file renamed over the site file) and refuses when
the file changed since the preview was made.

Coordinates: floor frame, metres (x east, y north).
"""

from __future__ import annotations

import difflib
import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from safetymon.config.base import StrictModel
from safetymon.config.loader import (
    ConfigError,
    ConfigIssue,
    config_hash,
    parse_site_config,
    parse_yaml,
)
from safetymon.config.site import SiteConfig
from safetymon.config.zones import IDENTIFIER_PATTERN, ZoneType


class ZoneEditRequest(StrictModel):
    """One zone edit as it arrives from the editor (JSON over HTTP).

    ``polygon`` is in floor metres. ``type`` is required when ``zone_id`` is new (the zone
    is added) and, when given for an existing zone, must match it (the editor moves
    vertices; changing a zone's meaning is done in the file). ``base_sha256`` is the
    SHA-256 of the site file the editor started from: a save is refused if it changed.
    """

    zone_id: str = Field(pattern=IDENTIFIER_PATTERN)
    polygon: list[tuple[float, float]] = Field(min_length=3, max_length=256)
    type: ZoneType | None = None
    description: str | None = Field(None, max_length=500)
    base_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ZoneEditPreview:
    """What saving an edit would do.

    Attributes:
        site_file: the file.
        old_text, new_text: the file before and after.
        diff: unified diff of the two (what the officer confirms).
        old_sha256: SHA-256 of ``old_text`` (the file's identity for the save).
        old_config_hash, new_config_hash: `config_hash` of the site before and after.
        config: the validated new site.
        added: whether the zone is new.
        old_config: the validated site before the edit.
    """

    site_file: Path
    old_text: str
    new_text: str
    diff: str
    old_sha256: str
    old_config_hash: str
    new_config_hash: str
    config: SiteConfig
    added: bool
    old_config: SiteConfig


def text_sha256(text: str) -> str:
    """SHA-256 (hex) of a file's text as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _yaml() -> YAML:
    yaml = YAML()  # round-trip: keeps comments, order and quoting
    yaml.preserve_quotes = True
    yaml.width = 100
    yaml.indent(mapping=2, sequence=4, offset=2)  # "  - id: ..." as the site files write it
    return yaml


def _flow(values: list) -> CommentedSeq:
    seq = CommentedSeq(values)
    seq.fa.set_flow_style()
    return seq


def _mm(value: float) -> float | int:
    """A coordinate rounded to the millimetre (integers written without a decimal point)."""
    rounded = round(float(value), 3)
    return int(rounded) if rounded.is_integer() else rounded


def _issue(site_file: Path, field: str, message: str, value: object = None) -> ConfigError:
    return ConfigError([ConfigIssue(str(site_file), field, message, value, value is not None)])


def preview_zone_edit(site_file: Path, edit: ZoneEditRequest) -> ZoneEditPreview:
    """The site file with ``edit`` applied, validated, and its diff; nothing is written.

    Raises:
        ConfigError: the edit makes the site invalid (names the field, e.g.
            ``zones[1].polygon``), the zone type does not match, a new zone has no type, or
            the file changed since ``edit.base_sha256``.
        OSError: the file cannot be read.
    """
    site_file = Path(site_file)
    old_text = site_file.read_text(encoding="utf-8")
    old_sha = text_sha256(old_text)
    if edit.base_sha256 is not None and edit.base_sha256 != old_sha:
        raise _issue(
            site_file, "base_sha256",
            "the site file changed since the editor loaded it; reload and edit again",
        )  # fmt: skip
    yaml = _yaml()
    document = yaml.load(old_text)
    old_config = parse_site_config(parse_yaml(old_text, str(site_file)), str(site_file))
    zones = document.get("zones")
    if not isinstance(zones, list):
        raise _issue(site_file, "zones", "the site file has no zones list to edit")
    polygon = _flow([_flow([_mm(x), _mm(y)]) for x, y in edit.polygon])
    index = next(
        (
            i
            for i, zone in enumerate(zones)
            if isinstance(zone, dict) and zone.get("id") == edit.zone_id
        ),
        None,
    )
    added = index is None
    if added:
        if edit.type is None:
            raise _issue(site_file, "type", f"zone {edit.zone_id!r} is new: give its type")
        zone = CommentedMap()
        zone["id"] = edit.zone_id
        zone["type"] = edit.type.value
        if edit.description:
            zone["description"] = edit.description
        zone["polygon"] = polygon
        zones.append(zone)
    else:
        zone = zones[index]
        if edit.type is not None and zone.get("type") != edit.type.value:
            raise _issue(
                site_file, f"zones[{index}].type",
                f"zone {edit.zone_id!r} is {zone.get('type')}; the editor does not change a "
                "zone's type (edit the file)", edit.type.value,
            )  # fmt: skip
        zone["polygon"] = polygon
        if edit.description is not None:
            zone["description"] = edit.description
    stream = io.StringIO()
    yaml.dump(document, stream)
    new_text = stream.getvalue()
    new_config = parse_site_config(parse_yaml(new_text, str(site_file)), str(site_file))
    diff = "".join(
        difflib.unified_diff(
            old_text.splitlines(keepends=True),
            new_text.splitlines(keepends=True),
            fromfile=f"{site_file.name} (saved)",
            tofile=f"{site_file.name} (edited)",
        )
    )
    return ZoneEditPreview(
        site_file, old_text, new_text, diff, old_sha,
        config_hash(old_config), config_hash(new_config), new_config, added, old_config,
    )  # fmt: skip


def save_zone_edit(preview: ZoneEditPreview) -> None:
    """Write the previewed text atomically, if the file is still what the preview read.

    A symlinked site file stays a link: the text replaces the file it points to.

    Raises:
        ConfigError: the file changed since the preview (nothing written).
        OSError: the file cannot be written (the old file is left as it was).
    """
    site_file = Path(os.path.realpath(preview.site_file))  # a link is written through
    current = site_file.read_text(encoding="utf-8")
    if text_sha256(current) != preview.old_sha256:
        raise _issue(
            site_file, "base_sha256",
            "the site file changed since the preview; nothing was written",
        )  # fmt: skip
    mode = site_file.stat().st_mode & 0o777
    handle, temporary = tempfile.mkstemp(prefix=f".{site_file.name}.", dir=site_file.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(preview.new_text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, site_file)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
