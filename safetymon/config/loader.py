"""Load a site configuration from YAML with errors that name the file, field and value."""

from __future__ import annotations

import hashlib
import re
import reprlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from safetymon.config.safe_yaml import YamlLimitError, load_bounded, read_text_bounded
from safetymon.config.site import SiteConfig

M = TypeVar("M", bound=BaseModel)
_SHORT_REPR = reprlib.Repr()
_SHORT_REPR.maxlevel, _SHORT_REPR.maxlist, _SHORT_REPR.maxdict = 4, 8, 8
_SHORT_REPR.maxstring, _SHORT_REPR.maxother, _SHORT_REPR.maxlong = 120, 120, 60
_URL_PASSWORD = re.compile(r"(://[^:/@\s'\"]*:)[^@\s'\"]*@|(password=)[^&\s'\"]*")
"""A password inside a URL (``scheme://user:PASSWORD@`` or ``?password=...``)."""


def redact_passwords(text: str) -> str:
    """``text`` with any URL password replaced by ``***`` (error messages are shown and logged)."""
    def hide(match: re.Match[str]) -> str:
        return f"{match.group(1)}***@" if match.group(1) else f"{match.group(2)}***"

    return _URL_PASSWORD.sub(hide, text)


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
            shown = _SHORT_REPR.repr(self.value)  # bounded: a value may be a huge structure
            if len(shown) > 200:
                shown = shown[:197] + "..."
            text += f" (value: {redact_passwords(shown)})"
        return text


class ConfigError(Exception):
    """A configuration could not be loaded; `issues` lists every problem found."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))


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
    """Read a bounded YAML file (``safe_yaml``; raises ConfigError naming file and line).

    ``what`` names the kind of file in the "cannot read ..." message.
    """
    file = str(path)
    try:
        text = read_text_bounded(path)
    except YamlLimitError as error:
        raise ConfigError([ConfigIssue(file, "", f"cannot read {what}: {error.message}")]) from None
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigError([ConfigIssue(file, "", f"cannot read {what}: {reason}")]) from None
    return parse_yaml(text, file)


def parse_yaml(text: str, file: str = "<text>") -> Any:
    """Parse bounded YAML that may not repeat a key (raises ConfigError naming file and line):
    no alias bombs, recursive aliases, non-scalar keys, or parser exceptions (``safe_yaml``)."""
    try:
        return load_bounded(text)
    except YamlLimitError as error:
        raise ConfigError([ConfigIssue(file, error.where or "YAML", error.message)]) from None


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
