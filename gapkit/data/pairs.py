"""A generic pairs file: CSV (columns ``image``, ``caption``) or JSONL ({"image", "caption"}).

Image paths are relative to the file's folder (or ``--image-root``). Rows naming the same image
become one image with several captions."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import GapkitError
from ..io import file_sha256
from . import DATASETS, PairedData
from ._json import read_jsonl


def _rows(path: Path) -> list[dict]:
    if path.suffix.lower() == ".csv":
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            missing = {"image", "caption"} - set(reader.fieldnames or [])
            if missing:
                raise GapkitError(
                    f"{path}: CSV header needs columns image and caption "
                    f"(missing {', '.join(sorted(missing))})."
                )
            return list(reader)
    if path.suffix.lower() in (".jsonl", ".json"):
        return read_jsonl(path, "pairs")
    raise GapkitError(f"Pairs file {path} must end in .csv or .jsonl.")


@DATASETS.register("pairs")
def pairs_file(path=None, split="all", image_root=None) -> PairedData:
    """CSV or JSONL of image path + caption, one pair per row."""
    if path is None:
        raise GapkitError("Data set 'pairs' needs --data-path (a .csv or .jsonl file).")
    path = Path(path)
    if not path.is_file():
        raise GapkitError(f"Pairs file not found: {path}")
    root = Path(image_root) if image_root else path.parent
    index: dict[str, int] = {}
    caps, owner = [], []
    for k, row in enumerate(_rows(path), 1):
        image, caption = row.get("image"), row.get("caption")
        if not image or caption is None or not str(caption).strip():
            raise GapkitError(f"{path}, row {k}: needs a non-empty image and caption.")
        owner.append(index.setdefault(image, len(index)))
        caps.append(str(caption).strip())
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
