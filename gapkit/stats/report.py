"""``measure``: every gap statistic with a seeded bootstrap 95% interval, as a ``GapReport``."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from .core import accumulate, centroids, scalar_statistics, top_dims_share
from .retrieval import KS, retrieval_hits
from .separability import separability_hits
from .shift import Shift, shift_values, standard_shifts
from .spectrum import diff_covariance, spectrum_statistics
from .sums import poisson_weights
from .validate import check_inputs

RETRIEVAL_AUTO_MAX = 50000  # retrieval is O(n_img * n_cap * d): skipped above this unless forced
SPECTRUM_BOOT_ROWS = 2000
SPECTRUM_BOOT_REPS = 20


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
    """Result of ``measure``. ``stats`` maps a name to a value with its 95% interval and n."""

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
    """Turns replicate arrays into Stats: percentile intervals, or, when the bootstrap ran on a
    subsample of n_sub of n images, intervals around the full-data value with widths scaled by
    sqrt(n_sub / n)."""

    def __init__(self, scale: float, debias: bool = False) -> None:
        self.scale, self.debias = scale, debias

    def stat(self, point: float, reps: np.ndarray, n: int) -> Stat:
        boot = np.asarray(reps[1:], dtype=np.float64)
        boot = boot[np.isfinite(boot)]
        if len(boot) < 2:
            return Stat(float(point), math.nan, math.nan, n)
        q_lo, q_hi = np.percentile(boot, [2.5, 97.5])
        # Spectrum statistics are biased under resampling (duplicated rows lower the rank), so
        # their intervals are centred on the replicate mean instead of the sample value.
        centre = float(np.mean(boot)) if self.debias else reps[0]
        lo = point + (q_lo - centre) * self.scale
        hi = point + (q_hi - centre) * self.scale
        return Stat(float(point), float(lo), float(hi), n)


def _weighted_means(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """values (n, k), weights (R, n) -> (R, k), accumulated in float64. A replicate that drew no
    row at all (possible for tiny n) is NaN and left out of the interval."""
    total = weights.sum(1, keepdims=True, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (weights.astype(np.float64) @ values.astype(np.float64)) / total


def measure(image_emb, text_emb, caption_image=None, *, normalize: bool = True, seed: int = 0,
            bootstrap: int = 200, bootstrap_max_images: int = 100_000, top_k: int = 10,
            retrieval: bool | None = None, separability: bool = True, shifts: bool | list[Shift] = True,
            spectrum: bool = True, chunk: int = 16384) -> GapReport:
    """Modality-gap statistics of paired embeddings.

    Parameters
    ----------
    image_emb : (n_images, d) array (may be a memory map)
    text_emb : (n_captions, d) array
    caption_image : (n_captions,) image index of each caption; None for 1:1 pairs.
    normalize : L2-normalise rows (default). With False, rows must already be unit-norm.
    seed : seeds the bootstrap, the separability split and the random shift directions.
    bootstrap : replicates for the 95% intervals (0 disables them).
    retrieval : None = only when n_images <= 50,000 (it is quadratic).
    """
    norm = check_inputs(image_emb, text_emb, caption_image, normalize)
    n_img, n_cap, d = len(image_emb), len(text_emb), image_emb.shape[1]
    owner = np.arange(n_cap) if caption_image is None else np.asarray(caption_image)
    sub = None
    if bootstrap and n_img > bootstrap_max_images:
        sub = np.sort(np.random.default_rng([seed, 77]).choice(n_img, bootstrap_max_images, replace=False))
    kw = {"normalize": normalize, "seed": seed, "chunk": chunk}
    sums = accumulate(image_emb, text_emb, caption_image, reps=0 if sub is not None else bootstrap, **kw)
    point = {k: float(v[0]) for k, v in scalar_statistics(sums).items()}
    if sub is not None:
        boot = accumulate(image_emb, text_emb, caption_image, reps=bootstrap, images=sub, **kw)
        scale = math.sqrt(len(sub) / n_img)
    else:
        boot, scale = sums, 1.0
    iv = _Intervals(scale)
    reps = scalar_statistics(boot)
    stats = {k: iv.stat(point[k], reps[k], n_cap) for k in point}
    mu_i, mu_t = centroids(sums)
    gap = mu_i[0] - mu_t[0]
    dims = np.argsort(-np.abs(gap))[:top_k]
    gi, gt = centroids(boot)
    stats[f"top{top_k}_dims_gap_share"] = iv.stat(float(top_dims_share(gap[None], dims)[0]),
                                                  top_dims_share(gi - gt, dims), n_cap)
    info = {"n_images": n_img, "n_captions": n_cap, "d": d, "normalization": norm.describe(),
            "input_norm_min": norm.min_norm, "input_norm_max": norm.max_norm,
            "normalized_by_gapkit": norm.normalized_by_gapkit, "seed": seed, "bootstrap": bootstrap,
            "bootstrap_images": len(sub) if sub is not None else n_img,
            "bootstrap_width_scale": scale}
    # Per-image weights for statistics computed from per-query values (retrieval, separability,
    # shifts): the same Poisson replicates, restricted to the bootstrap images.
    weights = _image_weights(seed, bootstrap, n_img, sub)
    report = GapReport(stats, info, gap, mu_i[0], mu_t[0],
                       [{"dim": int(k), "abs_gap": float(abs(gap[k]))} for k in dims], [])
    if retrieval or (retrieval is None and n_img <= RETRIEVAL_AUTO_MAX):
        _add_retrieval(report, image_emb, text_emb, caption_image, normalize, owner, weights, iv)
    else:
        info["retrieval"] = f"skipped (n_images > {RETRIEVAL_AUTO_MAX}; pass retrieval=True to force)"
    if separability:
        _add_separability(report, image_emb, text_emb, caption_image, normalize, seed, weights, iv)
    if shifts:
        shift_list = standard_shifts(gap, seeds=(seed, seed + 1, seed + 2)) if shifts is True else shifts
        _add_shifts(report, image_emb, text_emb, caption_image, normalize, owner, weights, iv, shift_list)
    if spectrum:
        _add_spectrum(report, image_emb, text_emb, caption_image, normalize, owner, seed, iv)
    return report


def _image_weights(seed: int, reps: int, n_img: int, sub: np.ndarray | None) -> np.ndarray:
    w = poisson_weights(seed, reps, 0, n_img).astype(np.float32)
    if sub is not None:
        mask = np.zeros(n_img, bool)
        mask[sub] = True
        w[1:, ~mask] = 0  # replicates cover the subsample only, as for the scalar statistics
        w = np.concatenate([w[:1] * mask, w[1:]])  # row 0: subsample point, for centring
    return w


def _add_retrieval(report, image_emb, text_emb, caption_image, normalize, owner, weights, iv) -> None:
    i2t, t2i = retrieval_hits(image_emb, text_emb, caption_image, normalize)
    ri = _weighted_means(i2t.astype(float), weights)
    rt = _weighted_means(t2i.astype(float), weights[:, owner])
    for j, k in enumerate(KS):
        report.stats[f"i2t_r{k}"] = iv.stat(float(i2t[:, j].mean()), ri[:, j], len(i2t))
        report.stats[f"t2i_r{k}"] = iv.stat(float(t2i[:, j].mean()), rt[:, j], len(t2i))


def _add_separability(report, image_emb, text_emb, caption_image, normalize, seed, weights, iv) -> None:
    hits, rows, n_used = separability_hits(image_emb, text_emb, caption_image, normalize, seed)
    reps = _weighted_means(hits.astype(float)[:, None], weights[:, rows])[:, 0]
    report.stats["separability"] = iv.stat(float(hits.mean()), reps, len(hits))
    report.info["separability"] = (f"logistic regression, seeded 80/20 split of {n_used} images + "
                                   f"{n_used} captions; n = held-out rows")


def _add_shifts(report, image_emb, text_emb, caption_image, normalize, owner, weights, iv, shift_list) -> None:
    mg, delta = shift_values(image_emb, text_emb, caption_image, shift_list, normalize)
    w = weights[:, owner]
    mg_r, de_r = _weighted_means(mg, w), _weighted_means(delta, w)
    mg_mean, de_mean = mg.mean(0, dtype=np.float64), delta.mean(0, dtype=np.float64)
    for j, sh in enumerate(shift_list):
        report.shifts.append({
            "bias": sh.name, "magnitude": sh.magnitude, "seed": sh.seed,
            "mg": asdict(iv.stat(float(mg_mean[j]), mg_r[:, j], len(mg))),
            "delta": asdict(iv.stat(float(de_mean[j]), de_r[:, j], len(mg)))})
        if sh.name == "mean":
            report.stats["paired_cosine_after_gap_shift"] = iv.stat(float(mg_mean[j]), mg_r[:, j], len(mg))


def _add_spectrum(report, image_emb, text_emb, caption_image, normalize, owner, seed, iv) -> None:
    n_cap = len(text_emb)
    spec = spectrum_statistics(diff_covariance(image_emb, text_emb, caption_image, normalize))
    report.eigenvalues = [float(v) for v in spec["eigenvalues"]]
    rng = np.random.default_rng([seed, 91])
    rows = np.sort(rng.choice(n_cap, min(n_cap, SPECTRUM_BOOT_ROWS), replace=False))
    reps = {"effective_rank": [], "top_eigenvalue_share": [], "dims_99": []}
    w = poisson_weights(seed + 1, SPECTRUM_BOOT_REPS, 0, n_cap)[:, rows]  # (1 + R, rows)
    for r in range(1 + SPECTRUM_BOOT_REPS if report.info["bootstrap"] else 1):
        s = spectrum_statistics(diff_covariance(image_emb, text_emb, caption_image, normalize, rows, w[r]))
        for k in reps:
            reps[k].append(s[k])
    scale = math.sqrt(len(rows) / n_cap)
    sub_iv = _Intervals(scale, debias=True)
    for k in reps:
        report.stats[f"diff_{k}"] = sub_iv.stat(float(spec[k]), np.asarray(reps[k], float), n_cap)
    report.info["spectrum_bootstrap"] = (f"{SPECTRUM_BOOT_REPS} replicates on {len(rows)} pairs, "
                                         f"widths scaled by sqrt({len(rows)}/{n_cap}), centred on "
                                         "the replicate mean (resampling biases the rank)")
