"""A generic pairs file: CSV (columns ``image``, ``caption``) or JSONL ({"image", "caption"}).

Image paths are relative to the file's folder (or ``--image-root``). One row is one pair: rows
naming the same image become one image with several captions. The file is UTF-8 (a byte order
mark, as Excel writes, is fine); JSONL values are strings."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import GapkitError
from ..io import file_sha256
from ._json import describe, read_csv, read_jsonl_lines
from .base import DATASETS, PairedData


def _rows(path: Path) -> list[tuple[int, dict]]:
    """[(line number, row)] of the file, which must be UTF-8 (a byte order mark is fine)."""
    if path.suffix.lower() == ".csv":
        header, rows = read_csv(path, "Pairs")
        missing = {"image", "caption"} - set(header)
        if missing:
            raise GapkitError(
                f"{path}: CSV header needs columns image and caption (missing {', '.join(sorted(missing))})."
            )
        return rows
    if path.suffix.lower() in (".jsonl", ".json"):
        return read_jsonl_lines(path, "Pairs")
    raise GapkitError(f"Pairs file {path} must end in .csv or .jsonl.")


def _pair(path: Path, line: int, row: dict) -> tuple[str, str]:
    """(image, caption) of one row: two non-empty strings. One row is one pair: a JSON array of
    captions is refused (not embedded as the text "['a', 'b']"), with the way to give several."""
    for key in ("image", "caption"):
        value = row.get(key)
        if value is not None and not isinstance(value, str):
            hint = (
                "; give one row per caption (rows naming the same image become one image)"
                if key == "caption" and isinstance(value, list)
                else ""
            )
            raise GapkitError(f"{path}, line {line}: {key} is {describe(value)}, not a string{hint}.")
    image, caption = row.get("image"), row.get("caption")
    if not image or caption is None or not caption.strip():
        raise GapkitError(f"{path}, line {line}: needs a non-empty image and caption.")
    return image, caption.strip()


@DATASETS.register("pairs")
def pairs_file(path=None, split="all", image_root=None) -> PairedData:
    """CSV or JSONL of image path + caption, one pair per row (UTF-8)."""
    if path is None:
        raise GapkitError("Data set 'pairs' needs --data-path (a .csv or .jsonl file).")
    path = Path(path)
    if not path.is_file():
        raise GapkitError(f"Pairs file not found: {path}")
    root = Path(image_root) if image_root else path.parent
    index: dict[str, int] = {}
    caps, owner = [], []
    for line, row in _rows(path):
        image, caption = _pair(path, line, row)
        owner.append(index.setdefault(image, len(index)))
        caps.append(caption)
    if not caps:
        raise GapkitError(f"Pairs file {path} has no rows.")
    ids = list(index)
    return PairedData(
        "pairs",
        split,
        ids,
        [root / i for i in ids],
        caps,
        np.asarray(owner, np.int64),
        file_sha256(path),
        image_root=root,
    )
