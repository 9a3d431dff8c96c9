"""MG and Delta under a constant shift of the text embeddings (CLOSE Table 3).

For a shift b: MG = mean over pairs of cos(x, n(y + b)) and Delta = mean cos(y, n(y + b)), with
n(v) = v/|v| and x, y unit vectors. Per pair only x.y, x.b and y.b are needed:
cos(x, n(y + b)) = (x.y + x.b) / sqrt(1 + 2 y.b + |b|^2). Noise is not included (as in the paper)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .validate import unit_rows


@dataclass
class Shift:
    name: str  # "none", "mean", "-mean", "random"
    magnitude: float
    vector: np.ndarray  # (d,)
    seed: int | None = None


def random_direction(d: int, magnitude: float, seed: int) -> np.ndarray:
    """A direction uniform on the sphere (normalised standard normal), scaled to ``magnitude``."""
    g = np.random.default_rng([seed, 31337]).standard_normal(d)
    return magnitude * g / np.linalg.norm(g)


def standard_shifts(gap: np.ndarray, magnitudes=(0.2, 0.5, 0.8, 1.0, 2.0), seeds=(0, 1, 2)) -> list[Shift]:
    """CLOSE's rows: none, mean (natural magnitude), -mean, random directions x magnitudes x seeds."""
    d = len(gap)
    out = [Shift("none", 0.0, np.zeros(d)), Shift("mean", float(np.linalg.norm(gap)), gap.copy()),
           Shift("-mean", float(np.linalg.norm(gap)), -gap)]
    out += [Shift("random", m, random_direction(d, m, s), s) for m in magnitudes for s in seeds]
    return out


def shift_values(image_emb, text_emb, caption_image, shifts: list[Shift], normalize: bool,
                 chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Per-pair MG and Delta terms: two (n_captions, S) float32 arrays (mean them for the stat)."""
    b = np.stack([s.vector for s in shifts], axis=1).astype(np.float32)  # (d, S)
    bb = (b.astype(np.float64) ** 2).sum(0).astype(np.float32)  # (S,)
    owner = None if caption_image is None else np.asarray(caption_image)
    n = len(text_emb)
    # float32 per pair (|error| ~1e-7); means are taken in float64 by the caller.
    mg, delta = np.empty((n, len(shifts)), np.float32), np.empty((n, len(shifts)), np.float32)
    for s in range(0, n, chunk):
        e = min(s + chunk, n)
        x = unit_rows(image_emb[s:e] if owner is None else image_emb[owner[s:e]], normalize)
        y = unit_rows(text_emb[s:e], normalize)
        xy = np.einsum("cd,cd->c", x, y)[:, None]
        xb, yb = x @ b, y @ b  # (c, S)
        inv = 1 / np.sqrt(np.maximum(1 + 2 * yb + bb, 1e-12))
        mg[s:e] = (xy + xb) * inv
        delta[s:e] = (1 + yb) * inv
    return mg, delta
