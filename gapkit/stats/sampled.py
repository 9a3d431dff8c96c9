"""The statistics of ``measure`` that are not plain sums: retrieval (every query, or a seeded
sample of queries ranked against every candidate), separability and the spectrum's replicates
(seeded samples of rows read by random access), MG / Delta of the shifts and the spectrum's point
estimate (from the pass's sums). Each gets its bootstrap replicates from the same per-image
Poisson weights as the streaming sums (``BootstrapSet``)."""

from __future__ import annotations

import logging
import math
from dataclasses import asdict

import numpy as np

from ..streams import stream
from .paired import unit_rows
from .report import (
    MIN_IMAGES_SEPARABILITY,
    MIN_PAIRS_SPECTRUM,
    SPECTRUM_BOOT_ROWS,
    SPECTRUM_BUDGET,
    SPECTRUM_MIN_REPS,
    _Intervals,
    _too_small,
    _weighted_means,
)
from .retrieval import KS, retrieval_hits
from .separability import separability_hits
from .spectrum import spectrum_replicates, spectrum_statistics
from .stream import TOP_K, Queries

log = logging.getLogger("gapkit.stats")

RETRIEVAL_QUERIES = 1000  # per direction, above RETRIEVAL_AUTO_MAX images: R@k within ~0.016 (1 sd)
SPECTRUM_KEYS = ("effective_rank", "top_eigenvalue_share", "dims_99")


def _unit(rows) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):  # a bad row fails the pass that reads it
        return unit_rows(rows, np.float32)


def sample_queries(src, owner: np.ndarray, boot, seed: int, normalize: bool) -> Queries:
    """A seeded sample of RETRIEVAL_QUERIES images (from the bootstrap set, so they have replicate
    weights, and with a caption) as image->text queries, and their captions as text->image ones."""
    n_img = len(src.image_emb)
    pool = np.arange(n_img) if boot.members is None else boot.members
    if src.caption_image is not None:
        pool = pool[np.bincount(owner, minlength=n_img)[pool] > 0]
    rng = stream(seed, "sampled-statistics")
    images = np.sort(rng.choice(pool, min(RETRIEVAL_QUERIES, len(pool)), replace=False))
    captions = images if src.caption_image is None else np.flatnonzero(np.isin(owner, images))
    prep = _unit if normalize else (lambda r: np.asarray(r, np.float32))
    return Queries(images, prep(src.image_emb[images]), captions, prep(src.text_emb[captions]))


def _first_hits(correct: np.ndarray) -> np.ndarray:
    """correct (q, TOP_K) bool, candidates best first -> (q, len(KS)) hit at each k."""
    first = np.where(correct.any(1), correct.argmax(1), TOP_K)
    return np.stack([first < k for k in KS], axis=1)


def add_sampled_retrieval(report, total, queries: Queries, owner: np.ndarray, boot) -> None:
    """R@k for the sampled queries against every candidate (the pass kept each query's top 10).
    Replicates reweight the queries, so intervals cover the query sampling (no width scaling)."""
    ids = total.i2t.ids  # (q_i, TOP_K) caption indices, best first; -1 = fewer candidates
    i2t = _first_hits((ids >= 0) & (owner[np.maximum(ids, 0)] == queries.image_ids[:, None]))
    t2i = _first_hits(total.t2i.ids == owner[queries.caption_ids][:, None])
    iv = _Intervals(1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ri = _weighted_means(i2t.astype(float), boot.weights(queries.image_ids))
        rt = _weighted_means(t2i.astype(float), boot.weights(owner[queries.caption_ids]))
    for j, k in enumerate(KS):
        report.stats[f"i2t_r{k}"] = iv.stat(f"i2t_r{k}", float(i2t[:, j].mean()), ri[:, j], len(i2t))
        report.stats[f"t2i_r{k}"] = iv.stat(f"t2i_r{k}", float(t2i[:, j].mean()), rt[:, j], len(t2i))
    report.info["retrieval"] = (
        f"sampled: {len(i2t)} image and {len(t2i)} caption queries (seeded), each ranked "
        f"against all {len(owner)} captions / {report.info['n_images']} images; intervals "
        "resample the queries"
    )


def add_retrieval(report, src, normalize: bool, owner: np.ndarray, boot, iv) -> None:
    """R@k both ways for every query. Images without a caption cannot be retrieved correctly and
    are left out of image->text (with a warning); R@k is skipped with no more than k candidates."""
    n_img = len(src.image_emb)
    i2t, t2i = retrieval_hits(src.image_emb, src.text_emb, src.caption_image, normalize)
    weights = boot.weights(np.arange(n_img))
    has_caption = np.bincount(owner, minlength=n_img) > 0
    if not has_caption.all():
        n_out = int((~has_caption).sum())
        log.warning("%d of %d images have no caption: left out of image->text recall", n_out, n_img)
        report.info["images_without_captions"] = n_out
        i2t, w_i2t = i2t[has_caption], weights[:, has_caption]
    else:
        w_i2t = weights
    with np.errstate(invalid="ignore", divide="ignore"):
        ri = _weighted_means(i2t.astype(float), w_i2t)
        rt = _weighted_means(t2i.astype(float), weights[:, owner])
    for j, k in enumerate(KS):
        for name, hits, reps, candidates in (("i2t", i2t, ri, len(t2i)), ("t2i", t2i, rt, n_img)):
            key = f"{name}_r{k}"
            if candidates <= k:
                report.info["skipped"][key] = _too_small(candidates, k + 1, "candidates")
            else:
                report.stats[key] = iv.stat(key, float(hits[:, j].mean()), reps[:, j], len(hits))


def add_separability(report, src, normalize: bool, seed: int, boot, iv) -> None:
    n_img = len(src.image_emb)
    if n_img < MIN_IMAGES_SEPARABILITY:
        report.info["skipped"]["separability"] = _too_small(n_img, MIN_IMAGES_SEPARABILITY, "images")
        return
    hits, rows, n_used = separability_hits(src.image_emb, src.text_emb, src.caption_image, normalize, seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = _weighted_means(hits.astype(float)[:, None], boot.weights(rows))[:, 0]
    report.stats["separability"] = iv.stat("separability", float(hits.mean()), reps, len(hits))
    report.info["separability"] = (
        f"logistic regression, seeded 80/20 split of {n_used} images + {n_used} captions; n = held-out rows"
    )


def add_shifts(
    report, shift_list, point: np.ndarray, boot_sums: np.ndarray, weight_totals: np.ndarray, n_cap: int, iv
) -> None:
    """MG / Delta of each shift from the pass's sums: point (2, K) over all pairs, boot_sums
    (2, 1 + reps, K) weighted over the bootstrap pairs, weight_totals (1 + reps,) their weights."""
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = boot_sums / weight_totals[None, :, None]
    mean = point / n_cap
    for j, sh in enumerate(shift_list):
        report.shifts.append(
            {
                "bias": sh.name,
                "magnitude": sh.magnitude,
                "seed": sh.seed,
                "mg": asdict(iv.stat("mg_cosine", float(mean[0, j]), reps[0, :, j], n_cap)),
                "delta": asdict(iv.stat("delta_cosine", float(mean[1, j]), reps[1, :, j], n_cap)),
            }
        )
        if sh.name == "mean":
            report.stats["paired_cosine_after_gap_shift"] = iv.stat(
                "paired_cosine_after_gap_shift", float(mean[0, j]), reps[0, :, j], n_cap
            )


def add_spectrum(report, src, moment, normalize: bool, owner: np.ndarray, seed: int, boot) -> None:
    """Spectrum of Cov(x - y): the point estimate from the pass's second moment (every pair);
    intervals from the same replicates as the other statistics (as many as SPECTRUM_BUDGET
    affords) on a seeded subsample of at most SPECTRUM_BOOT_ROWS pairs, each weighted by its image."""
    n_cap = len(src.text_emb)
    if n_cap < MIN_PAIRS_SPECTRUM:
        for k in SPECTRUM_KEYS:
            report.info["skipped"][f"diff_{k}"] = _too_small(n_cap, MIN_PAIRS_SPECTRUM, "pairs")
        return
    spec = spectrum_statistics(moment.covariance())
    report.eigenvalues = [float(v) for v in spec["eigenvalues"]]
    rng = stream(seed, "sampled-bootstrap")
    rows = np.sort(rng.choice(n_cap, min(n_cap, SPECTRUM_BOOT_ROWS), replace=False))
    d = len(report.gap_vector)
    affordable = max(SPECTRUM_MIN_REPS, int(SPECTRUM_BUDGET / (len(rows) * d * d)))
    n_reps = min(boot.reps, affordable)  # the first n_reps of the shared replicates
    reps = {k: np.full(1 + n_reps, np.nan) for k in SPECTRUM_KEYS}
    if n_reps:
        img = np.asarray(src.image_emb[owner[rows]])  # (m, d): the sampled pairs, read once
        txt = np.asarray(src.text_emb[rows])
        w = boot.weights(owner[rows])[1 : 1 + n_reps]
        out = spectrum_replicates(img, txt, None, normalize, np.arange(len(rows)), w)
        for k in SPECTRUM_KEYS:
            reps[k][1:] = out[k]
    sub_iv = _Intervals(math.sqrt(len(rows) / n_cap), debias=True)
    for k in SPECTRUM_KEYS:
        report.stats[f"diff_{k}"] = sub_iv.stat(f"diff_{k}", float(spec[k]), reps[k], n_cap)
    report.info["spectrum_bootstrap"] = (
        f"{n_reps} replicates on {len(rows)} pairs, "
        f"widths scaled by sqrt({len(rows)}/{n_cap}), centred on "
        "the replicate mean (resampling biases the rank)"
    )
