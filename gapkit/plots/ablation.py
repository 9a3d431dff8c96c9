"""Figures from ablation results: MG and Delta against shift magnitude (with the task scores),
task score against noise norm, and the noise-magnitude study (task metric against w, one line per
task, with its 95% interval as a band: the analogue of CLOSE's noise study).

Every function takes precomputed rows, one per table row: {label, kind ("noise", "images",
"adapter"), magnitude, mg, delta, noise (per-dimension w), noise_norm, scores: {column: (mean,
lo, hi)}}, with lo / hi None where a score has no interval."""

from __future__ import annotations

import math

import numpy as np

from .._registry import Registry
from .style import COLUMN_WIDTH, palette, paper_style, save

ABLATION_FIGURES: Registry = Registry("ablation figure", ls_hint="ablation-figures")


def _yerr(scores: list[tuple]) -> np.ndarray:
    """(2, k) distances from each mean down to lo and up to hi (0 where there is no interval)."""
    lo = [m - lo if lo is not None else 0.0 for m, lo, _ in scores]
    hi = [hi - m if hi is not None else 0.0 for m, _, hi in scores]
    return np.array([lo, hi])


@ABLATION_FIGURES.register("bias")
def bias_figure(rows: list[dict], tasks: list[str], path):
    """MG and Delta against the random shift's magnitude (mean / -mean marked); task scores against it."""
    rnd = sorted([r for r in rows if r["label"].startswith("RNG")], key=lambda r: r["magnitude"])
    with paper_style() as plt:
        fig, axes = plt.subplots(1, 2, figsize=(2 * COLUMN_WIDTH, 2.4))
        c = palette(6)
        m = [r["magnitude"] for r in rnd]
        axes[0].plot(m, [r["mg"] for r in rnd], "o-", color=c[0], label="MG (random direction)")
        axes[0].plot(m, [r["delta"] for r in rnd], "s-", color=c[1], label="Δ (random direction)")
        grid = np.linspace(0, max(m + [1.0]), 50)
        axes[0].plot(grid, 1 / np.sqrt(1 + grid**2), ":", color="grey", label="1/√(1+m²)")
        for r, mk in ((x, "^") for x in rows if x["label"] in ("mean", "-mean")):
            axes[0].scatter(
                [r["magnitude"]],
                [r["mg"]],
                marker=mk,
                color=c[2] if r["label"] == "mean" else c[3],
                zorder=3,
                label=f"MG ({r['label']})",
            )
        axes[0].set_xlabel("shift magnitude |b|")
        axes[0].set_ylabel("cosine")
        axes[0].legend(frameon=False)
        for k, t in enumerate(tasks):
            scores = [r["scores"][t] for r in rnd]
            axes[1].errorbar(
                m, [s[0] for s in scores], yerr=_yerr(scores), marker="o", capsize=2, color=c[k], label=t
            )
        axes[1].set_xlabel("random shift magnitude |b|")
        axes[1].set_ylabel("score on images [95% interval]")
        axes[1].legend(frameon=False)
        return save(fig, path)


@ABLATION_FIGURES.register("noise")
def noise_figure(rows: list[dict], tasks: list[str], path):
    """Task score against the noise norm w·√d, one panel per task; the images model as a dashed line."""
    pts = sorted(
        [r for r in rows if r.get("noise_norm") is not None and r["kind"] == "noise"],
        key=lambda r: r["noise_norm"],
    )
    with paper_style() as plt:
        fig, axes = plt.subplots(1, len(tasks), figsize=(COLUMN_WIDTH * len(tasks) * 0.7, 2.3), squeeze=False)
        c = palette(4)
        for ax, t in zip(axes[0], tasks):
            scores = [r["scores"][t] for r in pts]
            ax.errorbar(
                [r["noise_norm"] for r in pts],
                [s[0] for s in scores],
                yerr=_yerr(scores),
                marker="o",
                capsize=2,
                color=c[0],
                label="trained on text + noise",
            )
            for r in rows:
                if r["kind"] == "images":
                    ax.axhline(r["scores"][t][0], ls="--", color=c[1], label="trained on images")
            ax.set_xlabel("noise norm w·√d")
            ax.set_title(t)
        axes[0][0].set_ylabel("score on images [95% interval]")
        axes[0][0].legend(frameon=False)
        return save(fig, path)


def noise_magnitude_points(rows: list[dict], tasks: list[str]) -> dict[str, list[dict]]:
    """task -> [{w, mean, lo, hi}] sorted by w: the text rows trained with Gaussian noise only
    (w = 0 for the no-noise row), one point per row with a finite score."""
    pts = sorted(
        [r for r in rows if r["kind"] == "noise" and r.get("noise") is not None], key=lambda r: r["noise"]
    )
    out = {}
    for t in tasks:
        out[t] = [
            {"w": r["noise"], "mean": m, "lo": lo, "hi": hi}
            for r in pts
            for m, lo, hi in [r["scores"][t]]
            if not math.isnan(m)
        ]
    return out


@ABLATION_FIGURES.register("noise-magnitude")
def noise_magnitude_figure(rows: list[dict], tasks: list[str], path):
    """The metric on images against the per-dimension noise w, one line per task with its 95%
    interval as a band (CLOSE's noise study)."""
    points = noise_magnitude_points(rows, tasks)
    with paper_style() as plt:
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.4))
        c = palette(max(3, len(tasks)))
        for k, t in enumerate(tasks):
            p = points[t]
            if not p:
                continue
            w = [q["w"] for q in p]
            ax.plot(w, [q["mean"] for q in p], "o-", color=c[k], label=t)
            banded = [q for q in p if q["lo"] is not None]
            if banded:
                ax.fill_between(
                    [q["w"] for q in banded],
                    [q["lo"] for q in banded],
                    [q["hi"] for q in banded],
                    color=c[k],
                    alpha=0.2,
                    linewidth=0,
                )
        ax.set_xlabel("noise w (per-dimension std)")
        ax.set_ylabel("metric on images [95% interval]")
        ax.legend(frameon=False)
        return save(fig, path)


@ABLATION_FIGURES.register("methods")
def methods_figure(rows: list[dict], tasks: list[str], path):
    """One panel per task: each method's score with its interval, and the L2M its transforms leave."""
    with paper_style() as plt:
        fig, axes = plt.subplots(1, len(tasks) + 1, figsize=(COLUMN_WIDTH * (len(tasks) + 1) * 0.9, 2.6))
        c = palette(len(rows))
        y = np.arange(len(rows))
        for ax, t in zip(axes, tasks):
            scores = [r["scores"][t] for r in rows]
            ax.barh(y, [s[0] for s in scores], xerr=_yerr(scores), color=c, capsize=2)
            ax.set_xlabel(t)
        axes[-1].barh(y, [r["l2m"] for r in rows], color=c)
        axes[-1].set_xlabel("L2M after the transforms")
        for ax in axes:
            ax.set_yticks(y)
            ax.set_yticklabels([r["label"] for r in rows] if ax is axes[0] else [])
            ax.invert_yaxis()
        return save(fig, path)
