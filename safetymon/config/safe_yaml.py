"""Bounded YAML for site and calibration files: no bombs, no tracebacks.

A YAML document is a graph: an alias (``*name``) points back at an anchored node, so a
2.9 kB file of nested aliases describes a tree of billions of nodes. PyYAML builds it
sharing the aliased objects, but everything after it (validation, error messages, hashing)
walks the tree and takes minutes and gigabytes. Here, before anything is constructed, the
composed graph's *expanded* size is counted (linear time, each node once) and a document
beyond ``MAX_EXPANDED_NODES`` is refused; a recursive alias (a node inside itself) too.

Also refused, each as a :class:`YamlLimitError` with a line where there is one:

- a mapping key that is not a plain value (``? [a, b]``);
- a repeated key (PyYAML would keep the last one silently);
- nesting deeper than Python's parser allows, and any other failure of the parser or the
  value constructors (a 5000-digit integer, ...): never an exception of another type.

Reading a file (:func:`read_text_bounded`) refuses anything but a regular file (``/dev/zero``
never ends), files over ``MAX_FILE_BYTES``, and text that is not UTF-8 (a Latin-1 or UTF-16
file would otherwise be read with wrong characters or fail deep inside the parser).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

MAX_FILE_BYTES = 4 * 1024 * 1024
"""Largest configuration or calibration file read, bytes (real ones are a few kB)."""
MAX_EXPANDED_NODES = 200_000
"""Largest document, in YAML nodes with every alias expanded (a site file has hundreds)."""


class YamlLimitError(ValueError):
    """A YAML text or file that is refused; ``where`` is 'line L, column C' or ''."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.where = where


def _where(mark: yaml.Mark | None) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose mappings refuse repeated and non-scalar keys."""


def _construct_mapping(loader: _BoundedLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise YamlLimitError(
                "a mapping key must be a plain value, not a list or a mapping",
                _where(key_node.start_mark),
            )
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise YamlLimitError(f"duplicate key {key!r}", _where(key_node.start_mark))
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_BoundedLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def expanded_size(root: yaml.Node, limit: int = MAX_EXPANDED_NODES) -> int:
    """Nodes of the tree ``root`` stands for, every alias expanded; counted up to ``limit + 1``.

    Each distinct node is visited once (sizes are memoised), so a bomb costs its file size.

    Raises:
        YamlLimitError: a node contains itself (a recursive alias).
    """
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            on_path.discard(key)
            total = 1 + sum(sizes[id(child)] for child in _children(node))
            sizes[key] = min(total, limit + 1)
            continue
        if key in sizes:
            continue
        if key in on_path:
            where = _where(node.start_mark)
            raise YamlLimitError("a recursive alias (a node inside itself)", where)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return sizes[id(root)]


def load_bounded(text: str) -> Any:
    """Parse one YAML document within the limits above (None for an empty document).

    Raises:
        YamlLimitError: the text is refused (message, and 'line L, column C' where known).
    """
    if len(text) > MAX_FILE_BYTES:
        raise YamlLimitError(f"{len(text)} characters of YAML: more than {MAX_FILE_BYTES}")
    try:  # the reader checks the characters already when the loader is made
        loader = _BoundedLoader(text)
    except yaml.YAMLError as error:  # e.g. a control character: "special characters"
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        raise YamlLimitError(f"invalid YAML: {error}"[:300], _where(mark)) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = expanded_size(node)
        if size > MAX_EXPANDED_NODES:
            raise YamlLimitError(
                f"the document expands to more than {MAX_EXPANDED_NODES} nodes (YAML aliases "
                "repeating aliases?); write the values out"
            )
        return loader.construct_document(node)
    except YamlLimitError:
        raise
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        problem = getattr(error, "problem", None) or str(error)
        raise YamlLimitError(f"invalid YAML: {problem}", _where(mark)) from None
    except RecursionError:
        raise YamlLimitError("invalid YAML: nested too deeply") from None
    except Exception as error:  # a value constructor failing (e.g. a 5000-digit integer)
        detail = str(error)[:200]
        raise YamlLimitError(f"invalid YAML value: {type(error).__name__}: {detail}") from None
    finally:
        loader.dispose()


def read_text_bounded(path: str | Path) -> str:
    """The UTF-8 text of a regular file of at most ``MAX_FILE_BYTES``.

    Raises:
        YamlLimitError: not a regular file, too large, or not UTF-8 (naming the offset).
        OSError: the file cannot be opened or read.
    """
    with open(path, "rb") as file:
        mode = os.fstat(file.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise YamlLimitError("not a regular file (a device, pipe or folder?)")
        data = file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise YamlLimitError(f"larger than {MAX_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise YamlLimitError(
            f"not UTF-8 text: byte 0x{data[error.start]:02x} at offset {error.start} "
            "(save the file as UTF-8)"
        ) from None


__all__ = [
    "MAX_EXPANDED_NODES",
    "MAX_FILE_BYTES",
    "YamlLimitError",
    "expanded_size",
    "load_bounded",
    "read_text_bounded",
]
