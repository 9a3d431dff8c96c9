"""The scalar gap statistics, computed from the sums of the streaming pass (``stream.py``).

All statistics assume L2-normalised rows (the pass normalises each chunk unless told not to).
Definitions follow the modality-gap literature (Liang et al. 2022, Schrodi et al. 2025; the README
names each): for unit vectors the mean cosine over distinct pairs is
(|sum x|^2 - sum |x|^2) / (n (n - 1)), so cone and RMG terms need no n x n matrix.
"""

from __future__ import annotations

import os

import numpy as np

from .sums import Sums


def _threads() -> int:
    """Threads for one process's numpy work: the cores it may use, at most 4."""
    return max(
        1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    )


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("rd,rd->r", a, b)


def scalar_statistics(s: Sums) -> dict[str, np.ndarray]:
    """Every scalar statistic for each replicate: name -> (R,) array."""
    mu_i = s.sx / s.n_img[:, None]
    mu_t = s.sy / s.n_cap[:, None]
    gap = mu_i - mu_t
    paired = s.p1 / s.n_cap
    cone_i = (_dot(s.sx, s.sx) - s.qx) / (s.n_img**2 - s.n_img)
    cone_t = (_dot(s.sy, s.sy) - s.qy) / (s.n_cap**2 - s.n_cap)
    norm_i, norm_t = np.sqrt(_dot(mu_i, mu_i)), np.sqrt(_dot(mu_t, mu_t))
    mean_delta = (s.sxp - s.sy) / s.n_cap[:, None]
    # RMG, reference form (Schrodi et al., two-effects-one-trigger compute_rmg).
    d_m = np.maximum(1 - (paired + 1) / 2, 1e-3)
    d_i, d_t = 1 - (cone_i + 1) / 2, 1 - (cone_t + 1) / 2
    return {
        "paired_cosine": paired,
        "paired_cosine_sd": np.sqrt(np.maximum(s.p2 / s.n_cap - paired**2, 0)),
        "unpaired_cosine": (_dot(s.sx, s.sy) - s.p1_sq) / (s.n_img * s.n_cap - s.n_cap_sq),
        "image_image_cosine": cone_i,
        "text_text_cosine": cone_t,
        "l2m": np.sqrt(_dot(gap, gap)),
        "centroid_cosine": _dot(mu_i, mu_t) / (norm_i * norm_t),
        "l2i": s.l2i / s.n_cap,
        "rmg": d_m / (d_m + (d_i + d_t) / 2),
        # |mu_I - mu_T|^2 = |mu_I|^2 + |mu_T|^2 - 2 mu_I.mu_T (each |mu|^2 is set by the cone).
        "l2m_sq_image_term": norm_i**2,
        "l2m_sq_text_term": norm_t**2,
        "l2m_sq_cross_term": -2 * _dot(mu_i, mu_t),
        "diff_cov_trace": s.dd / s.n_cap - _dot(mean_delta, mean_delta),
    }


def centroids(s: Sums) -> tuple[np.ndarray, np.ndarray]:
    """(R, d) image and text centroids."""
    return s.sx / s.n_img[:, None], s.sy / s.n_cap[:, None]


def top_dims_share(gap: np.ndarray, dims: np.ndarray) -> np.ndarray:
    """Share of |gap|^2 in ``dims`` for each replicate: gap (R, d) -> (R,)."""
    return (gap[:, dims] ** 2).sum(1) / (gap**2).sum(1)
