"""Where the texts vary: the statistics that decide whether a decoder trained on clean text
transfers to images (the README's "Where do the texts vary?"; analyses/tail_sweep.py measures it).

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
TEXTSPREAD_K = 50  # top text directions (real CLIP's texts keep 27% of their variance beyond 50)
JACKKNIFE_GROUPS = 20


class Moments:
    """Row count, sum (d,) and sum of outer products (d, d) of unit rows: covariances of any
    union or difference of row sets come from these without touching the rows again."""

    def __init__(self, n: float, s: np.ndarray, ss: np.ndarray) -> None:
        self.n, self.s, self.ss = n, s, ss

    @classmethod
    def of(cls, rows: np.ndarray) -> Moments:
        return cls(float(len(rows)), rows.sum(0), rows.T @ rows)

    def __sub__(self, other: Moments) -> Moments:
        return Moments(self.n - other.n, self.s - other.s, self.ss - other.ss)

    def mean(self) -> np.ndarray:
        return self.s / self.n

    def covariance(self) -> np.ndarray:  # population (1/n)
        mu = self.mean()
        return self.ss / self.n - np.outer(mu, mu)


def _spread(mx: Moments, my: Moments, k: int, mass: float) -> dict[str, float]:
    if mx.n < 2 or my.n < 2:
        return dict.fromkeys(TEXTSPREAD_KEYS, float("nan"))
    ev, vecs = np.linalg.eigh(my.covariance())
    ev, vecs = np.clip(ev[::-1], 0.0, None), vecs[:, ::-1]  # descending
    total = ev.sum()
    if total <= NO_SPREAD:  # unit rows: a trace this small is rounding, the texts do not vary
        return dict.fromkeys(TEXTSPREAD_KEYS, float("nan"))
    share = ev / total
    cov_x = mx.covariance()
    top = vecs[:, :k]  # (d, k)
    nz = share[share > 0]
    m = int(np.searchsorted(np.cumsum(share), mass - 1e-12) + 1)
    gap = vecs[:, :m].T @ (mx.mean() - my.mean())  # (m,) the gap along each direction
    in_sd = gap / np.sqrt(np.where(ev[:m] > 0, ev[:m], np.nan))
    image_trace = np.trace(cov_x)
    inside = np.einsum("dk,de,ek->", top, cov_x, top) / image_trace if image_trace > 0 else np.nan
    return {
        "text_beyond_k": float(max(0.0, 1.0 - share[:k].sum())),
        "image_inside_k": float(inside),
        "text_effective_rank": float(np.exp(-(nz * np.log(nz)).sum())),
        "text_dims_90": float(m),
        "gap_in_text_sd": float(np.linalg.norm(in_sd)),
    }


def text_spread(image_emb, text_emb, k: int = TEXTSPREAD_K, mass: float = 0.9) -> dict[str, float]:
    """The five statistics above for image rows (n_img, d) and caption rows (n_cap, d); NaN where
    undefined (fewer than two rows of a modality, or texts that do not vary)."""
    return _spread(Moments.of(unit_rows(image_emb)), Moments.of(unit_rows(text_emb)), k, mass)


def text_spread_intervals(
    image_emb,
    text_emb,
    caption_image=None,
    k: int = TEXTSPREAD_K,
    mass: float = 0.9,
    groups: int = JACKKNIFE_GROUPS,
) -> dict[str, list[float]]:
    """{statistic: [value, lo, hi]}: ``text_spread`` with a 95% interval value +- 1.96 SE from a
    grouped jackknife over images (``groups`` contiguous groups of images, each left out with all
    its captions). Not a bootstrap: resampling with replacement duplicates rows, which lowers every
    spectral statistic (the effective rank of 500 real-CLIP texts falls from 97 to about 81), so
    its percentile interval misses the value; the leave-a-group-out estimates move smoothly and
    give a standard error. Each estimate costs one d x d eigendecomposition (the groups' moments
    are subtracted from the totals). Fewer than 2 groups or 4 images: no interval (NaN)."""
    x, y = unit_rows(image_emb), unit_rows(text_emb)
    owner = np.arange(len(y)) if caption_image is None else np.asarray(caption_image, np.int64)
    mx, my = Moments.of(x), Moments.of(y)
    point = _spread(mx, my, k, mass)
    g = min(groups, len(x))
    if g < 2 or len(x) < 4:
        return {key: [v, float("nan"), float("nan")] for key, v in point.items()}
    group = np.arange(len(x)) * g // len(x)  # (n_img,) contiguous groups of near-equal size
    est = np.array(
        [
            [
                v
                for v in _spread(
                    mx - Moments.of(x[group == j]), my - Moments.of(y[group[owner] == j]), k, mass
                ).values()
            ]
            for j in range(g)
        ]
    )  # (g, 5) leave-one-group-out estimates
    se = np.sqrt((g - 1) / g * ((est - est.mean(0)) ** 2).sum(0))
    return {
        key: [point[key], point[key] - 1.96 * float(e), point[key] + 1.96 * float(e)]
        for key, e in zip(TEXTSPREAD_KEYS, se)
    }
