"""The model manifest (`models/manifest.yaml`) and the SHA-256 check of model files.

safetymon never downloads a model: a model is a file the operator puts in the models folder
and lists in the manifest with its SHA-256; a missing file or a different hash is refused.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from safetymon.config.base import StrictModel
from safetymon.perception.detectors.base import DetectorError

MANIFEST_NAME = "manifest.yaml"


class ModelError(DetectorError):
    """A model cannot be used: not listed, file missing, hash differs, or bad manifest."""


class ModelEntry(StrictModel):
    """One model file in the models folder."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", description="Name in configs.")
    file: str = Field(description="File name inside the models folder (.pt or .onnx).")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Lower-case hex SHA-256.")
    task: Literal["detect", "pose"] = Field(
        "detect", description="detect: boxes; pose: boxes and 17 COCO keypoints."
    )
    classes: list[str] = Field(min_length=1, description="Class names in output order.")
    input_size: tuple[int, int] = Field(description="Network input (width, height) in pixels.")

    @field_validator("file")
    @classmethod
    def _plain_file(cls, file: str) -> str:
        path = Path(file)
        if path.name != file or file in {".", ".."}:
            raise ValueError(f"must be a file name inside the models folder, got {file!r}")
        if path.suffix not in {".pt", ".onnx"}:
            raise ValueError(f"must end in .pt or .onnx, got {file!r}")
        return file

    @field_validator("input_size")
    @classmethod
    def _input_size(cls, size: tuple[int, int]) -> tuple[int, int]:
        if any(value < 32 or value % 32 for value in size):
            raise ValueError(f"must be multiples of 32 and at least 32, got {size}")
        return size

    @model_validator(mode="after")
    def _has_person(self) -> ModelEntry:
        if "person" not in self.classes:
            raise ValueError("classes do not include 'person'")
        if self.task == "pose" and self.classes != ["person"]:
            raise ValueError("a pose model's classes must be ['person']")
        return self

    @property
    def person_class(self) -> int:
        """Index of the person class in the model's output."""
        return self.classes.index("person")


class ModelManifest(StrictModel):
    """Every model the models folder may hold."""

    models: list[ModelEntry] = Field(default_factory=list)

    @field_validator("models")
    @classmethod
    def _unique(cls, models: list[ModelEntry]) -> list[ModelEntry]:
        names = [model.name for model in models]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"model names listed twice: {', '.join(twice)}")
        return models


def file_sha256(path: Path) -> str:
    """Lower-case hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_manifest(models_dir: Path) -> ModelManifest:
    """Read `models_dir/manifest.yaml`; raise ModelError naming the file and field."""
    path = Path(models_dir) / MANIFEST_NAME
    if not path.is_file():
        raise ModelError(f"{path}: model manifest not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ModelError(f"{path}: cannot read the manifest: {error}") from error
    try:
        return ModelManifest.model_validate(data or {})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}"
            f" (value: {issue.get('input')!r})"
            for issue in error.errors()
        )
        raise ModelError(f"{path}: {problems}") from error


def resolve_model(name: str, models_dir: Path) -> tuple[ModelEntry, Path]:
    """The manifest entry and checked file path of model `name`.

    Raises:
        ModelError: the name is not in the manifest, the file is missing (the message says
            where to put it), or its SHA-256 differs from the manifest's.
    """
    models_dir = Path(models_dir)
    manifest = load_manifest(models_dir)
    entry = next((model for model in manifest.models if model.name == name), None)
    if entry is None:
        known = ", ".join(model.name for model in manifest.models) or "none"
        raise ModelError(f"model {name!r} is not in {models_dir / MANIFEST_NAME} (listed: {known})")
    path = models_dir / entry.file
    if not path.is_file():
        raise ModelError(
            f"model {name!r}: file {path} is missing; put the model file there (safetymon "
            f"never downloads models) and check its SHA-256 is {entry.sha256}"
        )
    actual = file_sha256(path)
    if actual != entry.sha256:
        raise ModelError(
            f"model {name!r}: file {path} has SHA-256 {actual}, but the manifest says "
            f"{entry.sha256}; refusing a model that differs from the commissioned one"
        )
    return entry, path
