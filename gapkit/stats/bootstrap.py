"""Which images the bootstrap resamples, and each one's Poisson weight in every replicate.

The bootstrap set S is every image or, above ``max_images``, a seeded subsample of them (sorted).
An image's weights depend on its *position* in S alone: positions come in blocks of ``BLOCK``,
each drawn from its own generator keyed by (seed, block) (``sums.poisson_weights``). So they do
not depend on the chunk size, on how the rows are split into shards, or on the order in which
shards are read: the replicate sums of separate shards add up to exactly the replicates of one
pass. With S = every image, an image's position is its index (the weights gapkit always drew).
Any image can be looked up at a cost of one block per distinct block touched, so a sample of
rows (separability, spectrum, retrieval queries) gets the same replicates as the streaming sums.
"""

from __future__ import annotations

import numpy as np

from ..streams import stream
from .sums import BLOCK, poisson_weights


class BootstrapSet:
    """The images the bootstrap resamples and their replicate weights.

    Parameters
    ----------
    seed : the run's seed (the subsample and the weights derive from it).
    reps : bootstrap replicates (0: none; then S is every image and only row 0 exists).
    n_img : images in the whole input.
    max_images : above this many images the replicates run on a seeded subsample of this size.
    """

    def __init__(self, seed: int, reps: int, n_img: int, max_images: int) -> None:
        self.seed, self.reps, self.n_img = seed, reps, n_img
        self.members: np.ndarray | None = None  # sorted image indices of S; None = every image
        if reps and n_img > max_images:
            rng = stream(seed, "bootstrap")
            self.members = np.sort(rng.choice(n_img, max_images, replace=False))

    @property
    def size(self) -> int:
        return self.n_img if self.members is None else len(self.members)

    def in_range(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Members among images [start, stop): (their offsets from ``start``, their (1 + reps, m)
        float32 weights). Contiguous images hold contiguous positions: one draw per block."""
        if self.members is None:
            return np.arange(stop - start), self._draw(start, stop)
        lo, hi = np.searchsorted(self.members, [start, stop])
        return self.members[lo:hi] - start, self._draw(lo, hi)

    def weights(self, images: np.ndarray) -> np.ndarray:
        """(1 + reps, m) float32 weights of arbitrary images: row 0 is 1 for members of S and 0
        otherwise (the point estimate over S, the centre of its intervals); rows 1.. are each
        member's Poisson weights and 0 for other images."""
        images = np.asarray(images, np.int64)
        out = np.zeros((1 + self.reps, len(images)), np.float32)
        if self.members is None:
            pos, member = images, np.ones(len(images), bool)
        else:
            pos = np.searchsorted(self.members, images)
            member = self.members[np.minimum(pos, len(self.members) - 1)] == images
        out[0, member] = 1
        if self.reps:
            self._fill(out, np.flatnonzero(member), pos[member])
        return out

    def _fill(self, out: np.ndarray, cols: np.ndarray, pos: np.ndarray) -> None:
        """Replicate rows of ``out[:, cols]`` for positions ``pos``, drawing each block once."""
        block = pos // BLOCK
        for b in np.unique(block):
            sel = block == b
            w = poisson_weights(self.seed, self.reps, b * BLOCK, (b + 1) * BLOCK)  # (1 + reps, BLOCK)
            out[1:, cols[sel]] = w[1:, pos[sel] - b * BLOCK]

    def _draw(self, lo: int, hi: int) -> np.ndarray:
        if hi <= lo:
            return np.zeros((1 + self.reps, 0), np.float32)
        return poisson_weights(self.seed, self.reps, lo, hi).astype(np.float32)

    def describe(self) -> str:
        return "every image" if self.members is None else f"a seeded subsample of {len(self.members)} images"
