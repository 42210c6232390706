"""The models manifest and the SHA-256 check on real files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from safetymon.perception.models import (
    ModelError,
    file_sha256,
    load_manifest,
    resolve_model,
)
from tests.conftest import REPO

ENTRY = {
    "name": "people-v1",
    "file": "people.onnx",
    "sha256": "0" * 64,
    "task": "detect",
    "classes": ["person", "car"],
    "input_size": [640, 640],
}


def _folder(tmp_path: Path, entries: list[dict], payload: bytes | None = b"model") -> Path:
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump({"models": entries}))
    if payload is not None:
        (tmp_path / "people.onnx").write_bytes(payload)
    return tmp_path


def test_the_shipped_manifest_is_valid() -> None:
    manifest = load_manifest(REPO / "models")
    assert all(entry.file for entry in manifest.models)


def test_a_listed_file_with_the_right_hash_resolves(tmp_path: Path) -> None:
    entry = dict(ENTRY, sha256=hashlib.sha256(b"model").hexdigest())
    found, path = resolve_model("people-v1", _folder(tmp_path, [entry]))
    assert path == tmp_path / "people.onnx"
    assert found.person_class == 0 and found.input_size == (640, 640)
    assert file_sha256(path) == entry["sha256"]


def test_a_missing_file_says_where_to_put_it(tmp_path: Path) -> None:
    folder = _folder(tmp_path, [ENTRY], payload=None)
    with pytest.raises(ModelError) as error:
        resolve_model("people-v1", folder)
    message = str(error.value)
    assert str(folder / "people.onnx") in message and "put the model file there" in message
    assert "never downloads" in message


def test_a_different_hash_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"people\.onnx has SHA-256 [0-9a-f]{64}, but"):
        resolve_model("people-v1", _folder(tmp_path, [ENTRY]))


def test_an_unlisted_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"'yolo' is not in .*listed: people-v1"):
        resolve_model("yolo", _folder(tmp_path, [ENTRY]))


def test_a_missing_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="manifest not found"):
        resolve_model("people-v1", tmp_path)


@pytest.mark.parametrize(
    ("change", "field", "value"),
    [
        ({"file": "../people.onnx"}, "models.0.file", "../people.onnx"),
        ({"file": "people.tflite"}, "models.0.file", "people.tflite"),
        ({"sha256": "ABC"}, "models.0.sha256", "ABC"),
        ({"classes": ["car"]}, "models.0", "car"),
        ({"task": "pose"}, "models.0", "pose"),
        ({"input_size": [641, 640]}, "models.0.input_size", "641"),
        ({"weights": "x"}, "models.0.weights", "x"),
    ],
)
def test_bad_entries_name_the_field_and_value(
    tmp_path: Path, change: dict, field: str, value: str
) -> None:
    with pytest.raises(ModelError) as error:
        load_manifest(_folder(tmp_path, [dict(ENTRY, **change)]))
    message = str(error.value)
    assert str(tmp_path / "manifest.yaml") in message
    assert field in message and value in message


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="listed twice: people-v1"):
        load_manifest(_folder(tmp_path, [ENTRY, ENTRY]))
