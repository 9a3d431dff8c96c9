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
            rows.append(json.loads(line))
        except ValueError as e:
            raise GapkitError(f"{what} file {path}, line {k}: not valid JSON ({e})") from None
    return rows


def require(obj, key: str, where: str, path: Path):
    """``obj[key]``, or an error naming the missing field and the file."""
    if not isinstance(obj, dict) or key not in obj:
        raise GapkitError(f"Malformed {path}: {where} has no field {key!r}.")
    return obj[key]
