"""Reading annotation files with errors that name the file and the problem."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..errors import GapkitError


def read_text(path: Path, what: str) -> str:
    """The file as text: UTF-8, with or without the byte order mark Excel and Notepad write
    (``utf-8-sig``). Another encoding (Latin-1, UTF-16, cp1252) is a one-line error naming the
    file and the first byte that is not UTF-8, never a silently garbled caption."""
    path = Path(path)
    if not path.is_file():
        raise GapkitError(f"{what} file not found: {path}")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise GapkitError(
            f"{what} file {path} is not UTF-8 text: byte 0x{raw[e.start]:02x} on line {line} "
            "(Latin-1 or another legacy encoding?); save it as UTF-8."
        ) from None


def read_csv(path: Path, what: str) -> tuple[list[str], list[tuple[int, dict]]]:
    """(header, [(line number, row dict)]) of a UTF-8 CSV file with a header line."""
    text = read_text(path, what)
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = list(reader.fieldnames or [])
        return header, [(reader.line_num, row) for row in reader]
    except csv.Error as e:
        raise GapkitError(f"{what} file {path}, line {reader.line_num}: not valid CSV ({e}).") from None


def read_json(path: Path, what: str):
    path = Path(path)
    text = read_text(path, what)
    try:
        return json.loads(text)
    except ValueError as e:
        raise GapkitError(f"{what} file {path} is not valid JSON: {e}") from None


def read_jsonl(path: Path, what: str) -> list[dict]:
    return [row for _, row in read_jsonl_lines(path, what)]


def read_jsonl_lines(path: Path, what: str) -> list[tuple[int, dict]]:
    """[(line number, object)] of a JSON Lines file (blank lines skipped)."""
    path = Path(path)
    rows = []
    # split on newlines only: splitlines would also break at U+2028, which JSON strings may hold
    for k, line in enumerate(read_text(path, what).split("\n"), 1):
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
        rows.append((k, row))
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


def describe(value) -> str:
    """What a JSON value is, for errors: "null", "a JSON array", "a number", ..."""
    t = _json_type(value)
    return t if t == "null" else f"a {t}"


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
