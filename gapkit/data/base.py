"""The data sets' registry and the one type every loader returns (the loaders import it from here,
so the package's ``__init__`` and its loaders never import each other)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._registry import Registry

DATASETS: Registry = Registry("dataset", ls_hint="datasets")


@dataclass
class PairedData:
    name: str
    split: str
    image_ids: list[str]
    image_paths: list[Path]
    captions: list[str]
    caption_image: np.ndarray  # (n_captions,) int64, index into image_ids
    fingerprint: str  # identifies the annotation source (file sha256, world identity)
    extra: dict = field(default_factory=dict)
    image_root: Path | None = None  # the folder image paths were resolved against (provenance, cache key)

    @property
    def n_images(self) -> int:
        return len(self.image_ids)

    @property
    def n_captions(self) -> int:
        return len(self.captions)

    def identity(self) -> dict:
        return {"dataset": self.name, "split": self.split, "fingerprint": self.fingerprint}

    def first_caption_per_image(self) -> np.ndarray:
        """(n_images,) index of each image's first caption."""
        first = np.full(self.n_images, -1, dtype=np.int64)
        for j in range(self.n_captions - 1, -1, -1):
            first[self.caption_image[j]] = j
        return first

    def subset(self, n_images: int) -> PairedData:
        """The first ``n_images`` images and their captions."""
        keep = self.caption_image < n_images
        return PairedData(
            self.name,
            self.split,
            self.image_ids[:n_images],
            self.image_paths[:n_images],
            [c for c, k in zip(self.captions, keep) if k],
            self.caption_image[keep],
            f"{self.fingerprint}:first{n_images}",
            dict(self.extra),
            self.image_root,
        )
