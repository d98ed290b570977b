"""One generic name -> entry registry, the timm way (``list_x`` / ``create_x`` are built on it)."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from attrbench.errors import unknown_name_error

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from snake_case names to entries (usually frozen spec dataclasses).

    Registration is explicit and a name can be registered only once.

    Args:
        kind: human name of what is registered ("method", "model", ...), used in error messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        """Add ``entry`` under ``name``; raise ``KeyError`` if the name is taken."""
        if name in self._entries:
            raise KeyError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> T:
        """Remove and return the entry ``name`` (``KeyError`` if absent)."""
        return self._entries.pop(name)

    def decorator(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`register`."""

        def wrap(entry: T) -> T:
            return self.register(name, entry)

        return wrap

    def get(self, name: str) -> T:
        """Return the entry for ``name`` or raise :class:`~attrbench.errors.AttrbenchError`
        listing the valid names with fuzzy suggestions."""
        try:
            return self._entries[name]
        except KeyError:
            raise unknown_name_error(self.kind, name, self._entries) from None

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted names matching a shell-style ``pattern`` (``"smooth*"``)."""
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)
