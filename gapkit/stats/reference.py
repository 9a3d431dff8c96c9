"""Brute-force reference implementations with full n x n matrices, the way earlier tools compute
the gap. Used by the tests (as an independent implementation) and by the benchmark (as the
baseline). Not for large n: memory is O(n^2)."""

from __future__ import annotations

import numpy as np


def _unit(a) -> np.ndarray:
    from .paired import unit_rows

    return unit_rows(a, np.float64)


def _offdiag_mean(g: np.ndarray) -> float:
    n = len(g)
    return float((g.sum() - np.trace(g)) / (n * (n - 1)))


def gram_statistics(image_emb, text_emb, caption_image=None, ks=(1, 5, 10)) -> dict[str, float]:
    x, y = _unit(image_emb), _unit(text_emb)
    n_cap = len(y)
    owner = np.arange(n_cap) if caption_image is None else np.asarray(caption_image)
    s_it = x @ y.T  # (n_img, n_cap)
    paired = s_it[owner, np.arange(n_cap)]
    true = np.zeros_like(s_it, dtype=bool)
    true[owner, np.arange(n_cap)] = True
    mu_i, mu_t = x.mean(0), y.mean(0)
    gap = mu_i - mu_t
    cone_i, cone_t = _offdiag_mean(x @ x.T), _offdiag_mean(y @ y.T)
    d_m = max(1 - (paired.mean() + 1) / 2, 1e-3)
    d_i, d_t = 1 - (cone_i + 1) / 2, 1 - (cone_t + 1) / 2
    delta = x[owner] - y
    cov = np.cov(delta.T, bias=True)
    out = {
        "paired_cosine": float(paired.mean()),
        "paired_cosine_sd": float(paired.std()),
        "unpaired_cosine": float(s_it[~true].mean()),
        "image_image_cosine": cone_i,
        "text_text_cosine": cone_t,
        "l2m": float(np.linalg.norm(gap)),
        "centroid_cosine": float(mu_i @ mu_t / (np.linalg.norm(mu_i) * np.linalg.norm(mu_t))),
        "l2i": float(np.linalg.norm(delta, axis=1).mean()),
        "rmg": float(d_m / (d_m + (d_i + d_t) / 2)),
        "l2m_sq_image_term": float(mu_i @ mu_i),
        "l2m_sq_text_term": float(mu_t @ mu_t),
        "l2m_sq_cross_term": float(-2 * mu_i @ mu_t),
        "diff_cov_trace": float(np.trace(cov)),
    }
    # Retrieval by full sorting: rank of the best correct match per query.
    order_i2t = np.argsort(-s_it, axis=1, kind="stable")
    first_i2t = np.argmax(owner[order_i2t] == np.arange(len(x))[:, None], axis=1)
    order_t2i = np.argsort(-s_it.T, axis=1, kind="stable")
    first_t2i = np.argmax(order_t2i == owner[:, None], axis=1)
    for k in ks:
        out[f"i2t_r{k}"] = float((first_i2t < k).mean())
        out[f"t2i_r{k}"] = float((first_t2i < k).mean())
    return out


def shift_reference(image_emb, text_emb, b: np.ndarray, caption_image=None) -> tuple[float, float]:
    """(MG, Delta) for shift ``b`` computed by explicitly translating and renormalising."""
    x, y = _unit(image_emb), _unit(text_emb)
    owner = np.arange(len(y)) if caption_image is None else np.asarray(caption_image)
    moved = _unit(y + b)
    return float((x[owner] * moved).sum(1).mean()), float((y * moved).sum(1).mean())
