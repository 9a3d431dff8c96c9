"""Sufficient statistics of paired embeddings, accumulated in one streaming pass, for the point
estimate and every bootstrap replicate at once.

Bootstrap: each image draws a Poisson(1) weight per replicate (the streaming "online" bootstrap);
its captions inherit it, so resampling is by image cluster. Weights come from a generator keyed
by (seed, block of BLOCK images), so they do not depend on the chunk size. Replicate 0 is the
point estimate (all weights 1). Arrays carry a leading replicate axis R.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

BLOCK = 4096


def poisson_weights(seed: int, reps: int, start: int, stop: int) -> np.ndarray:
    """(1 + reps, stop - start) float64: row 0 all ones, rows 1.. Poisson(1) per image."""
    out = np.ones((1 + reps, stop - start))
    if reps == 0:
        return out
    b0, b1 = start // BLOCK, (stop - 1) // BLOCK
    blocks = [np.random.default_rng([seed, 2024, b]).poisson(1.0, (reps, BLOCK)) for b in range(b0, b1 + 1)]
    w = np.concatenate(blocks, axis=1)
    out[1:] = w[:, start - b0 * BLOCK: stop - b0 * BLOCK]
    return out


@dataclass
class Sums:
    """Weighted sums; every field has a leading replicate axis R (vectors: (R, d))."""

    n_img: np.ndarray  # sum w_i  (rows of the resampled set)
    sx: np.ndarray  # sum w_i x_i         (R, d)
    qx: np.ndarray  # sum w_i |x_i|^2     (self-pairs to remove from |sx|^2)
    n_cap: np.ndarray  # sum over captions of w_i(j)
    n_cap_sq: np.ndarray  # sum w_i(j)^2  (copies of a true pair are still a true pair)
    sy: np.ndarray  # sum w y_j           (R, d)
    qy: np.ndarray  # sum w |y_j|^2
    sxp: np.ndarray  # sum w x_i(j) (image side of each pair)  (R, d)
    p1: np.ndarray  # sum w x.y over pairs
    p2: np.ndarray  # sum w (x.y)^2
    p1_sq: np.ndarray  # sum w^2 x.y      (paired terms inside sx.sy, for the unpaired mean)
    l2i: np.ndarray  # sum w |x - y|
    dd: np.ndarray  # sum w |x - y|^2

    @classmethod
    def zeros(cls, reps: int, d: int) -> Sums:
        r = 1 + reps
        vec = {"sx", "sy", "sxp"}
        return cls(**{f.name: np.zeros((r, d)) if f.name in vec else np.zeros(r) for f in fields(cls)})

    def add_images(self, x: np.ndarray, w: np.ndarray) -> None:
        """x (c, d) unit rows, w (R, c) weights."""
        self.n_img += w.sum(1)
        self.sx += w @ x
        self.qx += w @ np.einsum("cd,cd->c", x, x)

    def add_pairs(self, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> None:
        """x (c, d) the image of each caption, y (c, d) the captions, w (R, c) their image weights."""
        xy = np.einsum("cd,cd->c", x, y)
        diff = x - y
        d2 = np.einsum("cd,cd->c", diff, diff)
        self.n_cap += w.sum(1)
        self.n_cap_sq += (w * w).sum(1)
        self.sy += w @ y
        self.qy += w @ np.einsum("cd,cd->c", y, y)
        self.sxp += w @ x
        self.p1 += w @ xy
        self.p2 += w @ (xy * xy)
        self.p1_sq += (w * w) @ xy
        self.l2i += w @ np.sqrt(np.maximum(d2, 0))
        self.dd += w @ d2
