"""A registry is a dict with ``register()`` and a ``load(name)`` whose error lists what exists."""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from rewardsmith.errors import UnknownName

T = TypeVar("T")


def unknown_name_message(kind: str, name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3)
    msg = f"unknown {kind} {name!r}"
    if close:
        msg += f"; did you mean {', '.join(repr(c) for c in close)}?"
    return msg + f" Known: {', '.join(sorted(known)) or '(none)'}"


class Registry(Generic[T]):
    def __init__(self, kind: str, loader: Callable[[], None] | None = None):
        self.kind = kind
        self._items: dict[str, T] = {}
        self._loader = loader
        self._loaded = loader is None
        # threads (a benchmark's runs at once) must not see a half-loaded registry
        self._lock = threading.RLock()
        self._loading = False  # the loader runs (and may ask this registry itself)

    def _ensure(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded or self._loading:  # the loader itself asks
                return
            self._loading = True
            try:
                assert self._loader is not None
                self._loader()
                self._loaded = True
            finally:
                self._loading = False

    def register(self, name: str, item: T, *, replace: bool = False) -> T:
        if name in self._items and not replace:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = item
        return item

    def load(self, name: str) -> T:
        self._ensure()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownName(unknown_name_message(self.kind, name, list(self._items))) from None

    def names(self) -> list[str]:
        self._ensure()
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        self._ensure()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
