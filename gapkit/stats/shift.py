"""MG and Delta under a constant shift of the text embeddings (CLOSE Table 3).

For a shift b: MG = mean over pairs of cos(x, n(y + b)) and Delta = mean cos(y, n(y + b)), with
n(v) = v/|v| and x, y unit vectors. Per pair only x.y, x.b and y.b are needed:
cos(x, n(y + b)) = (x.y + x.b) / sqrt(1 + 2 y.b + |b|^2), which the streaming pass computes for every
shift at once (``stream.py``). Noise is not included (as in the paper)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..streams import stream


@dataclass
class Shift:
    name: str  # "none", "mean", "-mean", "random"
    magnitude: float
    vector: np.ndarray  # (d,)
    seed: int | None = None


def random_direction(d: int, magnitude: float, seed: int) -> np.ndarray:
    """A direction uniform on the sphere (normalised standard normal), scaled to ``magnitude``."""
    g = stream(seed, "random-direction").standard_normal(d)
    return magnitude * g / np.linalg.norm(g)


def standard_shifts(gap: np.ndarray, magnitudes=(0.2, 0.5, 0.8, 1.0, 2.0), seeds=(0, 1, 2)) -> list[Shift]:
    """CLOSE's rows: none, mean (natural magnitude), -mean, random directions x magnitudes x seeds."""
    d = len(gap)
    out = [
        Shift("none", 0.0, np.zeros(d)),
        Shift("mean", float(np.linalg.norm(gap)), gap.copy()),
        Shift("-mean", float(np.linalg.norm(gap)), -gap),
    ]
    out += [Shift("random", m, random_direction(d, m, s), s) for m in magnitudes for s in seeds]
    return out
