"""Paired embeddings: one home for the image and caption matrices of an evaluation set, their
normalisation, which image owns each caption, each image's first caption, and the quantities
every consumer derives from them (MG and Delta of moved text, the centroid distance).

Dense: meant for evaluation sets held in memory (the streaming pass of ``gapkit measure`` has its
own chunked sums)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Norms outside 2^-40 .. 2^40 are not trusted: a float32 row's squares overflow from |x| ~ 1.8e19
# and vanish below ~1e-19 (real CLIP x 1e30 had infinite norms, x 1e-30 zero ones). Such rows are
# scaled by an exact power of two first, which changes no bit of their direction; rows inside the
# range are normalised exactly as before (the same bits).
SAFE_NORM = (2.0**-40, 2.0**40)


def norms_in_range(n2: np.ndarray, squared: bool = True) -> np.ndarray:
    """(n,) True where a row's (squared) norm can be trusted; False for 0, NaN, Inf, tiny or huge."""
    lo, hi = (SAFE_NORM[0] ** 2, SAFE_NORM[1] ** 2) if squared else SAFE_NORM
    return (n2 >= lo) & (n2 <= hi)


def power_of_two_scaled(a: np.ndarray, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(a with each row in ``rows`` (bool (n,), default all) divided by 2^e, e: (n,) int) where e
    puts the row's largest |entry| in [0.5, 1); rows of zeros, NaN or Inf keep e = 0. Exact."""
    with np.errstate(invalid="ignore"):
        big = np.abs(a).max(axis=1) if a.shape[1] else np.zeros(len(a), a.dtype)
    usable = np.isfinite(big) & (big > 0) & (True if rows is None else rows)
    e = np.where(usable, np.frexp(np.where(usable, big, 1))[1], 0)
    return np.ldexp(a, -e[:, None]).astype(a.dtype, copy=False), e


def unit_rows(a, dtype=np.float64) -> np.ndarray:
    """Rows scaled to unit L2 norm, (n, d) -> (n, d), as ``dtype`` (None: the input's). The result
    does not depend on the rows' scale (see ``SAFE_NORM``)."""
    a = np.asarray(a) if dtype is None else np.asarray(a, dtype)
    with np.errstate(over="ignore", under="ignore"):
        norm = np.linalg.norm(a, axis=1, keepdims=True)
    ok = norms_in_range(norm[:, 0], squared=False)
    if not ok.all() and a.dtype.kind == "f":
        a = power_of_two_scaled(a, ~ok)[0]
        norm = np.linalg.norm(a, axis=1, keepdims=True)
    return a / norm


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
