"""Data set loaders for official formats, behind one registry.

Every loader returns a ``PairedData``: images (ids, paths) and captions, with ``caption_image``
mapping each caption to its image (1 image : k captions is the norm, as in COCO)."""

from __future__ import annotations

from pathlib import Path

from .base import DATASETS, PairedData


def load_dataset(
    name: str, path: str | Path | None = None, split: str = "test", image_root: str | Path | None = None
) -> PairedData:
    """Load a paired image-caption data set by registry name (see ``gapkit ls datasets``)."""
    _register()
    return DATASETS.create(name, path=path, split=split, image_root=image_root)


def _register() -> None:
    from . import coco, pairs, shapes  # noqa: F401  (registration)


__all__ = ["DATASETS", "PairedData", "load_dataset"]
