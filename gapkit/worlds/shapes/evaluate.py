"""Held-out checks that the tiny CLIP is a good model organism: attribute probes on image
embeddings and CLIP-like gap statistics, all on test-split scenes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import spec
from .captions import random_caption
from .render import render_array
from .scene import Scene, sample_in_split

EncodeFn = Callable[[np.ndarray], np.ndarray]

ATTRIBUTE_OF = {
    "colour": lambda s: s.objects[0].colour,
    "shape": lambda s: s.objects[0].shape,
    "size": lambda s: s.objects[0].size,
    "position": lambda s: s.objects[0].position,
    "count": lambda s: s.count,
}


def probe_scenes(split: str, n: int, seed: int, single: bool) -> list[Scene]:
    rng = np.random.default_rng([seed, 7, 0 if single else 1, list(spec.SPLIT_SHARES).index(split)])
    return [sample_in_split(rng, split, count=1 if single else None) for _ in range(n)]


def _probe_accuracy(x_tr, y_tr, x_te, y_te, seed: int) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, random_state=seed))
    clf.fit(x_tr, y_tr)
    return float(clf.score(x_te, y_te))


def attribute_probes(encode_images: EncodeFn, n_train: int = 2000, n_test: int = 1000,
                     seed: int = 0) -> dict[str, float]:
    """Linear-probe accuracy per attribute: trained on train-split scenes, scored on test-split
    scenes. Colour/shape/size/position on single-object scenes, count on 1-3 objects."""
    out = {}
    for single in (True, False):
        tr = probe_scenes("train", n_train, seed, single)
        te = probe_scenes("test", n_test, seed, single)
        x_tr, x_te = encode_images(render_array(tr)), encode_images(render_array(te))
        attrs = ("colour", "shape", "size", "position") if single else ("count",)
        for a in attrs:
            f = ATTRIBUTE_OF[a]
            out[a] = _probe_accuracy(x_tr, [f(s) for s in tr], x_te, [f(s) for s in te], seed)
    return out


def gap_summary(image_emb: np.ndarray, text_emb: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Paired cosine, centroid distance, modality separability and i->t R@1 for unit-norm
    (n, d) embeddings (normalised here)."""
    x = image_emb / np.linalg.norm(image_emb, axis=1, keepdims=True)
    y = text_emb / np.linalg.norm(text_emb, axis=1, keepdims=True)
    n = len(x)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(2 * n)
    feats, labels = np.concatenate([x, y]), np.r_[np.zeros(n), np.ones(n)]
    cut = int(0.8 * 2 * n)
    tr, te = perm[:cut], perm[cut:]
    sep = _probe_accuracy(feats[tr], labels[tr], feats[te], labels[te], seed)
    sims = x @ y.T
    return {
        "paired_cosine": float(np.mean(np.sum(x * y, axis=1))),
        "centroid_distance": float(np.linalg.norm(x.mean(0) - y.mean(0))),
        "separability": sep,
        "i2t_r1": float(np.mean(np.argmax(sims, axis=1) == np.arange(n))),
        "t2i_r1": float(np.mean(np.argmax(sims, axis=0) == np.arange(n))),
    }


def model_card_metrics(encode_images: EncodeFn, encode_texts: Callable[[list[str]], np.ndarray],
                       n_pairs: int = 1000, seed: int = 0, probes: bool = True) -> dict[str, float]:
    """Everything the model card reports, on held-out test scenes."""
    rng = np.random.default_rng([seed, 11])
    scenes = [sample_in_split(rng, "test") for _ in range(n_pairs)]
    texts = [random_caption(s, rng) for s in scenes]
    out = gap_summary(encode_images(render_array(scenes)), encode_texts(texts), seed)
    if probes:
        out.update({f"probe_{k}": v for k, v in attribute_probes(encode_images, seed=seed).items()})
    return out


TARGETS = {  # the foundation issue's acceptance thresholds
    **{f"probe_{a}": (">=", 0.90) for a in ATTRIBUTE_OF},
    "separability": (">=", 0.95),
    "centroid_distance": (">=", 0.5),
    "paired_cosine": ("<=", 0.5),
}
