"""Where the texts vary: the statistics that decide whether a decoder trained on clean text
transfers to images (``docs``: the README's "Where the texts vary"; issue 23).

A decoder trained on text learns to read the directions its texts vary in. Real CLIP's texts keep
about a quarter of their variance in a long tail of weak directions that carry what a caption says,
and its images vary mostly elsewhere, so a clean-text decoder reads image content it never saw
there; CLOSE's noise drowns the weak directions and the decoder reads only the shared strong ones.
An organism whose texts span a few directions that its images also vary in transfers without noise.

All on unit rows (any input scale gives the same numbers), texts over every caption row, images
over every image row, covariances with 1/n (population) normalisation:

- ``text_beyond_k``: share of the trace of Cov(texts) outside its top ``k`` principal directions.
- ``image_inside_k``: share of the trace of Cov(images) inside those same ``k`` text directions.
- ``text_effective_rank``: exp(entropy of the normalised eigenvalues of Cov(texts)).
- ``text_dims_90``: how many text principal directions hold ``mass`` (90%) of the text variance.
- ``gap_in_text_sd``: the mean gap mu_I - mu_T in text standard deviations inside those
  directions, a Mahalanobis norm ||Lambda^(-1/2) U^T (mu_I - mu_T)|| over the ``text_dims_90``
  directions: how far, in the text's own spread, the images sit from where training happened."""

from __future__ import annotations

import numpy as np

from .paired import unit_rows

TEXTSPREAD_KEYS = ("text_beyond_k", "image_inside_k", "text_effective_rank", "text_dims_90", "gap_in_text_sd")
EXPLAIN = {
    "text_beyond_k": "share of text variance outside the top k text principal directions (the tail)",
    "image_inside_k": "share of image variance inside those top k text directions",
    "text_effective_rank": "exp of the entropy of the text covariance's normalised eigenvalues",
    "text_dims_90": "text principal directions holding 90% of the text variance",
    "gap_in_text_sd": "mean gap inside those directions, in text standard deviations (Mahalanobis)",
}


NO_SPREAD = 1e-12


def _covariance(x: np.ndarray) -> np.ndarray:
    centred = x - x.mean(0)
    return centred.T @ centred / len(x)


def text_spread(image_emb, text_emb, k: int = 50, mass: float = 0.9) -> dict[str, float]:
    """The five statistics above for image rows (n_img, d) and caption rows (n_cap, d); NaN where
    undefined (fewer than two rows of a modality, or texts that do not vary)."""
    x, y = unit_rows(image_emb), unit_rows(text_emb)
    if len(x) < 2 or len(y) < 2:
        return dict.fromkeys(TEXTSPREAD_KEYS, float("nan"))
    ev, vecs = np.linalg.eigh(_covariance(y))
    ev, vecs = np.clip(ev[::-1], 0.0, None), vecs[:, ::-1]  # descending
    total = ev.sum()
    if total <= NO_SPREAD:  # unit rows: a trace this small is rounding, the texts do not vary
        return dict.fromkeys(TEXTSPREAD_KEYS, float("nan"))
    share = ev / total
    cov_x = _covariance(x)
    top = vecs[:, :k]  # (d, k)
    nz = share[share > 0]
    m = int(np.searchsorted(np.cumsum(share), mass - 1e-12) + 1)
    gap = vecs[:, :m].T @ (x.mean(0) - y.mean(0))  # (m,) the gap along each direction
    in_sd = gap / np.sqrt(np.where(ev[:m] > 0, ev[:m], np.nan))
    image_trace = np.trace(cov_x)
    return {
        "text_beyond_k": float(max(0.0, 1.0 - share[:k].sum())),
        "image_inside_k": float(np.trace(top.T @ cov_x @ top) / image_trace)
        if image_trace > 0
        else float("nan"),
        "text_effective_rank": float(np.exp(-(nz * np.log(nz)).sum())),
        "text_dims_90": float(m),
        "gap_in_text_sd": float(np.linalg.norm(in_sd)),
    }


JACKKNIFE_GROUPS = 20


def text_spread_intervals(
    image_emb, text_emb, caption_image=None, k: int = 50, mass: float = 0.9, groups: int = JACKKNIFE_GROUPS
) -> dict[str, list[float]]:
    """{statistic: [value, lo, hi]}: ``text_spread`` with a 95% interval value +- 1.96 SE from a
    grouped jackknife over images (``groups`` seeded-free contiguous groups of images, each left out
    with all its captions). Not a bootstrap: resampling with replacement duplicates rows, which
    lowers every spectral statistic (the effective rank of 500 real-CLIP texts falls from 97 to
    about 81), so its percentile interval misses the value; the jackknife's leave-a-group-out
    estimates differ smoothly and give a standard error. ``groups`` < 2: no interval (NaN)."""
    x, y = unit_rows(image_emb), unit_rows(text_emb)
    owner = np.arange(len(y)) if caption_image is None else np.asarray(caption_image, np.int64)
    point = text_spread(x, y, k, mass)
    g = min(groups, len(x))
    if g < 2 or len(x) < 4:
        return {key: [v, float("nan"), float("nan")] for key, v in point.items()}
    group = np.arange(len(x)) * g // len(x)  # (n_img,) contiguous groups of near-equal size
    leave_out = []
    for j in range(g):
        keep = group != j
        leave_out.append([text_spread(x[keep], y[keep[owner]], k, mass)[key] for key in TEXTSPREAD_KEYS])
    est = np.array(leave_out)  # (g, 5)
    se = np.sqrt((g - 1) / g * ((est - est.mean(0)) ** 2).sum(0))
    return {
        key: [point[key], point[key] - 1.96 * float(e), point[key] + 1.96 * float(e)]
        for key, e in zip(TEXTSPREAD_KEYS, se)
    }
