"""Figure jobs shared by ``gapkit tsne``, ``gapkit sensitivity`` and ``gapkit figures``: each
computes its numbers, writes them as JSON beside the figure (tests check the numbers, not the
pixels), and draws the figure."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .io import write_json

log = logging.getLogger("gapkit.figures")


def _unit(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def tsne_job(image, text, caption_image, fit_image, fit_text, out: Path, n: int = 350, seed: int = 0,
             panels=None, method: str = "tsne", lines: bool = False, noise_norm: float = 2.217,
             title: str = "") -> dict:
    """``n`` random images with their first caption, one projection per adapter panel."""
    from .plots.panels import DEFAULT_PANELS, adapt_panels, mixing
    from .plots.tsne import project_panels, tsne_figure

    image, text = _unit(image), _unit(text)
    owner = np.arange(len(text)) if caption_image is None else np.asarray(caption_image)
    first = np.full(len(image), -1)
    first[owner[::-1]] = np.arange(len(owner))[::-1]
    usable = np.flatnonzero(first >= 0)
    pick = np.sort(np.random.default_rng([seed, 3]).choice(usable, min(n, len(usable)), replace=False))
    img, txt = image[pick], text[first[pick]]
    moved = adapt_panels(img, txt, _unit(fit_image), _unit(fit_text), panels or DEFAULT_PANELS, noise_norm, seed)
    coords = project_panels(img, moved, method, seed)
    numbers = {name: {"mixing_2d": mixing(xy, len(img)),
                      "paired_cosine": float(np.sum(img * moved[name], 1).mean()),
                      "centroid_distance": float(np.linalg.norm(img.mean(0) - moved[name].mean(0)))}
               for name, xy in coords.items()}
    paths = tsne_figure(coords, len(img), out, lines=lines, title=title)
    write_json(Path(out).with_suffix(".json"), {"n": len(img), "method": method, "seed": seed,
                                                "noise_norm": noise_norm, "panels": numbers,
                                                "figures": [str(p) for p in paths]})
    return numbers


def geometry_jobs(image, text, caption_image, out_prefix: Path, title: str = "", seed: int = 0) -> dict:
    """Cosine histograms, per-dimension gap bars and the dimension-ablation curve."""
    from .plots.geometry import cosine_samples, dim_ablation_figure, gap_bars_figure, histogram_figure
    from .stats.sensitivity import dimension_ablation

    x, y = _unit(image), _unit(text)
    samples = cosine_samples(x, y, caption_image, seed=seed)
    gap = x.mean(0) - y.mean(0)
    abl = dimension_ablation(x, y, caption_image)
    prefix = Path(out_prefix)
    histogram_figure(samples, prefix.parent / f"{prefix.name}-cosines", title)
    gap_bars_figure(gap, prefix.parent / f"{prefix.name}-gap-dims", title=title and f"{title}: per-dimension gap")
    dim_ablation_figure(abl, prefix.parent / f"{prefix.name}-dim-ablation", title)
    numbers = {"cosine_means": {k: float(v.mean()) for k, v in samples.items()},
               "top_gap_dims": np.argsort(-np.abs(gap))[:10].tolist(), "dim_ablation": abl}
    write_json(prefix.parent / f"{prefix.name}-geometry.json", numbers)
    return numbers


def sensitivity_job(img_a, img_b, txt_a, txt_b, attributes, out: Path, top_k: int = 10, changes=None) -> dict:
    from .plots.geometry import sensitivity_figure
    from .stats.sensitivity import sensitivity

    sens = sensitivity(img_a, img_b, txt_a, txt_b, attributes, top_k, changes)
    sensitivity_figure(sens, out)
    write_json(Path(out).with_suffix(".json"), sens)
    return sens


def sensitivity_table(sens: dict) -> str:
    lines = ["| attribute | n | text change | image change | text direction consistency | "
             "image direction consistency | cos(text Δ, image Δ) | top-10 dims overlap | text top dims | image top dims |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for a, s in sens.items():
        lines.append(f"| {a} | {s['n']} | {s['text_change_norm']:.3f} | {s['image_change_norm']:.3f} | "
                     f"{s['text_direction_consistency']:.3f} | {s['image_direction_consistency']:.3f} | "
                     f"{s['text_image_change_cosine']:.3f} | {s['top_dims_overlap']:.1f} | "
                     f"{', '.join(map(str, s['text_top_dims'][:5]))} | {', '.join(map(str, s['image_top_dims'][:5]))} |")
    return "\n".join(lines)
