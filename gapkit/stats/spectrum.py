"""Covariance of pair differences delta = x - y: trace, top eigenvalues, effective rank.

The d x d covariance is accumulated in chunks (O(d^2) memory). Effective rank is
exp(entropy of the normalised eigenvalues) (Roy & Vetterli 2007); ``dims_99`` counts the
eigenvalues holding 99% of the trace (as in the C3 geometry analysis)."""

from __future__ import annotations

import numpy as np

from .validate import chunk_rows


def diff_covariance(
    image_emb,
    text_emb,
    caption_image,
    normalize: bool,
    rows: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    chunk: int = 16384,
) -> np.ndarray:
    """(d, d) covariance of x_i(j) - y_j over captions ``rows`` (all by default), optionally weighted."""
    owner = np.arange(len(text_emb)) if caption_image is None else np.asarray(caption_image)
    rows = np.arange(len(text_emb)) if rows is None else rows
    w_all = np.ones(len(rows)) if weights is None else weights
    d = image_emb.shape[1]
    m2, m1, tot = np.zeros((d, d)), np.zeros(d), 0.0
    for s in range(0, len(rows), chunk):
        r = rows[s : s + chunk]
        w = w_all[s : s + chunk]
        delta = (chunk_rows(image_emb[owner[r]], normalize) - chunk_rows(text_emb[r], normalize)).astype(
            np.float64
        )
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


REPLICATE_BLOCK = 8  # replicates per batched product: a (8, d, rows) float32 block stays small


def spectrum_replicates(
    image_emb, text_emb, caption_image, normalize: bool, rows: np.ndarray, weights: np.ndarray
) -> dict[str, np.ndarray]:
    """``spectrum_statistics`` (effective rank, top share, dims for 99%) of the weighted
    covariance of pair differences over captions ``rows``, for each replicate's weights (R, m).

    float32 products and eigenvalues: shares and ranks move by ~1e-6, far below the bootstrap
    spread, at a fraction of float64's cost. Blocks of replicates run on a few threads with BLAS
    itself single-threaded: many small products under a multi-threaded BLAS spend most of their
    time in its thread hand-offs (tenfold on a busy two-core machine). A replicate with no
    weight is NaN."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    from .core import _threads

    owner = np.arange(len(text_emb)) if caption_image is None else np.asarray(caption_image)
    delta = chunk_rows(image_emb[owner[rows]], normalize) - chunk_rows(text_emb[rows], normalize)  # (m, d)
    weights = np.asarray(weights, np.float32)
    starts = range(0, len(weights), REPLICATE_BLOCK)
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(max_workers=_threads()) as pool:
        blocks = list(pool.map(lambda s: _block_eigenvalues(delta, weights[s : s + REPLICATE_BLOCK]), starts))
    ev = np.concatenate(blocks) if blocks else np.zeros((0, delta.shape[1]))
    return _batched_statistics(np.clip(ev.astype(np.float64), 0, None))


def _block_eigenvalues(delta: np.ndarray, w: np.ndarray) -> np.ndarray:
    """delta (m, d), w (c, m) -> (c, d) descending eigenvalues of each weighted covariance."""
    tot = w.sum(1)[:, None, None]
    m2 = np.matmul(delta.T[None] * w[:, None, :], delta)  # (c, d, d): sum_i w_i delta_i delta_i^T
    m1 = w @ delta  # (c, d)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = m2 / tot - m1[:, :, None] * m1[:, None, :] / tot**2
    ev = np.full((len(w), delta.shape[1]), np.nan, np.float32)
    ok = np.isfinite(cov).all(axis=(1, 2))
    if ok.any():
        ev[ok] = np.linalg.eigvalsh(cov[ok])[:, ::-1]
    return ev


def _batched_statistics(ev: np.ndarray) -> dict[str, np.ndarray]:
    """ev (R, d) descending eigenvalues -> (R,) statistics, as ``spectrum_statistics`` defines them."""
    total = ev.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(total > 0, ev / total, 0.0)
        plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    spread = total[:, 0] > 0
    nan = np.isnan(ev).any(1)
    out = {
        "effective_rank": np.where(spread, np.exp(-plogp.sum(1)), 0.0),
        "top_eigenvalue_share": p[:, 0],
        "dims_99": np.where(spread, (np.cumsum(p, 1) < 0.99).sum(1) + 1, 0).astype(np.float64),
    }
    for v in out.values():
        v[nan] = np.nan
    return out
