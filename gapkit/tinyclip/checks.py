"""Declarative checks of config values: each field of a config dataclass carries its ``Check`` in
its metadata (``checked(default, Check...)``), so what a key accepts is written next to the key,
and one loop (``check_fields``) validates every key with the same one-line message:
``KEY must be ALLOWED, got VALUE``."""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import GapkitError


class ConfigValueError(GapkitError, ValueError):
    """A config key with a value it does not accept (a ``ValueError`` too, for library callers)."""


@dataclass(frozen=True)
class Check:
    """What one key accepts: ``kind`` "int", "number" (finite; an int is fine), "bool", "choice"
    (one of ``choices``), "path" (a non-empty string) or "words" (a non-empty list of distinct
    strings); numbers within ``lo``/``hi`` (``open_lo``: ``lo`` itself excluded); ``optional``:
    null allowed too."""

    kind: str
    lo: float | None = None
    hi: float | None = None
    open_lo: bool = False
    choices: tuple = ()
    optional: bool = False

    def allowed(self) -> str:
        if self.kind == "bool":
            text = "true or false"
        elif self.kind == "choice":
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.kind == "path":
            text = "a path (a non-empty string)"
        elif self.kind == "words":
            text = "a non-empty list of distinct words"
        else:
            text = f"{_range(self)} ({'an integer' if self.kind == 'int' else 'a finite number'})"
        return f"{text} or null" if self.optional else text

    def accepts(self, v) -> bool:
        if v is None:
            return self.optional
        return _KINDS[self.kind](self, v)


def _range(c: Check) -> str:
    if c.lo is not None and c.hi is not None:
        return f"in {'(' if c.open_lo else '['}{_num(c.lo)}, {_num(c.hi)}]"
    if c.lo is not None:
        return f"{'>' if c.open_lo else '>='} {_num(c.lo)}"
    return f"<= {_num(c.hi)}" if c.hi is not None else "any value"


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _in_range(c: Check, v) -> bool:
    low_ok = c.lo is None or (v > c.lo if c.open_lo else v >= c.lo)
    return low_ok and (c.hi is None or v <= c.hi)


def _is_int(c: Check, v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and _in_range(c, v)


def _is_number(c: Check, v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and _in_range(c, v)


_KINDS: dict[str, Callable[[Check, object], bool]] = {
    "int": _is_int,
    "number": _is_number,
    "bool": lambda c, v: isinstance(v, bool),
    "choice": lambda c, v: any(type(v) is type(x) and v == x for x in c.choices),
    "path": lambda c, v: isinstance(v, str) and bool(v.strip()),
    "words": lambda c, v: (
        isinstance(v, list) and bool(v) and all(isinstance(w, str) and w for w in v) and len(set(v)) == len(v)
    ),
}


def checked(default, check: Check, factory: Callable | None = None):
    """A dataclass field whose metadata holds ``check``."""
    if factory is not None:
        return field(default_factory=factory, metadata={"check": check})
    return field(default=default, metadata={"check": check})


def problem(key: str, value, check: Check) -> str:
    """The one-line message for a value ``check`` refuses."""
    message = f"{key} must be {check.allowed()}, got {value!r}"
    if isinstance(value, str) and check.kind in ("int", "number") and _looks_numeric(value):
        message += " (YAML reads a number such as 1e-3 as text: write 1.0e-3)"
    return message + "."


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_fields(obj, prefix: str = "", table: dict[str, Check] | None = None) -> None:
    """Validate every field of the dataclass ``obj`` that has a check (in its metadata, or in
    ``table`` by field name); ``ConfigValueError`` naming ``prefix + key`` on the first bad value."""
    for f in dataclasses.fields(obj):
        check = (table or {}).get(f.name) or f.metadata.get("check")
        value = getattr(obj, f.name)
        if check is not None and not check.accepts(value):
            raise ConfigValueError(problem(prefix + f.name, value, check))


def check_keys(d, cls, prefix: str = "") -> None:
    """``d`` must be a mapping of ``cls``'s field names: one line naming the first unknown key,
    with a "did you mean" and the known keys."""
    if not isinstance(d, dict):
        where = prefix.rstrip(".") or "the config"
        raise ConfigValueError(f"{where} must be a mapping of keys, got {d!r}.")
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(d) - set(known), key=str)
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), known, n=1)
        hint = f" Did you mean: {prefix}{close[0]}?" if close else ""
        raise ConfigValueError(
            f"unknown key {prefix + str(unknown[0])!r}.{hint} Keys: {', '.join(prefix + k for k in known)}."
        )
