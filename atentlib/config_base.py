"""The bases of every parameter schema: strict immutable models, the error a bad profile raises, and the common
fields of every defense config and every attack config (each plugin's own config class derives from these)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """Base: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ProfileError(ValueError):
    """A parameter file is missing, malformed, or holds a value outside what is allowed."""


class DefenseConfigBase(Strict):
    """Every defense may override the experiment's train section (e.g. its own lr or epochs)."""

    train: dict[str, Any] = Field(default_factory=dict, description="overrides of the experiment's train section")


class AttackConfigBase(Strict):
    """Fields of every attack of an evaluation suite."""

    name: str = Field(..., min_length=1, description="column name in tables, e.g. pgd20")
    eps: float = Field(..., ge=0, description="radius of the threat ball")
    n_examples: int | None = Field(None, ge=1, description="attack only the first n of the suite's examples (a slow "
                                   "attack on a subset); None: all of them")
