"""Base model shared by every configuration and message model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A Pydantic model that rejects unknown fields and non-finite floats."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_default=True)
