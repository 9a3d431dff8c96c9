"""Intervals shared by the analysis scripts."""

from __future__ import annotations

import numpy as np


def ratio_interval(a, b, reps: int = 2000, seed: int = 0) -> list[float]:
    """mean(a) / mean(b) and its 95% percentile interval, resampling the paired items (a[i] and
    b[i] are two models' scores on the same test item; corpus CIDEr is the mean of these)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired scores differ in shape: {a.shape} vs {b.shape}")
    idx = np.random.default_rng(seed).integers(len(a), size=(reps, len(a)))
    boot = a[idx].mean(1) / b[idx].mean(1)
    return [float(a.mean() / b.mean()), *np.percentile(boot, [2.5, 97.5]).tolist()]
