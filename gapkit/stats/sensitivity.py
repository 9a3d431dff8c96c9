"""Dimension sensitivity (the slides' "text and image vectors differ in sensitivity"; CLOSE
Appendix 5's dog -> cat case study) and the gap-dimension ablation curve.

For minimal pairs (a, b) that differ in one attribute, the change of the text embedding
t_b - t_a and of the image embedding i_b - i_a (unit vectors) are compared per attribute: which
dimensions move most in each modality, how much those sets overlap, and how consistent the
direction of change is across pairs (mean cosine between the change vectors of different pairs:
high = one shared direction, low = erratic)."""

from __future__ import annotations

import numpy as np

from .paired import unit_rows as _unit
from .retrieval import retrieval_hits


def direction_consistency(delta: np.ndarray, groups=None) -> float:
    """Mean cosine between the change vectors of distinct pairs of the same group (the same
    specific change, e.g. red->blue), from |sum of unit deltas|^2 per group; NaN without a group
    of two."""
    u = delta / np.maximum(np.linalg.norm(delta, axis=1, keepdims=True), 1e-12)
    groups = np.zeros(len(u), dtype=int) if groups is None else np.asarray(groups)
    num = den = 0.0
    for g in np.unique(groups):
        ug = u[groups == g]
        n = len(ug)
        s = ug.sum(0)
        num += s @ s - n
        den += n * (n - 1)
    return float(num / den) if den else float("nan")


def sensitivity(
    img_a, img_b, txt_a, txt_b, attributes: list[str], top_k: int = 10, changes: list[str] | None = None
) -> dict:
    """Per attribute: mean |change| per dimension for each modality, top-k dimensions, their
    overlap, the change magnitude, and the direction consistency within each specific change
    (``changes``, e.g. "red->blue"; the whole attribute when not given)."""
    di, dt = _unit(img_b) - _unit(img_a), _unit(txt_b) - _unit(txt_a)
    attributes = np.asarray(attributes)
    changes = np.asarray(changes if changes is not None else attributes)
    out = {}
    for attr in sorted(set(attributes.tolist())):
        m = attributes == attr
        per_i, per_t = np.abs(di[m]).mean(0), np.abs(dt[m]).mean(0)
        top_i, top_t = np.argsort(-per_i)[:top_k], np.argsort(-per_t)[:top_k]
        out[attr] = {
            "n": int(m.sum()),
            "image_per_dim": per_i.tolist(),
            "text_per_dim": per_t.tolist(),
            "image_top_dims": top_i.tolist(),
            "text_top_dims": top_t.tolist(),
            "top_dims_overlap": len(set(top_i) & set(top_t)) / top_k,
            "image_change_norm": float(np.linalg.norm(di[m], axis=1).mean()),
            "text_change_norm": float(np.linalg.norm(dt[m], axis=1).mean()),
            "image_direction_consistency": direction_consistency(di[m], changes[m]),
            "text_direction_consistency": direction_consistency(dt[m], changes[m]),
            "n_changes": int(len(set(changes[m].tolist()))),
            "text_image_change_cosine": float(np.mean(np.sum(_unit(di[m]) * _unit(dt[m]), axis=1))),
        }
    return out


def dimension_ablation(image_emb, text_emb, caption_image=None, max_k: int = 20) -> list[dict]:
    """Remove the top-k dimensions by |mu_I,d - mu_T,d| (k = 0..max_k), renormalise, and recompute
    paired cosine, centroid distance and retrieval R@1 (image->text)."""
    x, y = _unit(image_emb), _unit(text_emb)
    owner = np.arange(len(y)) if caption_image is None else np.asarray(caption_image)
    order = np.argsort(-np.abs(x.mean(0) - y.mean(0)))
    rows = []
    for k in range(0, min(max_k, x.shape[1] - 1) + 1):
        keep = np.sort(order[k:])
        xk, yk = _unit(x[:, keep]), _unit(y[:, keep])
        i2t, t2i = retrieval_hits(xk, yk, caption_image, normalize=False, ks=(1,))
        rows.append(
            {
                "k": k,
                "removed_dim": None if k == 0 else int(order[k - 1]),
                "paired_cosine": float(np.sum(xk[owner] * yk, axis=1).mean()),
                "centroid_distance": float(np.linalg.norm(xk.mean(0) - yk.mean(0))),
                "i2t_r1": float(i2t[:, 0].mean()),
                "t2i_r1": float(t2i[:, 0].mean()),
            }
        )
    return rows
