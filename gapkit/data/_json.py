"""Reading annotation files with errors that name the file and the problem."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import GapkitError


def read_json(path: Path, what: str):
    path = Path(path)
    if not path.is_file():
        raise GapkitError(f"{what} file not found: {path}")
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise GapkitError(f"{what} file {path} is not valid JSON: {e}") from None


def read_jsonl(path: Path, what: str) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise GapkitError(f"{what} file not found: {path}")
    rows = []
    for k, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            raise GapkitError(f"{what} file {path}, line {k}: not valid JSON ({e})") from None
        if not isinstance(row, dict):
            raise GapkitError(
                f"{what} file {path}, line {k}: expected one JSON object per line, got a {_json_type(row)}."
            )
        rows.append(row)
    return rows


def _json_type(value) -> str:
    names = {
        list: "JSON array",
        str: "string",
        type(None): "null",
        bool: "boolean",
        int: "number",
        float: "number",
        dict: "JSON object",
    }
    return names.get(type(value), type(value).__name__)


def require(obj, key: str, where: str, path: Path):
    """``obj[key]``, or an error naming the missing field and the file."""
    if not isinstance(obj, dict) or key not in obj:
        raise GapkitError(f"Malformed {path}: {where} has no field {key!r}.")
    return obj[key]


def require_str(obj, key: str, where: str, path: Path) -> str:
    """``obj[key]`` when it is a string (a caption, a file name), else an error naming it."""
    value = require(obj, key, where, path)
    if not isinstance(value, str):
        raise GapkitError(f"Malformed {path}: {where}.{key} is {_json_type(value)}, not a string.")
    return value


def require_list(obj, key: str, where: str, path: Path) -> list:
    value = require(obj, key, where, path)
    if not isinstance(value, list):
        raise GapkitError(f"Malformed {path}: {where}.{key} is {_json_type(value)}, not a list.")
    return value
