"""Checks for the option mappings inside a config (adapter_options, task_options, decoder_options,
data_files, data_patterns), so a typo or a bad value fails when the config is read, with a
"did you mean", not later inside a run."""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable

from .errors import GapkitError

# option name -> (type, minimum or None): the types options are declared with
Spec = dict[str, tuple[type, float | None]]


def check_mapping(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise GapkitError(f"{where} must be a mapping of option names to values, got {value!r}.")
    return value


def check_keys(given: dict, allowed: Iterable[str], where: str, owner: str) -> None:
    """Every key of ``given`` is in ``allowed``; else name the first unknown one, with a suggestion."""
    allowed = sorted(allowed)
    for key in given:
        if key in allowed:
            continue
        if not allowed:
            raise GapkitError(f"{where}: {owner} takes no options, got {key!r}.")
        close = difflib.get_close_matches(str(key), allowed, n=1)
        hint = f" Did you mean: {close[0]}?" if close else ""
        raise GapkitError(
            f"{where}: unknown option {key!r} for {owner}.{hint} Options: {', '.join(allowed)}."
        )


def check_value(value, kind: type, minimum: float | None, where: str) -> None:
    """``value`` is of ``kind`` (float: any finite real; int: an integer; str: non-empty; bool: true or
    false) and >= minimum."""
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is str:
        ok = isinstance(value, str) and value != ""
    elif kind is int:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    else:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok:
        raise GapkitError(f"{where} must be {_describe(kind)}, got {value!r}.")
    if minimum is not None and value < minimum:
        raise GapkitError(f"{where} must be >= {minimum}, got {value!r}.")


def check_options(given, spec: Spec, where: str, owner: str) -> None:
    """Keys against ``spec``, then each value against its declared type and minimum."""
    check_keys(check_mapping(given, where), spec, where, owner)
    for key, value in given.items():
        check_value(value, *spec[key], f"{where}.{key}")


def _describe(kind: type) -> str:
    return {str: "a non-empty string", int: "an integer", bool: "true or false"}.get(kind, "a finite number")
