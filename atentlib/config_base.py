"""The base of every parameter schema: unknown keys are errors, instances are immutable."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Base: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ProfileError(ValueError):
    """A parameter file is missing, malformed, or holds a value outside what is allowed."""
