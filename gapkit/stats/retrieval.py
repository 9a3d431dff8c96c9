"""Retrieval recall@k in both directions with chunked top-k (no n x n matrix held).

CLIP convention for 1 image : k captions: image->text counts a hit if *any* of the image's
captions is in the top k; text->image if the caption's own image is in the top k."""

from __future__ import annotations

import numpy as np

from .validate import chunk_rows

KS = (1, 5, 10)


def _topk(sims: np.ndarray, k: int) -> np.ndarray:
    """(c, n) -> (c, k) column indices of the k largest per row (unordered within the k)."""
    k = min(k, sims.shape[1])
    return np.argpartition(-sims, k - 1, axis=1)[:, :k]


def _ranks_of_best(sims: np.ndarray, target_mask_fn, ks) -> np.ndarray:
    """(c, len(ks)) hit indicators for one chunk of queries."""
    kmax = max(ks)
    top = _topk(sims, kmax)
    order = np.argsort(-np.take_along_axis(sims, top, 1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, 1)  # sorted by similarity
    hit = target_mask_fn(top)  # (c, kmax) bool: is the candidate a correct match
    first = np.where(hit.any(1), hit.argmax(1), kmax)  # rank of the first correct match
    return np.stack([first < k for k in ks], axis=1)


def retrieval_hits(
    image_emb, text_emb, caption_image, normalize: bool, ks=KS, chunk: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """Per-query hits: ((n_img, len(ks)) image->text, (n_cap, len(ks)) text->image)."""
    n_img, n_cap = len(image_emb), len(text_emb)
    owner = np.arange(n_cap) if caption_image is None else np.asarray(caption_image)
    x = chunk_rows(image_emb[:], normalize)
    y = chunk_rows(text_emb[:], normalize)
    i2t = np.zeros((n_img, len(ks)), bool)
    for s in range(0, n_img, chunk):
        e = min(s + chunk, n_img)
        rows = np.arange(s, e)[:, None]
        i2t[s:e] = _ranks_of_best(x[s:e] @ y.T, lambda top, rows=rows: owner[top] == rows, ks)
    t2i = np.zeros((n_cap, len(ks)), bool)
    for s in range(0, n_cap, chunk):
        e = min(s + chunk, n_cap)
        own = owner[s:e, None]
        t2i[s:e] = _ranks_of_best(y[s:e] @ x.T, lambda top, own=own: top == own, ks)
    return i2t, t2i
