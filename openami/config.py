"""Frozen dataclass configs that validate themselves and round-trip to YAML.

Every component config subclasses `Config`. Unknown keys are an error naming the
key and its closest valid neighbour; nested configs are rebuilt from nested dicts.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from openami.atomic import atomic_write_text
from openami.registry import closest

C = TypeVar("C", bound="Config")


class ConfigError(ValueError):
    """A config file or dict that cannot be turned into a config."""


@dataclasses.dataclass(frozen=True)
class Config:
    """Base class: `from_dict`, `to_dict`, `replace`, YAML load and save."""

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any], where: str = "") -> C:
        if not isinstance(data, dict):
            raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        hints = typing.get_type_hints(cls)
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            path = f"{where}.{key}" if where else key
            if key not in fields:
                raise ConfigError(f"unknown config key {path!r}: {closest(key, list(fields))}")
            kwargs[key] = _coerce(hints[key], value, path)
        try:
            return cls(**kwargs)
        except TypeError as err:
            raise ConfigError(f"{where or cls.__name__}: {err}") from None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Config):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def replace(self: C, **changes: Any) -> C:
        return dataclasses.replace(self, **changes)

    def save_yaml(self, path: str | Path) -> None:
        atomic_write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def load_yaml(cls: type[C], path: str | Path) -> C:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
        return cls.from_dict(data, where=path.name)


def _coerce(hint: Any, value: Any, path: str) -> Any:
    """Turn a YAML value into the field's type (nested configs, tuples, floats)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        hint = args[0]
        origin = typing.get_origin(hint)
    if isinstance(hint, type) and issubclass(hint, Config):
        return hint.from_dict(value, where=path)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key {path!r} expects a list, got {value!r}")
        return tuple(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and not isinstance(value, hint):
        raise ConfigError(f"config key {path!r} expects {hint.__name__}, got {value!r}")
    return value


def check(condition: bool, message: str) -> None:
    """Raise ConfigError(message) unless condition holds; used in __post_init__."""
    if not condition:
        raise ConfigError(message)
