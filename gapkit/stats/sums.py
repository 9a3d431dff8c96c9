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

from ..streams import stream

BLOCK = 4096


def poisson_weights(seed: int, reps: int, start: int, stop: int) -> np.ndarray:
    """(1 + reps, stop - start) float64: row 0 all ones, rows 1.. Poisson(1) per image."""
    out = np.ones((1 + reps, stop - start))
    if reps == 0:
        return out
    b0, b1 = start // BLOCK, (stop - 1) // BLOCK
    blocks = [stream(seed, "bootstrap-weights", b).poisson(1.0, (reps, BLOCK)) for b in range(b0, b1 + 1)]
    w = np.concatenate(blocks, axis=1)
    out[1:] = w[:, start - b0 * BLOCK : stop - b0 * BLOCK]
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

    def __iadd__(self, other: Sums) -> Sums:
        """Merge another part's sums (every field is a plain sum over rows)."""
        for f in fields(self):
            getattr(self, f.name).__iadd__(getattr(other, f.name))
        return self

    @classmethod
    def zeros(cls, reps: int, d: int) -> Sums:
        r = 1 + reps
        vec = {"sx", "sy", "sxp"}
        return cls(**{f.name: np.zeros((r, d)) if f.name in vec else np.zeros(r) for f in fields(cls)})

    def add_images(self, x: np.ndarray, w: np.ndarray, q: np.ndarray) -> np.ndarray:
        """x (c, d) rows, w (R, c) float32 weights, q (c,) |x|^2 (float64). Returns the weighted
        sum of x (R, d), which is also the image side of 1:1 pairs."""
        w64 = w.astype(np.float64)
        sx = weighted_sum(w, x)
        self.n_img += w64.sum(1)
        self.sx += sx
        self.qx += w64 @ q
        return sx

    def add_pairs(
        self, y: np.ndarray, w: np.ndarray, sxp: np.ndarray, qy: np.ndarray, xy: np.ndarray, d2: np.ndarray
    ) -> None:
        """y (c, d) the captions, w (R, c) their images' weights, sxp (R, d) the weighted sum of the
        image side, and per pair (float64, (c,)): |y|^2, x.y and |x - y|^2."""
        w64 = w.astype(np.float64)
        self.n_cap += w64.sum(1)
        self.n_cap_sq += (w64 * w64).sum(1)
        self.sy += weighted_sum(w, y)
        self.qy += w64 @ qy
        self.sxp += sxp
        self.p1 += w64 @ xy
        self.p2 += w64 @ (xy * xy)
        self.p1_sq += (w64 * w64) @ xy
        self.l2i += w64 @ np.sqrt(np.maximum(d2, 0))
        self.dd += w64 @ d2


SUM_BLOCK = 128  # rows summed in float32 before the float64 total: ~1e-7 relative, no float64 copy


def weighted_sum(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """sum_i w[r, i] x_i for every replicate r: w (R, c) float32, x (c, d) float32 -> (R, d) float64.

    Float32 products over blocks of SUM_BLOCK rows, then a float64 total: a float64 product would
    first copy the chunk to float64, which costs more than the rest of the pass."""
    r, (c, d) = len(w), x.shape
    full = c - c % SUM_BLOCK
    out = np.zeros((r, d))
    if full:
        nb = full // SUM_BLOCK
        wb = w[:, :full].reshape(r, nb, SUM_BLOCK).transpose(1, 0, 2)  # (nb, R, B)
        out += np.matmul(wb, x[:full].reshape(nb, SUM_BLOCK, d)).sum(0, dtype=np.float64)
    if full < c:
        out += (w[:, full:] @ x[full:]).astype(np.float64)
    return out
