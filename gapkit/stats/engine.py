"""``measure`` over any paired rows: plans the streaming passes, runs them through an executor (in
this process, or shard by shard as Ray tasks) and turns the merged sums into a ``GapReport``.

Pass 1 (``stream.py``) reads every row once. Statistics that need rows rather than sums read a
seeded sample by random access (separability, the spectrum's replicates, retrieval queries; the
queries before pass 1, which ranks every row against them). One thing cannot join pass 1: MG and
Delta of the mean and -mean shifts, whose shift vector is the data's own gap, known only once
pass 1 has seen every row. A second pass computes only their terms (x.y, x.g, y.g per pair).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .bootstrap import BootstrapSet
from .core import centroids, scalar_statistics, top_dims_share
from .dense import add_decomposition
from .report import (
    BASIC_INTERVAL,
    DECOMPOSITION_REPS,
    MIN_IMAGES_INTERVALS,
    MIN_PAIRS_SPECTRUM,
    RETRIEVAL_AUTO_MAX,
    GapReport,
    _check_options,
    _Intervals,
    _too_small,
)
from .shift import Shift, standard_shifts
from .stream import PassSpec
from .validate import check_norm_range, check_shapes


@dataclass
class Source:
    """Paired rows to measure. ``image_emb`` / ``text_emb`` give random access ((n, d) arrays,
    memory maps, or a view across shard files); ``parts`` (1:1 pairs only) are the ranges a pass
    reads one at a time, each with ``start``, ``stop``, ``label`` and ``open() -> (image rows,
    text rows)``: shard files, which a Ray task opens on its own node. None: the arrays, whole."""

    image_emb: object
    text_emb: object
    caption_image: np.ndarray | None = None
    parts: list | None = None


def measure_source(
    src: Source,
    *,
    normalize: bool = True,
    seed: int = 0,
    bootstrap: int = 200,
    bootstrap_max_images: int = 100_000,
    top_k: int = 10,
    retrieval: bool | None = None,
    separability: bool = True,
    shifts: bool | list[Shift] = True,
    spectrum: bool = True,
    chunk: int = 16384,
    executor: str = "local",
    address: str | None = None,
    decomposition: bool = True,
) -> GapReport:
    """``measure`` (see there for the options) over a ``Source``; ``executor`` names how the
    passes run (``gapkit ls measure-executors``), ``address`` a Ray cluster."""
    from threadpoolctl import threadpool_limits

    from . import sampled
    from .executors import create_pass_executor

    check_shapes(src.image_emb, src.text_emb, src.caption_image)
    _check_options(seed, bootstrap, top_k)
    run = create_pass_executor(executor, address=address)
    n_img, n_cap, d = len(src.image_emb), len(src.text_emb), src.image_emb.shape[1]
    skipped: dict[str, str] = {}
    if bootstrap and n_img < MIN_IMAGES_INTERVALS:
        skipped["intervals"] = _too_small(n_img, MIN_IMAGES_INTERVALS, "images")
        bootstrap = 0
    owner = np.arange(n_cap) if src.caption_image is None else np.asarray(src.caption_image)
    boot = BootstrapSet(seed, bootstrap, n_img, bootstrap_max_images)
    shift_list, later = _plan_shifts(shifts, d, seed)
    mode = _retrieval_mode(retrieval, n_img)
    queries = sampled.sample_queries(src, owner, boot, seed, normalize) if mode == "sampled" else None
    spec = PassSpec(
        normalize,
        d,
        boot,
        moment=spectrum and n_cap >= MIN_PAIRS_SPECTRUM,
        shifts=_matrix(shift_list, later, keep=False),
        queries=queries,
        chunk=chunk,
    )
    total = run(src, spec)
    norm = check_norm_range(total.norm_lo, total.norm_hi, normalize)
    report, iv = _scalar_report(total, boot, n_img, n_cap, d, seed, bootstrap, top_k)
    report.info.update(
        {
            "normalization": norm.describe(),
            "input_norm_min": norm.min_norm,
            "input_norm_max": norm.max_norm,
            "normalized_by_gapkit": norm.normalized_by_gapkit,
            "skipped": skipped,
            "passes": _passes_line(src, run, later),
        }
    )
    if mode == "full":
        sampled.add_retrieval(report, src, normalize, owner, boot, iv)
    elif mode == "sampled":
        sampled.add_sampled_retrieval(report, total, queries, owner, boot)
    else:
        report.info["retrieval"] = "skipped (retrieval=False)"
    if shift_list:
        point, reps = _shift_terms(run, src, spec, total, shift_list, later, report.gap_vector)
        totals = total.boot.n_cap if total.boot is not None else np.array([float(n_cap)])
        sampled.add_shifts(report, shift_list, point, reps, totals, n_cap, iv)
    # Small dense work (a 40,000-row logistic regression, d x d eigenvalues) runs on one BLAS
    # thread: on a loaded machine BLAS threads waited on each other 3-80x longer than the work.
    with threadpool_limits(1, user_api="blas"):
        if separability:
            sampled.add_separability(report, src, normalize, seed, boot, iv)
        if spectrum:
            sampled.add_spectrum(report, src, total.moment, normalize, owner, seed, boot)
        if decomposition:
            add_decomposition(
                report, src.image_emb, src.text_emb, owner, seed, DECOMPOSITION_REPS if bootstrap else 0
            )
    return report


def _retrieval_mode(retrieval: bool | None, n_img: int) -> str | None:
    """'full' (every query; forced with retrieval=True), 'sampled' (seeded queries above
    RETRIEVAL_AUTO_MAX images, ranked against every candidate) or None."""
    if retrieval is False:
        return None
    return "full" if retrieval or n_img <= RETRIEVAL_AUTO_MAX else "sampled"


def _plan_shifts(shifts, d: int, seed: int) -> tuple[list[Shift], list[int]]:
    """The shift list and the positions whose vector is the gap itself (filled after pass 1)."""
    if shifts is True:
        out = standard_shifts(np.zeros(d), seeds=(seed, seed + 1, seed + 2))
        return out, [i for i, s in enumerate(out) if s.name in ("mean", "-mean")]
    return (list(shifts) if shifts else []), []


def _matrix(shift_list: list[Shift], later: list[int], keep: bool) -> np.ndarray | None:
    """(d, K) float32 shift vectors: those in ``later`` (keep=True) or the others (keep=False)."""
    cols = [s.vector for i, s in enumerate(shift_list) if (i in later) == keep]
    return np.stack(cols, axis=1).astype(np.float32) if cols else None


def _shift_terms(
    run, src: Source, spec: PassSpec, total, shift_list, later, gap
) -> tuple[np.ndarray, np.ndarray]:
    """(2, K) sums and (2, 1 + reps, K) replicate sums of the MG / Delta terms in list order:
    fixed shifts from pass 1, the mean and -mean shifts (vector = the gap) from pass 2."""
    k = len(shift_list)
    point, boot = np.zeros((2, k)), np.zeros((2, 1 + spec.boot.reps, k))
    fixed = [i for i in range(k) if i not in later]
    if fixed:
        point[:, fixed], boot[:, :, fixed] = total.shift_point, total.shift_boot
    if later:
        for i in later:
            sign = -1.0 if shift_list[i].name.startswith("-") else 1.0
            shift_list[i] = Shift(shift_list[i].name, float(np.linalg.norm(gap)), sign * gap)
        second = PassSpec(
            spec.normalize,
            spec.d,
            spec.boot,
            sums=False,
            shifts=_matrix(shift_list, later, keep=True),
            chunk=spec.chunk,
        )
        extra = run(src, second)
        point[:, later], boot[:, :, later] = extra.shift_point, extra.shift_boot
    return point, boot


def _passes_line(src: Source, run, later: list[int]) -> str:
    parts = 1 if src.parts is None else len(src.parts)
    second = "; a second pass for the mean / -mean shifts (their vector is the gap)" if later else ""
    return f"one streaming pass over {parts} part{'s' if parts > 1 else ''} ({run.name} executor){second}"


def _scalar_report(
    total, boot: BootstrapSet, n_img: int, n_cap: int, d: int, seed: int, bootstrap: int, top_k: int
) -> tuple[GapReport, _Intervals]:
    """The streaming-pass statistics (point and replicates) as a report, and its interval maker.
    With a bootstrap subsample of n_sub images, intervals are scaled by sqrt(n_sub / n)."""
    sums = total.point
    reps_sums = total.boot if bootstrap else sums
    scale = math.sqrt(boot.size / n_img) if bootstrap else 1.0
    with np.errstate(invalid="ignore", divide="ignore"):  # a replicate that drew < 2 images is NaN, dropped
        point = {k: float(v[0]) for k, v in scalar_statistics(sums).items()}
        iv = _Intervals(scale)
        reps = scalar_statistics(reps_sums)
        stats = {k: iv.stat(k, point[k], reps[k], n_cap) for k in point}
        mu_i, mu_t = centroids(sums)
        gap = mu_i[0] - mu_t[0]
        dims = np.argsort(-np.abs(gap))[:top_k]
        gi, gt = centroids(reps_sums)
        name = f"top{top_k}_dims_gap_share"
        stats[name] = iv.stat(
            name, float(top_dims_share(gap[None], dims)[0]), top_dims_share(gi - gt, dims), n_cap
        )
    info = {
        "n_images": n_img,
        "n_captions": n_cap,
        "d": d,
        "seed": seed,
        "bootstrap": bootstrap,
        "bootstrap_images": boot.size,
        "bootstrap_width_scale": scale,
        "intervals": "percentile; basic (2 x value - quantiles, bias-corrected) for "
        f"{', '.join(sorted(BASIC_INTERVAL - {'gap_share'}))} and {name}",
    }
    report = GapReport(
        stats, info, gap, mu_i[0], mu_t[0], [{"dim": int(k), "abs_gap": float(abs(gap[k]))} for k in dims], []
    )
    return report, iv


def measure(
    image_emb,
    text_emb,
    caption_image=None,
    *,
    normalize: bool = True,
    seed: int = 0,
    bootstrap: int = 200,
    bootstrap_max_images: int = 100_000,
    top_k: int = 10,
    retrieval: bool | None = None,
    separability: bool = True,
    shifts: bool | list[Shift] = True,
    spectrum: bool = True,
    decomposition: bool = True,
    chunk: int = 16384,
) -> GapReport:
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
    retrieval : None = every query up to 50,000 images, above that a seeded sample of 1,000
        queries each way ranked against every candidate (it is quadratic); True = every query
        at any size; False = none.

    Statistics that need more data than given (separability, spectrum, R@k with k candidates or
    fewer) are left out and named in ``info["skipped"]``.
    """
    return measure_source(
        Source(image_emb, text_emb, caption_image),
        normalize=normalize,
        seed=seed,
        bootstrap=bootstrap,
        bootstrap_max_images=bootstrap_max_images,
        top_k=top_k,
        retrieval=retrieval,
        separability=separability,
        shifts=shifts,
        spectrum=spectrum,
        chunk=chunk,
        decomposition=decomposition,
    )
