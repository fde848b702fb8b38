"""Registries of components by short name (worlds, encoders, planners, ...)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


def closest(name: str, choices: list[str]) -> str:
    """A hint naming the closest valid choice, or listing them all."""
    match = difflib.get_close_matches(name, choices, n=1)
    if match:
        return f"did you mean {match[0]!r}?"
    return f"valid choices: {', '.join(sorted(choices))}"


class Registry(Generic[T]):
    """A mapping from short names to factories, filled by a decorator."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            hint = closest(name, list(self._entries))
            raise KeyError(f"unknown {self.kind} {name!r}: {hint}") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
