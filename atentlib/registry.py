"""Plugin registries by `kind`: defenses keep one (atentlib.defenses), attacks another (atentlib.attacks).

A plugin is a small frozen record naming its `kind` and its pydantic config class (plus what the registry's owner
needs: how to build it, how to name it). Everything that lists or checks kinds reads the registry: the profile's
validation, error messages, the command line's help and the builders. Kinds keep their registration order, the
order in which messages and help texts list them.

A profile entry is validated as a discriminated union (on `kind`) of every registered config class would validate
it, with the same messages and locations (e.g. `defenses.atent_linf.atent_linf.K`), by `Registry.field_type()`.
"""
from __future__ import annotations

from typing import Annotated, Any, Generic, Protocol, TypeVar, Union

from pydantic import BaseModel, Field, PlainValidator, TypeAdapter


class Plugin(Protocol):
    kind: str
    config: type[BaseModel]


P = TypeVar("P", bound=Plugin)


class Registry(Generic[P]):
    """The plugins of one type (`what`: "defense", "attack") by kind, in registration order."""

    def __init__(self, what: str):
        self.what = what
        self._plugins: dict[str, P] = {}
        self._adapter: TypeAdapter | None = None

    def register(self, plugin: P) -> P:
        """Add a plugin; its config class must declare `kind: Literal[<its kind>]`. Returns the plugin."""
        kind = plugin.kind
        if kind in self._plugins:
            raise ValueError(f"{self.what} kind {kind!r} is already registered")
        field = plugin.config.model_fields.get("kind")
        if field is None or getattr(field.annotation, "__args__", None) != (kind,):
            raise ValueError(f"{self.what} kind {kind!r}: its config class {plugin.config.__name__} must declare "
                             f"kind: Literal[{kind!r}]")
        self._plugins[kind] = plugin
        self._adapter = None
        return plugin

    def unregister(self, kind: str) -> None:
        """Remove a plugin (a test that registered one cleans up after itself)."""
        del self._plugins[kind]
        self._adapter = None

    def __contains__(self, kind: object) -> bool:
        return kind in self._plugins

    def kinds(self) -> tuple[str, ...]:
        return tuple(self._plugins)

    def plugins(self) -> tuple[P, ...]:
        return tuple(self._plugins.values())

    def get(self, kind: str) -> P:
        """The plugin of `kind`; an unknown kind is a ValueError listing the allowed ones."""
        if kind not in self._plugins:
            raise ValueError(f"unknown {self.what} kind {kind!r}: allowed kinds are {', '.join(sorted(self._plugins))}")
        return self._plugins[kind]

    def validate(self, value: Any) -> BaseModel:
        """A profile entry (a mapping with `kind`) as its registered config class; pydantic's errors otherwise."""
        if self._adapter is None:
            members = tuple(p.config for p in self._plugins.values())
            union = Union[members] if len(members) > 1 else members[0]  # noqa: UP007 (a runtime tuple of classes)
            self._adapter = TypeAdapter(Annotated[union, Field(discriminator="kind")] if len(members) > 1 else union)
        return self._adapter.validate_python(value)

    def field_type(self) -> Any:
        """A type for pydantic fields holding one config of this registry (any kind registered, now or later)."""
        return Annotated[Any, PlainValidator(self.validate)]
