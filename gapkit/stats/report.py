"""``measure``: every gap statistic with a seeded bootstrap 95% interval, as a ``GapReport``."""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from .core import accumulate, centroids, scalar_statistics, top_dims_share
from .retrieval import KS, retrieval_hits
from .separability import separability_hits
from .shift import Shift, shift_values, standard_shifts
from .spectrum import diff_covariance, spectrum_replicates, spectrum_statistics
from .sums import poisson_weights
from .validate import check_inputs

log = logging.getLogger("gapkit.stats")

RETRIEVAL_AUTO_MAX = 50000  # retrieval is O(n_img * n_cap * d): skipped above this unless forced
SPECTRUM_BOOT_ROWS = 2000
# Spectrum replicates cost rows * d^2 each (a d x d covariance and its eigenvalues). They get as
# many replicates as the other statistics while that stays within this many multiply-adds (all
# of them for the shipped 128-d tiny CLIP: 200 x 2000 x 128^2 = 6.6e9), and never fewer than
# SPECTRUM_MIN_REPS (768-d CLIP features: 20 replicates, about what the rest of measure costs).
SPECTRUM_BUDGET = 8e9
SPECTRUM_MIN_REPS = 20
SEED_MAX = 2**32 - 1  # numpy, torch and scikit-learn all accept seeds in 0..2^32-1
# Smallest n at which a statistic means something; below it the report says "n too small".
MIN_IMAGES_INTERVALS = 10  # bootstrap intervals (fewer images: a handful of distinct resamples)
MIN_IMAGES_SEPARABILITY = 25  # the 20% held-out split must hold at least ~10 rows
MIN_PAIRS_SPECTRUM = 10  # covariance of pair differences
# Gap decomposition (stats/decomposition.py): dense, so on a seeded subsample of at most this many
# images, with half-sampling intervals from DECOMPOSITION_REPS replicates (each costs about one
# decomposition: ~0.3 s at 1,000 images x 5 captions, d = 512).
DECOMPOSITION_MAX_IMAGES = 5000
DECOMPOSITION_REPS = 20
MIN_IMAGES_DECOMPOSITION = 40  # the cross-fitted ridge needs 20 images a half
# Norm-type statistics: plug-in |mean|-style estimates are biased (|mean| upward), and the
# percentile interval inherits the bias; the basic interval 2*value - quantiles corrects it to
# first order (a seeded coverage test in tests/test_stats.py checks this).
BASIC_INTERVAL = {"l2m", "l2m_sq_image_term", "l2m_sq_text_term", "l2m_sq_cross_term", "centroid_cosine",
                  "diff_cov_trace", "gap_share"}
# Natural range of each statistic; interval ends are clipped to it.
RANGES = {"cosine": (-1.0, 1.0), "paired_cosine_sd": (0.0, 1.0), "l2m": (0.0, 2.0), "l2i": (0.0, 2.0),
          "l2m_sq_image_term": (0.0, 1.0), "l2m_sq_text_term": (0.0, 1.0), "l2m_sq_cross_term": (-2.0, 2.0),
          "rmg": (0.0, 1.0), "separability": (0.0, 1.0), "share": (0.0, 1.0), "diff_cov_trace": (0.0, 4.0),
          "diff_effective_rank": (0.0, math.inf), "diff_dims_99": (1.0, math.inf), "r": (0.0, 1.0)}


def natural_range(name: str) -> tuple[float, float]:
    """(low, high) bounds of statistic ``name`` (for unit vectors)."""
    if name in RANGES:
        return RANGES[name]
    if name.endswith("cosine"):
        return RANGES["cosine"]
    if name.endswith("share"):
        return RANGES["share"]
    if name[:3] in ("i2t", "t2i"):
        return RANGES["r"]
    return -math.inf, math.inf


def interval_kind(name: str) -> str:
    return "basic" if name in BASIC_INTERVAL or name.endswith("gap_share") else "percentile"


@dataclass
class Stat:
    value: float
    lo: float
    hi: float
    n: int

    def fmt(self, digits: int = 4) -> str:
        return f"{self.value:.{digits}f} [{self.lo:.{digits}f}, {self.hi:.{digits}f}]"


@dataclass
class GapReport:
    """Result of ``measure``. ``stats`` maps a name to a value with its 95% interval and n;
    ``info["skipped"]`` names the statistics left out because n is too small, and why."""

    stats: dict[str, Stat]
    info: dict
    gap_vector: np.ndarray
    image_centroid: np.ndarray
    text_centroid: np.ndarray
    top_dims: list[dict]
    eigenvalues: list[float]
    shifts: list[dict] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> float:
        return self.stats[name].value

    def to_dict(self) -> dict:
        return {"info": self.info, "stats": {k: asdict(v) for k, v in self.stats.items()},
                "top_dims": self.top_dims, "eigenvalues": self.eigenvalues, "shifts": self.shifts,
                "gap_vector": self.gap_vector.tolist(), "provenance": self.provenance}

    def table(self) -> str:
        from .render import render_table

        return render_table(self)


class _Intervals:
    """Turns replicate arrays into Stats: percentile intervals, basic (bias-corrected) intervals
    for norm-type statistics, or, with ``debias``, percentile intervals centred on the replicate
    mean. When the bootstrap ran on a subsample of n_sub of n images, intervals sit around the
    full-data value with widths scaled by sqrt(n_sub / n). Ends are clipped to the statistic's
    natural range."""

    def __init__(self, scale: float, debias: bool = False) -> None:
        self.scale, self.debias = scale, debias

    def stat(self, name: str, point: float, reps: np.ndarray, n: int) -> Stat:
        boot = np.asarray(reps[1:], dtype=np.float64)
        boot = boot[np.isfinite(boot)]
        if len(boot) < 2:
            return Stat(float(point), math.nan, math.nan, n)
        q_lo, q_hi = np.percentile(boot, [2.5, 97.5])
        # Spectrum statistics are biased under resampling (duplicated rows lower the rank), so
        # their intervals are centred on the replicate mean instead of the sample value.
        centre = float(np.mean(boot)) if self.debias else float(reps[0])
        if not self.debias and interval_kind(name) == "basic":
            q_lo, q_hi = 2 * centre - q_hi, 2 * centre - q_lo  # reflect: the basic bootstrap interval
        lo_b, hi_b = natural_range(name)
        lo = min(max(point + (q_lo - centre) * self.scale, lo_b), hi_b)
        hi = max(min(point + (q_hi - centre) * self.scale, hi_b), lo_b)
        return Stat(float(point), float(lo), float(hi), n)


def _weighted_means(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """values (n, k), weights (R, n) -> (R, k), accumulated in float64. A replicate that drew no
    row at all (possible for tiny n) is NaN and left out of the interval."""
    total = weights.sum(1, keepdims=True, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (weights.astype(np.float64) @ values.astype(np.float64)) / total


def _check_options(seed, bootstrap, top_k) -> None:
    from ..errors import GapkitError

    checks = [("seed", seed, 0, SEED_MAX), ("bootstrap", bootstrap, 0, None), ("top_k", top_k, 1, None)]
    for name, v, lo, hi in checks:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo or (hi is not None and v > hi):
            allowed = f"in {lo}..{hi}" if hi is not None else f">= {lo}"
            raise GapkitError(f"{name} must be an integer {allowed}, got {v!r}.")


def measure(image_emb, text_emb, caption_image=None, *, normalize: bool = True, seed: int = 0,
            bootstrap: int = 200, bootstrap_max_images: int = 100_000, top_k: int = 10,
            retrieval: bool | None = None, separability: bool = True, shifts: bool | list[Shift] = True,
            spectrum: bool = True, decomposition: bool = True, chunk: int = 16384) -> GapReport:
    """Modality-gap statistics of paired embeddings.

    Parameters
    ----------
    image_emb : (n_images, d) array (may be a memory map)
    text_emb : (n_captions, d) array
    caption_image : (n_captions,) image index of each caption; None for 1:1 pairs.
    normalize : L2-normalise rows (default). With False, rows must already be unit-norm.
    seed : seeds the bootstrap, the separability split and the random shift directions (0..2^32-1).
    bootstrap : replicates for the 95% intervals (0 disables them; below 10 images there are none).
    top_k : how many of the largest per-dimension gaps to report (>= 1; with d < top_k, all d).
    retrieval : None = only when n_images <= 50,000 (it is quadratic).

    Statistics that need more data than given (separability, spectrum, R@k with k candidates or
    fewer) are left out and named in ``info["skipped"]``.
    """
    norm = check_inputs(image_emb, text_emb, caption_image, normalize)
    n_img, n_cap = len(image_emb), len(text_emb)
    _check_options(seed, bootstrap, top_k)
    skipped: dict[str, str] = {}
    if bootstrap and n_img < MIN_IMAGES_INTERVALS:
        skipped["intervals"] = _too_small(n_img, MIN_IMAGES_INTERVALS, "images")
        bootstrap = 0
    owner = np.arange(n_cap) if caption_image is None else np.asarray(caption_image)
    sub = None
    if bootstrap and n_img > bootstrap_max_images:
        sub = np.sort(np.random.default_rng([seed, 77]).choice(n_img, bootstrap_max_images, replace=False))
    # Per-image Poisson weights of every replicate, restricted to the bootstrap images: drawn once
    # for the streaming pass and the statistics computed from per-query values (retrieval,
    # separability, shifts, spectrum).
    weights = _image_weights(seed, bootstrap, n_img, sub)
    report, iv = _scalar_report(image_emb, text_emb, caption_image, normalize, seed, bootstrap, sub, top_k, chunk,
                                weights)
    report.info.update({"normalization": norm.describe(), "input_norm_min": norm.min_norm,
                        "input_norm_max": norm.max_norm, "normalized_by_gapkit": norm.normalized_by_gapkit,
                        "skipped": skipped})
    if retrieval or (retrieval is None and n_img <= RETRIEVAL_AUTO_MAX):
        _add_retrieval(report, image_emb, text_emb, caption_image, normalize, owner, weights, iv)
    else:
        report.info["retrieval"] = f"skipped (n_images > {RETRIEVAL_AUTO_MAX}; pass retrieval=True to force)"
    if separability:
        _add_separability(report, image_emb, text_emb, caption_image, normalize, seed, weights, iv)
    if shifts:
        shift_list = standard_shifts(report.gap_vector, seeds=(seed, seed + 1, seed + 2)) if shifts is True else shifts
        _add_shifts(report, image_emb, text_emb, caption_image, normalize, owner, weights, iv, shift_list)
    if spectrum:
        _add_spectrum(report, image_emb, text_emb, caption_image, normalize, owner, seed, weights)
    if decomposition:
        _add_decomposition(report, image_emb, text_emb, owner, seed, DECOMPOSITION_REPS if bootstrap else 0)
    return report


def _add_decomposition(report, image_emb, text_emb, owner, seed: int, reps: int) -> None:
    """Constant offset vs image-specific residual (ridge R^2 text -> image, residual / text
    spread, residual and constant shares, effective ranks, unrelated text-text cosine)."""
    from .decomposition import Paired, decomposition_intervals

    n_img = len(image_emb)
    if n_img < MIN_IMAGES_DECOMPOSITION:
        report.info["skipped"]["decomposition"] = _too_small(n_img, MIN_IMAGES_DECOMPOSITION, "images")
        return
    images = np.arange(n_img)
    if n_img > DECOMPOSITION_MAX_IMAGES:
        images = np.sort(np.random.default_rng([seed, 93]).choice(n_img, DECOMPOSITION_MAX_IMAGES, replace=False))
    keep = np.isin(owner, images)
    local = np.searchsorted(images, owner[keep])  # caption -> row of the subsample
    p = Paired.from_raw(np.asarray(image_emb[images]), np.asarray(text_emb)[keep], local)
    for name, (value, lo, hi) in decomposition_intervals(p, seed, reps).items():
        if name in DECOMPOSITION_ROWS:
            report.stats[name] = Stat(value, lo, hi, len(images))
    report.info["decomposition"] = (f"{len(images)} images and their captions (dense); intervals: normal, "
                                    f"standard errors from {reps} half-samples of the images")


# Decomposition statistics the report keeps (the others duplicate streaming-pass statistics).
DECOMPOSITION_ROWS = ("text_text_unrelated", "ridge_r2", "residual_text_ratio", "residual_share",
                      "constant_share", "image_effective_rank", "text_effective_rank")


def _too_small(n: int, need: int, what: str) -> str:
    return f"n too small ({n} {what} < {need})"


def _scalar_report(image_emb, text_emb, caption_image, normalize, seed, bootstrap, sub, top_k, chunk, weights):
    """The streaming-pass statistics (point and replicates) as a report, and its interval maker."""
    n_img, n_cap, d = len(image_emb), len(text_emb), image_emb.shape[1]
    kw = {"normalize": normalize, "seed": seed, "chunk": chunk}
    if sub is not None or not bootstrap:
        sums = accumulate(image_emb, text_emb, caption_image, reps=0, **kw)
    else:
        sums = accumulate(image_emb, text_emb, caption_image, reps=bootstrap, weights=weights, **kw)
    with np.errstate(invalid="ignore", divide="ignore"):  # a replicate that drew < 2 images is NaN, dropped
        point = {k: float(v[0]) for k, v in scalar_statistics(sums).items()}
        if sub is not None:
            boot = accumulate(image_emb, text_emb, caption_image, reps=bootstrap, images=sub, weights=weights, **kw)
            scale = math.sqrt(len(sub) / n_img)
        else:
            boot, scale = sums, 1.0
        iv = _Intervals(scale)
        reps = scalar_statistics(boot)
        stats = {k: iv.stat(k, point[k], reps[k], n_cap) for k in point}
        mu_i, mu_t = centroids(sums)
        gap = mu_i[0] - mu_t[0]
        dims = np.argsort(-np.abs(gap))[:top_k]
        gi, gt = centroids(boot)
        name = f"top{top_k}_dims_gap_share"
        stats[name] = iv.stat(name, float(top_dims_share(gap[None], dims)[0]), top_dims_share(gi - gt, dims), n_cap)
    info = {"n_images": n_img, "n_captions": n_cap, "d": d, "seed": seed, "bootstrap": bootstrap,
            "bootstrap_images": len(sub) if sub is not None else n_img, "bootstrap_width_scale": scale,
            "intervals": "percentile; basic (2 x value - quantiles, bias-corrected) for "
                         f"{', '.join(sorted(BASIC_INTERVAL - {'gap_share'}))} and {name}"}
    report = GapReport(stats, info, gap, mu_i[0], mu_t[0],
                       [{"dim": int(k), "abs_gap": float(abs(gap[k]))} for k in dims], [])
    return report, iv


def _image_weights(seed: int, reps: int, n_img: int, sub: np.ndarray | None) -> np.ndarray:
    w = poisson_weights(seed, reps, 0, n_img).astype(np.float32)
    if sub is not None:
        mask = np.zeros(n_img, bool)
        mask[sub] = True
        w[1:, ~mask] = 0  # replicates cover the subsample only, as for the scalar statistics
        w = np.concatenate([w[:1] * mask, w[1:]])  # row 0: subsample point, for centring
    return w


def _add_retrieval(report, image_emb, text_emb, caption_image, normalize, owner, weights, iv) -> None:
    """R@k both ways. Images without a caption cannot be retrieved correctly and are left out of
    image->text (with a warning); R@k is skipped where there are no more than k candidates."""
    i2t, t2i = retrieval_hits(image_emb, text_emb, caption_image, normalize)
    has_caption = np.bincount(owner, minlength=len(image_emb)) > 0
    if not has_caption.all():
        n_out = int((~has_caption).sum())
        log.warning("%d of %d images have no caption: left out of image->text recall", n_out, len(has_caption))
        report.info["images_without_captions"] = n_out
        i2t, w_i2t = i2t[has_caption], weights[:, has_caption]
    else:
        w_i2t = weights
    with np.errstate(invalid="ignore", divide="ignore"):
        ri = _weighted_means(i2t.astype(float), w_i2t)
        rt = _weighted_means(t2i.astype(float), weights[:, owner])
    for j, k in enumerate(KS):
        for name, hits, reps, candidates in (("i2t", i2t, ri, len(t2i)), ("t2i", t2i, rt, len(image_emb))):
            key = f"{name}_r{k}"
            if candidates <= k:
                report.info["skipped"][key] = _too_small(candidates, k + 1, "candidates")
            else:
                report.stats[key] = iv.stat(key, float(hits[:, j].mean()), reps[:, j], len(hits))


def _add_separability(report, image_emb, text_emb, caption_image, normalize, seed, weights, iv) -> None:
    n_img = len(image_emb)
    if n_img < MIN_IMAGES_SEPARABILITY:
        report.info["skipped"]["separability"] = _too_small(n_img, MIN_IMAGES_SEPARABILITY, "images")
        return
    hits, rows, n_used = separability_hits(image_emb, text_emb, caption_image, normalize, seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = _weighted_means(hits.astype(float)[:, None], weights[:, rows])[:, 0]
    report.stats["separability"] = iv.stat("separability", float(hits.mean()), reps, len(hits))
    report.info["separability"] = (f"logistic regression, seeded 80/20 split of {n_used} images + "
                                   f"{n_used} captions; n = held-out rows")


def _add_shifts(report, image_emb, text_emb, caption_image, normalize, owner, weights, iv, shift_list) -> None:
    mg, delta = shift_values(image_emb, text_emb, caption_image, shift_list, normalize)
    w = weights[:, owner]
    with np.errstate(invalid="ignore", divide="ignore"):
        mg_r, de_r = _weighted_means(mg, w), _weighted_means(delta, w)
    mg_mean, de_mean = mg.mean(0, dtype=np.float64), delta.mean(0, dtype=np.float64)
    for j, sh in enumerate(shift_list):
        report.shifts.append({
            "bias": sh.name, "magnitude": sh.magnitude, "seed": sh.seed,
            "mg": asdict(iv.stat("mg_cosine", float(mg_mean[j]), mg_r[:, j], len(mg))),
            "delta": asdict(iv.stat("delta_cosine", float(de_mean[j]), de_r[:, j], len(mg)))})
        if sh.name == "mean":
            report.stats["paired_cosine_after_gap_shift"] = iv.stat(
                "paired_cosine_after_gap_shift", float(mg_mean[j]), mg_r[:, j], len(mg))


SPECTRUM_KEYS = ("effective_rank", "top_eigenvalue_share", "dims_99")


def _add_spectrum(report, image_emb, text_emb, caption_image, normalize, owner, seed, weights) -> None:
    """Spectrum of Cov(x - y) with intervals from the same replicates as the other statistics (as
    many as SPECTRUM_BUDGET affords), on a seeded subsample of at most SPECTRUM_BOOT_ROWS pairs,
    each pair weighted by its image."""
    n_cap = len(text_emb)
    if n_cap < MIN_PAIRS_SPECTRUM:
        for k in SPECTRUM_KEYS:
            report.info["skipped"][f"diff_{k}"] = _too_small(n_cap, MIN_PAIRS_SPECTRUM, "pairs")
        return
    spec = spectrum_statistics(diff_covariance(image_emb, text_emb, caption_image, normalize))
    report.eigenvalues = [float(v) for v in spec["eigenvalues"]]
    rng = np.random.default_rng([seed, 91])
    rows = np.sort(rng.choice(n_cap, min(n_cap, SPECTRUM_BOOT_ROWS), replace=False))
    d = len(report.gap_vector)
    affordable = max(SPECTRUM_MIN_REPS, int(SPECTRUM_BUDGET / (len(rows) * d * d)))
    n_reps = min(len(weights) - 1, affordable)  # the first n_reps of the shared replicates
    reps = {k: np.full(1 + n_reps, np.nan) for k in SPECTRUM_KEYS}
    if n_reps:
        boot = spectrum_replicates(image_emb, text_emb, caption_image, normalize, rows,
                                   weights[1:1 + n_reps, owner[rows]])
        for k in SPECTRUM_KEYS:
            reps[k][1:] = boot[k]
    scale = math.sqrt(len(rows) / n_cap)
    sub_iv = _Intervals(scale, debias=True)
    for k in SPECTRUM_KEYS:
        report.stats[f"diff_{k}"] = sub_iv.stat(f"diff_{k}", float(spec[k]), reps[k], n_cap)
    report.info["spectrum_bootstrap"] = (f"{n_reps} replicates on {len(rows)} pairs, "
                                         f"widths scaled by sqrt({len(rows)}/{n_cap}), centred on "
                                         "the replicate mean (resampling biases the rank)")
