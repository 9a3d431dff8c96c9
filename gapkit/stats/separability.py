"""Linear separability of the two modalities: logistic regression on normalised embeddings,
fixed seeded 80/20 held-out split (balanced: each image with its first caption)."""

from __future__ import annotations

import warnings

import numpy as np

from .validate import unit_rows

MAX_PER_MODALITY = 20000  # larger inputs use a seeded subsample (stated in the report)


def separability_hits(image_emb, text_emb, caption_image, normalize: bool, seed: int,
                      max_n: int = MAX_PER_MODALITY) -> tuple[np.ndarray, np.ndarray, int]:
    """Held-out correctness indicators, the image index of each held-out row, and n used."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    n_img = len(image_emb)
    if caption_image is None:
        first = np.arange(n_img)
    else:
        owner = np.asarray(caption_image)
        first = np.full(n_img, -1)
        first[owner[::-1]] = np.arange(len(owner))[::-1]
    usable = np.flatnonzero(first >= 0)
    rng = np.random.default_rng([seed, 5])
    if len(usable) > max_n:
        usable = np.sort(rng.choice(usable, max_n, replace=False))
    x = unit_rows(image_emb[usable], normalize)
    y = unit_rows(text_emb[first[usable]], normalize)
    feats = np.concatenate([x, y])
    labels = np.r_[np.zeros(len(x)), np.ones(len(y))]
    owner_rows = np.r_[usable, usable]
    perm = rng.permutation(len(feats))
    cut = int(0.8 * len(feats))
    tr, te = perm[:cut], perm[cut:]
    # The reference setting (LogisticRegression defaults: C = 1, lbfgs, 100 iterations). On
    # separable modalities lbfgs would keep growing the weights; the held-out accuracy is what
    # is reported, and it has settled long before.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = LogisticRegression(random_state=seed).fit(feats[tr], labels[tr])
    return clf.predict(feats[te]) == labels[te], owner_rows[te], len(usable)
