"""Figures of the gap's geometry: cosine histograms, per-dimension gap, dimension sensitivity
and the dimension-ablation curve. Each takes precomputed numbers (tests check the numbers)."""

from __future__ import annotations

import numpy as np

from ..stats.paired import unit_rows
from ..streams import stream
from .style import COLUMN_WIDTH, palette, paper_style, save


def cosine_samples(image_emb, text_emb, caption_image=None, n: int = 5000, seed: int = 0) -> dict:
    """Paired, unpaired (random image/caption of different images) and intra-modal cosines."""
    rng = stream(seed, "cosine-samples")
    x, y = unit_rows(image_emb, None), unit_rows(text_emb, None)
    owner = np.arange(len(y)) if caption_image is None else np.asarray(caption_image)
    j = rng.integers(len(y), size=n)
    i = rng.integers(len(x), size=n)
    keep = owner[j] != i
    a, b = rng.integers(len(x), size=(2, n))
    c, d = rng.integers(len(y), size=(2, n))
    return {
        "paired": np.sum(x[owner] * y, 1),
        "unpaired": np.sum(x[i[keep]] * y[j[keep]], 1),
        "image-image": np.sum(x[a[a != b]] * x[b[a != b]], 1),
        "text-text": np.sum(y[c[c != d]] * y[d[c != d]], 1),
    }


def histogram_figure(samples: dict, path, title: str = ""):
    with paper_style() as plt:
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.3))
        for (name, v), col in zip(samples.items(), palette(4)):
            ax.hist(
                v, bins=60, range=(-0.3, 1.0), histtype="step", density=True, color=col, label=name, lw=1.2
            )
        ax.set_xlabel("cosine similarity")
        ax.set_ylabel("density")
        ax.legend(frameon=False)
        if title:
            ax.set_title(title)
        return save(fig, path)


def gap_bars_figure(gap: np.ndarray, path, top: int = 30, title: str = ""):
    order = np.argsort(-np.abs(gap))[:top]
    with paper_style() as plt:
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH * 1.4, 2.2))
        ax.bar(range(len(order)), np.abs(gap[order]), color=palette(1)[0])
        ax.set_xticks(range(len(order)), [str(d) for d in order], rotation=90, fontsize=6)
        ax.set_xlabel("dimension (sorted by |gap|)")
        ax.set_ylabel("|mean image - mean text|")
        share = float((gap[order[:10]] ** 2).sum() / (gap**2).sum())
        ax.set_title(title or f"per-dimension gap (top 10 dims hold {share:.0%} of |gap|²)")
        return save(fig, path)


def sensitivity_figure(sens: dict, path, top: int = 20):
    attrs = list(sens)
    with paper_style() as plt:
        fig, axes = plt.subplots(
            2, len(attrs), figsize=(COLUMN_WIDTH * 0.7 * len(attrs), 3.2), squeeze=False, sharey="row"
        )
        c = palette(2)
        for k, a in enumerate(attrs):
            per_i, per_t = np.asarray(sens[a]["image_per_dim"]), np.asarray(sens[a]["text_per_dim"])
            dims = np.argsort(-(per_i + per_t))[:top]
            axes[0][k].bar(range(len(dims)), per_t[dims], color=c[1])
            axes[1][k].bar(range(len(dims)), per_i[dims], color=c[0])
            axes[0][k].set_title(
                f"{a}: same-change direction\nconsistency text {sens[a]['text_direction_consistency']:.2f}"
                f", image {sens[a]['image_direction_consistency']:.2f}",
                fontsize=7,
            )
            axes[1][k].set_xticks([])
            axes[0][k].set_xticks([])
        axes[0][0].set_ylabel("text |Δ| per dim")
        axes[1][0].set_ylabel("image |Δ| per dim")
        return save(fig, path)


def dim_ablation_figure(rows: list[dict], path, title: str = ""):
    k = [r["k"] for r in rows]
    with paper_style() as plt:
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.3))
        c = palette(4)
        for key, col in zip(("paired_cosine", "centroid_distance", "i2t_r1", "t2i_r1"), c):
            ax.plot(k, [r[key] for r in rows], marker="o", ms=2.5, color=col, label=key.replace("_", " "))
        ax.set_xlabel("top-k gap dimensions removed")
        ax.legend(frameon=False)
        if title:
            ax.set_title(title)
        return save(fig, path)


def organism_figure(rows: list[tuple], path, title: str = "tiny CLIP vs real CLIP"):
    """One panel per gap statistic: the organism's value and real CLIP's, each with its interval,
    over the target band. ``rows``: (label, organism [v, lo, hi], real [v, lo, hi] or None,
    (low, high) target bounds or None); nan interval ends are drawn without whiskers."""
    n = len(rows)
    cols = 4
    with paper_style() as plt:
        fig, axes = plt.subplots(
            (n + cols - 1) // cols, cols, figsize=(COLUMN_WIDTH * 2.2, 1.6 * ((n + cols - 1) // cols))
        )
        fig.subplots_adjust(hspace=0.7, wspace=0.45)
        colours = palette(2)
        for ax, (label, ours, real, bounds) in zip(axes.flat, rows):
            for x, (v, col) in enumerate(((ours, colours[0]), (real, colours[1]))):
                if v is None:
                    continue
                val, lo, hi = v
                err = None if not (np.isfinite(lo) and np.isfinite(hi)) else [[val - lo], [hi - val]]
                ax.errorbar([x], [val], yerr=err, fmt="o", color=col, ms=4, capsize=2)
            if bounds is not None:  # one-sided targets run to the panel's edge
                lo, hi = bounds
                ymin, ymax = ax.get_ylim()
                ymin, ymax = (
                    min(ymin, *(b for b in bounds if b is not None)),
                    max(ymax, *(b for b in bounds if b is not None)),
                )
                pad = 0.08 * (ymax - ymin)
                ymin, ymax = ymin - pad, ymax + pad
                ax.axhspan(
                    ymin if lo is None else lo, ymax if hi is None else hi, color="0.85", zorder=0, lw=0
                )
                ax.set_ylim(ymin, ymax)
            ax.set_xlim(-0.6, 1.6)
            ax.set_xticks([0, 1], ["tiny", "real"], fontsize=6)
            ax.set_title(label, fontsize=6)
            ax.tick_params(labelsize=6)
        for ax in list(axes.flat)[n:]:
            ax.axis("off")
        fig.suptitle(f"{title} (grey: target)", fontsize=7)
        return save(fig, path)
