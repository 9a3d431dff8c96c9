"""Figures from ablation results: MG and Delta against shift magnitude (with the task scores),
and task score against noise norm."""

from __future__ import annotations

import numpy as np

from .style import COLUMN_WIDTH, palette, paper_style, save


def bias_figure(rows: list[dict], tasks: list[str], path):
    """rows: {label, magnitude, mg, delta, scores: {task: (mean, sd)}} for the random rows and
    the mean / -mean rows."""
    rnd = sorted([r for r in rows if r["label"].startswith("RNG")], key=lambda r: r["magnitude"])
    with paper_style() as plt:
        fig, axes = plt.subplots(1, 2, figsize=(2 * COLUMN_WIDTH, 2.4))
        c = palette(6)
        m = [r["magnitude"] for r in rnd]
        axes[0].plot(m, [r["mg"] for r in rnd], "o-", color=c[0], label="MG (random direction)")
        axes[0].plot(m, [r["delta"] for r in rnd], "s-", color=c[1], label="Δ (random direction)")
        grid = np.linspace(0, max(m + [1.0]), 50)
        axes[0].plot(grid, 1 / np.sqrt(1 + grid ** 2), ":", color="grey", label="1/√(1+m²)")
        for r, mk in ((x, "^") for x in rows if x["label"] in ("mean", "-mean")):
            axes[0].scatter([r["magnitude"]], [r["mg"]], marker=mk, color=c[2] if r["label"] == "mean" else c[3],
                            zorder=3, label=f"MG ({r['label']})")
        axes[0].set_xlabel("shift magnitude |b|")
        axes[0].set_ylabel("cosine")
        axes[0].legend(frameon=False)
        for k, t in enumerate(tasks):
            mean = [r["scores"][t][0] for r in rnd]
            sd = [r["scores"][t][1] or 0 for r in rnd]
            axes[1].errorbar(m, mean, yerr=sd, marker="o", capsize=2, color=c[k], label=t)
        axes[1].set_xlabel("random shift magnitude |b|")
        axes[1].set_ylabel("score on images")
        axes[1].legend(frameon=False)
        return save(fig, path)


def noise_figure(rows: list[dict], tasks: list[str], path):
    """rows: {label, noise_norm, scores: {task: (mean, sd)}} for the noise rows; the images upper
    bound drawn as a dashed line per task when present."""
    pts = sorted([r for r in rows if r.get("noise_norm") is not None and r["kind"] == "noise"],
                 key=lambda r: r["noise_norm"])
    with paper_style() as plt:
        fig, axes = plt.subplots(1, len(tasks), figsize=(COLUMN_WIDTH * len(tasks) * 0.7, 2.3), squeeze=False)
        c = palette(4)
        for ax, t in zip(axes[0], tasks):
            xs = [r["noise_norm"] for r in pts]
            ax.errorbar(xs, [r["scores"][t][0] for r in pts], yerr=[r["scores"][t][1] or 0 for r in pts],
                        marker="o", capsize=2, color=c[0], label="trained on text + noise")
            for r in rows:
                if r["kind"] == "images":
                    ax.axhline(r["scores"][t][0], ls="--", color=c[1], label="trained on images")
            ax.set_xlabel("noise norm w·√d")
            ax.set_title(t)
        axes[0][0].set_ylabel("score on images")
        axes[0][0].legend(frameon=False)
        return save(fig, path)
