"""Load a site configuration from YAML with errors that name the file, field and value."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from safetymon.config.site import SiteConfig

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class ConfigIssue:
    """One problem found in a configuration file."""

    file: str
    field: str
    message: str
    value: Any = None
    has_value: bool = False

    def __str__(self) -> str:
        text = f"{self.file}: {self.field or '(top level)'}: {self.message}"
        if self.has_value:
            shown = repr(self.value)
            if len(shown) > 200:
                shown = shown[:197] + "..."
            text += f" (value: {shown})"
        return text


class ConfigError(Exception):
    """A configuration could not be loaded; `issues` lists every problem found."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML SafeLoader that refuses duplicate mapping keys instead of keeping the last."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def format_location(location: tuple[int | str, ...]) -> str:
    """Turn a Pydantic error location into a field path such as ``zones[1].polygon``."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith(("function-", "tagged-union")) or part in {"int", "str"}:
            continue  # union/validator branch markers, not fields
        else:
            path += f".{part}" if path else part
    return path


def issues_from_validation(error: ValidationError, file: str) -> list[ConfigIssue]:
    """One ConfigIssue per Pydantic error, deduplicated across union branches."""
    issues: list[ConfigIssue] = []
    seen: set[tuple[str, str]] = set()
    for item in error.errors(include_url=False):
        field = format_location(item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if (field, message) in seen:
            continue
        seen.add((field, message))
        has_value = item["type"] != "missing"
        issues.append(ConfigIssue(file, field, message, item.get("input"), has_value))
    return issues


def validate_model(model: type[M], data: Any, file: str) -> M:
    """Validate parsed YAML/JSON data as ``model`` (raises ConfigError naming file and field)."""
    if not isinstance(data, dict):
        raise ConfigError(
            [ConfigIssue(file, "", "expected a mapping at the top level", data, True)]
        )
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ConfigError(issues_from_validation(error, file)) from None


def read_yaml(path: str | Path, what: str = "file") -> Any:
    """Read a YAML file that may not repeat a key (raises ConfigError naming file and line).

    ``what`` names the kind of file in the "cannot read ..." message.
    """
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigError([ConfigIssue(file, "", f"cannot read {what}: {reason}")]) from None
    return parse_yaml(text, file)


def parse_yaml(text: str, file: str = "<text>") -> Any:
    """Parse YAML text that may not repeat a key (raises ConfigError naming file and line)."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError([ConfigIssue(file, where, f"invalid YAML: {problem}")]) from None


def parse_site_config(data: Any, file: str = "<config>") -> SiteConfig:
    """Validate already-parsed YAML/JSON data as a site config (raises ConfigError)."""
    return validate_model(SiteConfig, data, file)


def load_site_config(path: str | Path) -> SiteConfig:
    """Read and validate a YAML site file (raises ConfigError naming file, field and value)."""
    return parse_site_config(read_yaml(path), str(path))


def config_hash(config: SiteConfig) -> str:
    """SHA-256 of the config's canonical JSON (recorded with evidence)."""
    canonical = config.model_dump_json(exclude_none=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
