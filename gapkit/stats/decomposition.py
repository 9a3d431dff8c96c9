"""Gap decomposition: is the gap a constant offset, or image-specific content?

Two embedding spaces with the same centroid distance can behave in opposite ways when a model is
trained on text and tested on images. These statistics split the gap into a constant offset
(the same vector between every image and its caption) and an image-specific residual (what the
image embedding holds that its caption does not predict); ../shared/docs/gap-geometry.md gives
the definitions and real CLIP's values. Inputs are unit rows: x the image of each caption, y the
caption (``pairs``), plus each modality's own rows.

Dense O(n d^2) computations: meant for evaluation sets (up to ~10^5 captions), not for the
streaming pass over millions of rows.
"""

from __future__ import annotations

import numpy as np

from ..streams import stream
from .paired import Paired

RIDGE_ALPHAS = tuple(10.0**k for k in range(-3, 4))  # searched by inner cross-validation
MIN_IMAGES = {"ridge_r2": 20, "effective_rank": 3}  # below this a statistic is "n too small"
NAN = float("nan")
# A spread of unit rows (a variance, a trace, a mean squared distance, |gap|^2) at or below this is
# the float rounding of rows that are all the same (about 1e-33); a ratio over it is undefined.
ROUNDING = 1e-20


def _ratio(num: float, den: float, tiny: float = ROUNDING) -> float:
    """num / den, NaN where the ratio is undefined (den <= tiny: no spread to divide by)."""
    return float(num) / float(den) if den > tiny else NAN


def _trace_cov(rows: np.ndarray) -> float:
    """trace of the rows' (biased) covariance; d = 1 gives a 0-d covariance, hence atleast_2d."""
    return float(np.trace(np.atleast_2d(np.cov(rows, rowvar=False, bias=True))))


def mean_offdiag_cosine(rows: np.ndarray) -> float:
    """Mean cosine over distinct pairs of unit rows: (|sum|^2 - n) / (n (n - 1))."""
    n = len(rows)
    s = rows.sum(0)
    return _ratio(s @ s - n, n * (n - 1), 0)


def unrelated_text_cosine(p: Paired) -> float:
    """Mean cosine between captions of *different* images."""
    s = p.text.sum(0)
    per_image = np.zeros_like(p.image)
    np.add.at(per_image, p.caption_image, p.text)
    counts = np.bincount(p.caption_image, minlength=len(p.image)).astype(float)
    same = (np.einsum("ij,ij->i", per_image, per_image)).sum()  # includes self pairs
    pairs_all = len(p.text) ** 2
    pairs_same = (counts**2).sum()
    return _ratio(s @ s - same, pairs_all - pairs_same, 0)


def shifted_paired_cosine(p: Paired) -> float:
    """Mean x . n(y + mu_I - mu_T): alignment left once the constant offset is removed."""
    z = p.text + p.gap
    norm = np.linalg.norm(z, axis=1, keepdims=True)
    if not (norm > 0).all():  # a caption moved onto the origin has no direction
        return NAN
    return float(np.einsum("ij,ij->i", p.x_of_caption, z / norm).mean())


def _r2(x_true: np.ndarray, x_pred: np.ndarray) -> float:
    """Variance-weighted R^2 over all output dimensions (scored around the test mean)."""
    sse = ((x_true - x_pred) ** 2).sum()
    sst = ((x_true - x_true.mean(0)) ** 2).sum()
    return 1.0 - _ratio(sse, sst, ROUNDING * x_true.size)


class _RidgePath:
    """Ridge regressions x ~ y for every alpha at once, from one eigendecomposition of the centred
    inputs' Gram matrix on their smaller side (m x m rows-Gram when m < d, else the d x d
    covariance), instead of one d x d solve per alpha. With Yc = U S V^T:
    W(alpha) = V diag(s / (s^2 + alpha)) U^T Xc; predictions of new rows Z:
    - rows side: (Z Yc^T) U diag(1 / (s^2 + alpha)) (U^T Xc)
    - columns side: (Z V) diag(1 / (s^2 + alpha)) (V^T Yc^T Xc)
    Both avoid dividing by s, so directions with s = 0 contribute exactly 0 as in the SVD form."""

    def __init__(self, y: np.ndarray, x: np.ndarray) -> None:
        self.my, self.mx = y.mean(0), x.mean(0)
        yc, xc = y - self.my, x - self.mx
        self.rows = len(y) < y.shape[1]
        gram = yc @ yc.T if self.rows else yc.T @ yc
        s2, basis = np.linalg.eigh(gram)
        self.s2 = np.clip(s2, 0.0, None)
        self.basis = basis  # U (rows side) or V (columns side)
        self.yc = yc if self.rows else None
        self.proj = basis.T @ xc if self.rows else basis.T @ (yc.T @ xc)  # (k, d_out)

    def predict(self, y: np.ndarray, alpha: float) -> np.ndarray:
        z = y - self.my
        left = (z @ self.yc.T) @ self.basis if self.rows else z @ self.basis  # (n, k)
        return (left / (self.s2 + alpha)) @ self.proj + self.mx


def _best_alpha(y: np.ndarray, x: np.ndarray, rng: np.random.Generator, folds: int = 3) -> float:
    """The alpha of RIDGE_ALPHAS with the best inner cross-validated R^2."""
    fold = rng.permutation(len(y)) % folds
    paths = [(_RidgePath(y[fold != k], x[fold != k]), fold == k) for k in range(folds)]
    scores = [
        np.mean([_r2(x[test], path.predict(y[test], alpha)) for path, test in paths])
        for alpha in RIDGE_ALPHAS
    ]
    return RIDGE_ALPHAS[int(np.argmax(scores))]


def ridge_r2(p: Paired, seed: int = 0) -> float:
    """Held-out, cross-fitted R^2 of a ridge regression predicting the image from one caption.

    Images are split in two halves; a ridge (alpha by inner 3-fold CV on the training half) is
    fit on one half and scored on the other, both ways, and the two R^2 averaged. One caption
    per image (a seeded choice), so no image is in both halves."""
    rng = stream(seed, "ridge-folds")
    n_img = len(p.image)
    if n_img < MIN_IMAGES["ridge_r2"]:
        return float("nan")
    order = rng.permutation(len(p.text))
    first = np.full(n_img, -1)
    first[p.caption_image[order]] = order  # a random caption of each image (last write wins)
    has = np.flatnonzero(first >= 0)
    half = rng.permutation(has)[: len(has) // 2]
    a = np.isin(has, half)
    y, x = p.text[first[has]], p.image[has]
    scores = []
    for train, test in ((a, ~a), (~a, a)):
        alpha = _best_alpha(y[train], x[train], rng)
        scores.append(_r2(x[test], _RidgePath(y[train], x[train]).predict(y[test], alpha)))
    return float(np.mean(scores))


def effective_rank(rows: np.ndarray) -> float:
    """exp(entropy of the normalised eigenvalues of the rows' covariance) (Roy & Vetterli 2007)."""
    if len(rows) < MIN_IMAGES["effective_rank"]:
        return NAN
    ev = np.clip(np.linalg.eigvalsh(np.atleast_2d(np.cov(rows, rowvar=False))), 0, None)
    if not ev.sum() > ROUNDING:  # identical rows: no spread, rank 0 (as spectrum.py says)
        return 0.0
    p = ev / ev.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def top_gap_share(gap: np.ndarray, k: int = 10) -> float:
    """Share of |gap|^2 in its k largest coordinates."""
    sq = np.sort(gap**2)[::-1]
    return _ratio(sq[:k].sum(), sq.sum())


def decomposition(p: Paired, seed: int = 0) -> dict[str, float]:
    """Every decomposition statistic of ``p`` (see the module docstring)."""
    x = p.x_of_caption
    delta = x - p.text  # (n_cap, d)
    mean_sq = float((delta**2).sum(1).mean())
    resid_trace, text_trace = _trace_cov(delta), _trace_cov(p.text)
    gap = p.gap
    return {
        "paired_cosine": float(np.einsum("ij,ij->i", x, p.text).mean()),
        "text_text_unrelated": unrelated_text_cosine(p),
        "l2m": float(np.linalg.norm(gap)),
        "image_cone": mean_offdiag_cosine(p.image),
        "text_cone": mean_offdiag_cosine(p.text),
        "shifted_paired_cosine": shifted_paired_cosine(p),
        "ridge_r2": ridge_r2(p, seed),
        "residual_text_ratio": _ratio(resid_trace, text_trace),
        "residual_share": _ratio(resid_trace, mean_sq),
        "constant_share": _ratio(gap @ gap, mean_sq),
        "top10_gap_share": top_gap_share(gap, 10),
        "image_effective_rank": effective_rank(p.image),
        "text_effective_rank": effective_rank(p.text),
    }


def _resample(p: Paired, images: np.ndarray) -> Paired:
    """The images ``images`` (with repeats) and all their captions, as a new Paired."""
    order = np.argsort(p.caption_image, kind="stable")
    starts = np.searchsorted(p.caption_image[order], np.arange(len(p.image) + 1))
    rows = [order[starts[i] : starts[i + 1]] for i in images]
    owner = np.repeat(np.arange(len(images)), [len(r) for r in rows])
    return Paired(p.image[images], p.text[np.concatenate(rows)], owner)


def decomposition_intervals(
    p: Paired, seed: int = 0, reps: int = 100, level: float = 0.95
) -> dict[str, tuple[float, float, float]]:
    """Each statistic as (value, lo, hi): a normal interval whose standard error comes from
    half-sampling (the delete-n/2 jackknife: ``reps`` subsets of half the images, drawn without
    replacement, each with all its captions; for half-samples the variance factor
    m / (n - m) is 1). A with-replacement bootstrap would put copies of one image on both sides
    of the ridge's split (leaking) and deflate the effective rank with duplicate rows."""
    from scipy.stats import norm

    point = decomposition(p, seed)
    if reps <= 0:
        return {k: (v, float("nan"), float("nan")) for k, v in point.items()}
    rng = stream(seed, "decomposition-bootstrap")
    n = len(p.image)
    boot = {k: [] for k in point}
    for _ in range(reps):
        rep = decomposition(_resample(p, np.sort(rng.choice(n, n // 2, replace=False))), seed)
        for k, v in rep.items():
            boot[k].append(v)
    z = float(norm.ppf(0.5 + level / 2))
    out = {}
    for k, v in point.items():
        # fewer than two defined replicates (identical rows): no standard error, no interval
        se = float(np.nanstd(boot[k], ddof=1)) if np.isfinite(boot[k]).sum() >= 2 else NAN
        out[k] = (v, v - z * se, v + z * se)
    return out
