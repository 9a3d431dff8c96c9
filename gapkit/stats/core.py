"""The streaming pass and the scalar gap statistics computed from its sums.

All statistics assume L2-normalised rows (the pass normalises each chunk unless told not to).
Definitions follow docs/gap-metrics.md: for unit vectors the mean cosine over distinct pairs is
(|sum x|^2 - sum |x|^2) / (n (n - 1)), so cone and RMG terms need no n x n matrix.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .sums import Sums, poisson_weights
from .validate import unit_rows

CHUNK = 16384


def accumulate(image_emb, text_emb, caption_image, *, normalize: bool, reps: int, seed: int,
               images: np.ndarray | None = None, chunk: int = CHUNK, weights: np.ndarray | None = None) -> Sums:
    """One pass over images and one over captions (a single pass when pairs are 1:1).

    ``images``: optional subset of image indices (the bootstrap subsample); captions of other
    images are skipped. Replicate 0 of the result is the (sub)sample point estimate.
    ``weights``: the (1 + reps, n_images) table ``poisson_weights(seed, reps, 0, n)`` with images
    outside ``images`` zeroed, when the caller already drew it (drawing it dominates small inputs)."""
    d = image_emb.shape[1]
    sums = Sums.zeros(reps, d)
    n_img = len(image_emb)
    if images is None and caption_image is None and reps == 0:
        return _point_pass_one_to_one(image_emb, text_emb, normalize, sums)
    if images is None and caption_image is None:  # 1:1 pairs: one pass does both
        for s in range(0, n_img, chunk):
            e = min(s + chunk, n_img)
            x, y = unit_rows(image_emb[s:e], normalize), unit_rows(text_emb[s:e], normalize)
            # float64 weights keep the float64 sums exact (Poisson counts are exact in float32)
            w = poisson_weights(seed, reps, s, e) if weights is None else weights[:, s:e].astype(np.float64)
            sums.add_images(x, w)
            sums.add_pairs(x, y, w)
        return sums
    owner = np.arange(len(text_emb)) if caption_image is None else np.asarray(caption_image)
    keep_img = np.ones(n_img, bool) if images is None else np.isin(np.arange(n_img), images)
    if weights is None:
        weights = _weight_table(seed, reps, n_img, keep_img)  # (1 + reps, n_img)
    for s in range(0, n_img, chunk):
        e = min(s + chunk, n_img)
        sel = np.flatnonzero(keep_img[s:e]) + s
        if len(sel):
            sums.add_images(unit_rows(image_emb[sel], normalize), weights[:, sel])
    for s in range(0, len(text_emb), chunk):
        e = min(s + chunk, len(text_emb))
        idx = owner[s:e]
        sel = np.flatnonzero(keep_img[idx])
        if not len(sel):
            continue
        rows = idx[sel]
        x = unit_rows(image_emb[rows], normalize)
        y = unit_rows(text_emb[sel + s] if len(sel) < e - s else text_emb[s:e], normalize)
        sums.add_pairs(x, y, weights[:, rows])
    return sums


FAST_CHUNK = 1024  # rows: a float32 chunk of both modalities stays in cache across the passes


SUM_BLOCK = 128  # rows summed in float32 before the float64 total: ~1e-7 relative, no float64 copy


def _blocked_weighted_sum(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """sum_i w_i x_i as float64, from float32 partial sums over blocks of SUM_BLOCK rows (a float64
    GEMV would first copy the chunk to float64, which costs more than the whole rest of the pass)."""
    n, d = x.shape
    full = n - n % SUM_BLOCK
    out = np.zeros(d)
    if full:
        blocks = np.matmul(w[:full].reshape(-1, 1, SUM_BLOCK), x[:full].reshape(-1, SUM_BLOCK, d))
        out += blocks[:, 0].astype(np.float64).sum(0)
    if full < n:
        out += (w[full:] @ x[full:]).astype(np.float64)
    return out


def _chunk_sums(x, y, normalize: bool) -> tuple:
    """Partial sums of one chunk of 1:1 pairs (all float64)."""
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.float32)
    nx2, ny2 = np.einsum("cd,cd->c", x, x), np.einsum("cd,cd->c", y, y)
    if normalize:
        ix, iy = 1 / np.sqrt(nx2), 1 / np.sqrt(ny2)
        qx, qy = float(len(x)), float(len(y))
    else:
        ix, iy = np.ones_like(nx2), np.ones_like(ny2)
        qx, qy = float(nx2.sum()), float(ny2.sum())
    sx, sy = _blocked_weighted_sum(ix, x), _blocked_weighted_sum(iy, y)
    xy = (np.einsum("cd,cd->c", x, y) * ix * iy).astype(np.float64)
    d2 = nx2 * ix * ix + ny2 * iy * iy - 2 * xy
    return sx, sy, qx, qy, xy.sum(), (xy * xy).sum(), np.sqrt(np.maximum(d2, 0)).sum(), d2.sum()


def _point_pass_one_to_one(image_emb, text_emb, normalize: bool, sums: Sums) -> Sums:
    """The point estimate for 1:1 pairs, with the per-chunk passes fused as far as numpy allows
    (norms folded into the sums instead of normalising; |x - y|^2 from x.y), chunks small enough
    to stay in cache, and chunks spread over threads (numpy releases the GIL). Partial sums are
    reduced in chunk order, so results do not depend on thread timing."""
    n, d = len(image_emb), image_emb.shape[1]
    starts = range(0, n, FAST_CHUNK)
    work = lambda s: _chunk_sums(image_emb[s:s + FAST_CHUNK], text_emb[s:s + FAST_CHUNK], normalize)
    with ThreadPoolExecutor(max_workers=_threads()) as pool:
        parts = list(pool.map(work, starts))
    sx, sy = np.zeros(d), np.zeros(d)
    tot = np.zeros(6)
    for part in parts:
        sx += part[0]
        sy += part[1]
        tot += part[2:]
    qx, qy, p1, p2, l2i, dd = tot
    one = lambda v: np.array([v], dtype=np.float64)
    return Sums(n_img=one(n), sx=sx[None], qx=one(qx), n_cap=one(n), n_cap_sq=one(n), sy=sy[None],
                qy=one(qy), sxp=sx[None].copy(), p1=one(p1), p2=one(p2), p1_sq=one(p1), l2i=one(l2i),
                dd=one(dd))


def _threads() -> int:
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def _weight_table(seed: int, reps: int, n_img: int, keep: np.ndarray) -> np.ndarray:
    out = np.zeros((1 + reps, n_img), np.float32)
    for s in range(0, n_img, CHUNK):
        e = min(s + CHUNK, n_img)
        out[:, s:e] = poisson_weights(seed, reps, s, e)
    out[:, ~keep] = 0
    return out


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("rd,rd->r", a, b)


def scalar_statistics(s: Sums) -> dict[str, np.ndarray]:
    """Every scalar statistic for each replicate: name -> (R,) array."""
    mu_i = s.sx / s.n_img[:, None]
    mu_t = s.sy / s.n_cap[:, None]
    gap = mu_i - mu_t
    paired = s.p1 / s.n_cap
    cone_i = (_dot(s.sx, s.sx) - s.qx) / (s.n_img ** 2 - s.n_img)
    cone_t = (_dot(s.sy, s.sy) - s.qy) / (s.n_cap ** 2 - s.n_cap)
    norm_i, norm_t = np.sqrt(_dot(mu_i, mu_i)), np.sqrt(_dot(mu_t, mu_t))
    mean_delta = (s.sxp - s.sy) / s.n_cap[:, None]
    # RMG, reference form (Schrodi et al., two-effects-one-trigger compute_rmg).
    d_m = np.maximum(1 - (paired + 1) / 2, 1e-3)
    d_i, d_t = 1 - (cone_i + 1) / 2, 1 - (cone_t + 1) / 2
    return {
        "paired_cosine": paired,
        "paired_cosine_sd": np.sqrt(np.maximum(s.p2 / s.n_cap - paired ** 2, 0)),
        "unpaired_cosine": (_dot(s.sx, s.sy) - s.p1_sq) / (s.n_img * s.n_cap - s.n_cap_sq),
        "image_image_cosine": cone_i,
        "text_text_cosine": cone_t,
        "l2m": np.sqrt(_dot(gap, gap)),
        "centroid_cosine": _dot(mu_i, mu_t) / (norm_i * norm_t),
        "l2i": s.l2i / s.n_cap,
        "rmg": d_m / (d_m + (d_i + d_t) / 2),
        # |mu_I - mu_T|^2 = |mu_I|^2 + |mu_T|^2 - 2 mu_I.mu_T (each |mu|^2 is set by the cone).
        "l2m_sq_image_term": norm_i ** 2,
        "l2m_sq_text_term": norm_t ** 2,
        "l2m_sq_cross_term": -2 * _dot(mu_i, mu_t),
        "diff_cov_trace": s.dd / s.n_cap - _dot(mean_delta, mean_delta),
    }


def centroids(s: Sums) -> tuple[np.ndarray, np.ndarray]:
    """(R, d) image and text centroids."""
    return s.sx / s.n_img[:, None], s.sy / s.n_cap[:, None]


def top_dims_share(gap: np.ndarray, dims: np.ndarray) -> np.ndarray:
    """Share of |gap|^2 in ``dims`` for each replicate: gap (R, d) -> (R,)."""
    return (gap[:, dims] ** 2).sum(1) / (gap ** 2).sum(1)
