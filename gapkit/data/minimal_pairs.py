"""Counterfactual minimal pairs: (image_a, image_b, caption_a, caption_b, attribute[, change]), one
pair per row of a JSONL or CSV file (``change`` names the specific change, e.g. "dog->cat"); image
paths relative to the file's folder (or ``image_root``). The
shapes world writes ``minimal_pairs.jsonl``; real users write the same columns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import GapkitError
from ..io import file_sha256
from ._json import read_csv, read_jsonl

COLUMNS = ("image_a", "image_b", "caption_a", "caption_b", "attribute")


@dataclass
class MinimalPairs:
    image_a: list[Path]
    image_b: list[Path]
    caption_a: list[str]
    caption_b: list[str]
    attribute: list[str]
    change: list[str]  # the specific change ("red->blue"); the attribute when the file has none
    fingerprint: str
    image_root: Path | None = None  # the folder image paths were resolved against


def load_minimal_pairs(path: str | Path, image_root: str | Path | None = None) -> MinimalPairs:
    path = Path(path)
    if not path.is_file():
        raise GapkitError(f"Minimal pairs file not found: {path}")
    if path.suffix.lower() == ".csv":
        rows = [row for _, row in read_csv(path, "Minimal pairs")[1]]
    else:
        rows = read_jsonl(path, "minimal pairs")
    if not rows:
        raise GapkitError(f"{path} holds no minimal pairs.")
    for k, r in enumerate(rows, 1):
        missing = [c for c in COLUMNS if not r.get(c)]
        if missing:
            raise GapkitError(
                f"{path}, row {k}: missing {', '.join(missing)} (columns: {', '.join(COLUMNS)})."
            )
    root = Path(image_root) if image_root else path.parent
    col = lambda c: [r[c] for r in rows]
    change = [r.get("change") or r["attribute"] for r in rows]  # optional column
    return MinimalPairs(
        [root / p for p in col("image_a")],
        [root / p for p in col("image_b")],
        col("caption_a"),
        col("caption_b"),
        col("attribute"),
        change,
        file_sha256(path),
        root,
    )
