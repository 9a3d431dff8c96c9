"""Paired embeddings: one home for the image and caption matrices of an evaluation set, their
normalisation, which image owns each caption, each image's first caption, and the quantities
every consumer derives from them (MG and Delta of moved text, the centroid distance).

Dense: meant for evaluation sets held in memory (the streaming pass of ``gapkit measure`` has its
own chunked sums)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def unit_rows(a, dtype=np.float64) -> np.ndarray:
    """Rows scaled to unit L2 norm, (n, d) -> (n, d), as ``dtype`` (None: the input's)."""
    a = np.asarray(a) if dtype is None else np.asarray(a, dtype)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def first_caption(caption_image: np.ndarray, n_images: int) -> np.ndarray:
    """(n_images,) index of each image's first caption in caption order; -1 for an image without one."""
    owner = np.asarray(caption_image, np.int64)
    first = np.full(n_images, -1, np.int64)
    first[owner[::-1]] = np.arange(len(owner))[::-1]  # later writes win: the reversed order leaves the first
    return first


@dataclass(frozen=True)
class Paired:
    """Unit image rows (n_img, d), unit caption rows (n_cap, d) and each caption's image."""

    image: np.ndarray
    text: np.ndarray
    caption_image: np.ndarray

    @classmethod
    def from_raw(cls, image_emb, text_emb, caption_image=None) -> Paired:
        y = unit_rows(text_emb)
        owner = np.arange(len(y)) if caption_image is None else np.asarray(caption_image, np.int64)
        return cls(unit_rows(image_emb), y, owner)

    @property
    def x_of_caption(self) -> np.ndarray:
        """(n_cap, d) the image row of each caption."""
        return self.image[self.caption_image]

    @property
    def gap(self) -> np.ndarray:
        """mu_I - mu_T over images and captions (d,)."""
        return self.image.mean(0) - self.text.mean(0)

    @property
    def first_caption(self) -> np.ndarray:
        """(n_img,) each image's first caption (-1: none)."""
        return first_caption(self.caption_image, len(self.image))

    def first_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(image rows, their first captions) of the images that have a caption: a 1:1 pairing."""
        first = self.first_caption
        keep = np.flatnonzero(first >= 0)
        return self.image[keep], self.text[first[keep]]

    def mg(self, moved_text: np.ndarray | None = None) -> float:
        """CLOSE's MG: mean cos(image, moved caption) over the pairs (moved_text: unit (n_cap, d),
        default the captions themselves)."""
        t = self.text if moved_text is None else moved_text
        return float(np.einsum("ij,ij->i", self.x_of_caption, t).mean())

    def delta(self, moved_text: np.ndarray) -> float:
        """CLOSE's Delta: mean cos(caption, moved caption)."""
        return float(np.einsum("ij,ij->i", self.text, moved_text).mean())

    def centroid_distance(self, moved_text: np.ndarray | None = None) -> float:
        """|mean image - mean (moved) caption| over the pairs (each image weighted by its captions)."""
        t = self.text if moved_text is None else moved_text
        return float(np.linalg.norm(self.x_of_caption.mean(0) - t.mean(0)))
