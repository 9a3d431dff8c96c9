"""The dense blocks of ``measure``: the gap decomposition (``decomposition.py``) and where the texts
vary (``textspread.py``), on a seeded subsample of at most DECOMPOSITION_MAX_IMAGES images."""

from __future__ import annotations

import numpy as np

from ..streams import stream
from .report import DECOMPOSITION_MAX_IMAGES, MIN_IMAGES_DECOMPOSITION, Stat, _too_small, natural_range


def add_decomposition(report, image_emb, text_emb, owner, seed: int, reps: int) -> None:
    """Constant offset vs image-specific residual (ridge R^2 text -> image, residual / text
    spread, residual and constant shares, effective ranks, unrelated text-text cosine)."""
    from .decomposition import decomposition_intervals
    from .paired import Paired

    n_img = len(image_emb)
    if n_img < MIN_IMAGES_DECOMPOSITION:
        report.info["skipped"]["decomposition"] = _too_small(n_img, MIN_IMAGES_DECOMPOSITION, "images")
        return
    images = np.arange(n_img)
    if n_img > DECOMPOSITION_MAX_IMAGES:
        images = np.sort(
            stream(seed, "decomposition-images").choice(n_img, DECOMPOSITION_MAX_IMAGES, replace=False)
        )
    keep = np.isin(owner, images)
    local = np.searchsorted(images, owner[keep])  # caption -> row of the subsample
    p = Paired.from_raw(np.asarray(image_emb[images]), np.asarray(text_emb[np.flatnonzero(keep)]), local)
    for name, (value, lo, hi) in decomposition_intervals(p, seed, reps).items():
        if name in DECOMPOSITION_ROWS:
            report.stats[name] = Stat(value, lo, hi, len(images))
    report.info["decomposition"] = (
        f"{len(images)} images and their captions (dense); intervals: normal, "
        f"standard errors from {reps} half-samples of the images"
    )
    _add_textspread(report, p, reps > 0)


def _add_textspread(report, p, intervals: bool) -> None:
    """Where the texts vary (stats/textspread.py), on the decomposition's images and captions."""
    from .textspread import JACKKNIFE_GROUPS, TEXTSPREAD_K, text_spread_intervals

    groups = JACKKNIFE_GROUPS if intervals else 0
    got = text_spread_intervals(p.image, p.text, p.caption_image, groups=groups)
    for name in TEXTSPREAD_ROWS:  # the text effective rank is the decomposition's row
        value, lo, hi = got[name]
        low, high = natural_range(name)
        report.stats[name] = Stat(value, max(lo, low), min(hi, high), len(p.image))
    report.info["textspread"] = (
        f"k = {TEXTSPREAD_K}; {len(p.image)} images and their captions; intervals: value +- 1.96 SE, "
        f"a jackknife over {JACKKNIFE_GROUPS} groups of images"
        if intervals
        else f"k = {TEXTSPREAD_K}; {len(p.image)} images and their captions"
    )


TEXTSPREAD_ROWS = ("text_beyond_k", "image_inside_k", "text_dims_90", "gap_in_text_sd")
# Decomposition statistics the report keeps (the others duplicate streaming-pass statistics).
DECOMPOSITION_ROWS = (
    "text_text_unrelated",
    "ridge_r2",
    "residual_text_ratio",
    "residual_share",
    "constant_share",
    "image_effective_rank",
    "text_effective_rank",
)
