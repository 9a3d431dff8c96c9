"""Covariance of pair differences delta = x - y: trace, top eigenvalues, effective rank.

The d x d covariance is accumulated in chunks (O(d^2) memory). Effective rank is
exp(entropy of the normalised eigenvalues) (Roy & Vetterli 2007); ``dims_99`` counts the
eigenvalues holding 99% of the trace (as in the C3 geometry analysis)."""

from __future__ import annotations

import numpy as np

from .validate import unit_rows


def diff_covariance(image_emb, text_emb, caption_image, normalize: bool, rows: np.ndarray | None = None,
                    weights: np.ndarray | None = None, chunk: int = 16384) -> np.ndarray:
    """(d, d) covariance of x_i(j) - y_j over captions ``rows`` (all by default), optionally weighted."""
    owner = np.arange(len(text_emb)) if caption_image is None else np.asarray(caption_image)
    rows = np.arange(len(text_emb)) if rows is None else rows
    w_all = np.ones(len(rows)) if weights is None else weights
    d = image_emb.shape[1]
    m2, m1, tot = np.zeros((d, d)), np.zeros(d), 0.0
    for s in range(0, len(rows), chunk):
        r = rows[s:s + chunk]
        w = w_all[s:s + chunk]
        delta = (unit_rows(image_emb[owner[r]], normalize) - unit_rows(text_emb[r], normalize)).astype(np.float64)
        m2 += (delta * w[:, None]).T @ delta
        m1 += w @ delta
        tot += w.sum()
    mean = m1 / tot
    return m2 / tot - np.outer(mean, mean)


def spectrum_statistics(cov: np.ndarray, top: int = 5) -> dict[str, np.ndarray]:
    ev = np.clip(np.linalg.eigvalsh(cov)[::-1], 0, None)
    if ev.sum() <= 0:  # every pair difference identical: no spread to describe
        return {"eigenvalues": ev[:top], "effective_rank": 0.0, "dims_99": 0, "top_eigenvalue_share": 0.0}
    p = ev / ev.sum()
    nz = p[p > 0]
    cum = np.cumsum(p)
    return {
        "eigenvalues": ev[:top],
        "effective_rank": float(np.exp(-(nz * np.log(nz)).sum())),
        "dims_99": int(np.searchsorted(cum, 0.99) + 1),
        "top_eigenvalue_share": float(p[0]),
    }
