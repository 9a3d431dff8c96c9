"""One small registry used for every name-addressable thing (encoders, worlds, adapters, tasks,
metrics, executors, datasets). Unknown names raise with a "did you mean" suggestion; ``create``
builds an entry from options and names the accepted ones when an option is wrong."""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from .errors import GapkitError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps lowercase-with-hyphens names to objects (usually classes or factories).

    Parameters
    ----------
    kind : str
        What the registry holds, used in error messages ("adapter", "encoder").
    ls_hint : str
        The ``gapkit ls`` topic that lists the names.
    """

    def __init__(self, kind: str, ls_hint: str | None = None) -> None:
        self.kind = kind
        self.ls_hint = ls_hint or f"{kind}s"
        self._items: dict[str, T] = {}
        self._docs: dict[str, str] = {}

    def register(self, name: str, doc: str | None = None) -> Callable[[T], T]:
        """Decorator: ``@REG.register("name")``."""

        def deco(obj: T) -> T:
            self.add(name, obj, doc)
            return obj

        return deco

    def add(self, name: str, obj: T, doc: str | None = None) -> None:
        if name != name.lower() or " " in name or "_" in name:
            raise ValueError(f"registry names are lowercase-with-hyphens, got {name!r}")
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = obj
        first_line = (doc or getattr(obj, "__doc__", None) or "").strip().splitlines()
        self._docs[name] = first_line[0] if first_line else ""

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def create(self, name: str, **options):
        """The entry ``name`` called with ``options``. Options are bound to its signature first, so
        a wrong one is a one-line error naming those accepted, and errors raised inside the call
        are not mistaken for bad options."""
        factory = self.get(name)
        signature = inspect.signature(factory)
        try:
            signature.bind(**options)
        except TypeError as e:
            accepted = ", ".join(signature.parameters) or "none"
            raise GapkitError(
                f"Bad parameters for {self.kind} {name!r}: {e}. Accepted: {accepted}."
            ) from None
        return factory(**options)

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, self._items, n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        return (
            f"Unknown {self.kind} {name!r}.{hint} "
            f"Known: {', '.join(sorted(self._items))}. See `gapkit ls {self.ls_hint}`."
        )

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._items if fnmatch.fnmatch(n, pattern))

    def doc(self, name: str) -> str:
        return self._docs[self.get(name) and name]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
