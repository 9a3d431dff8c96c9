"""Figure jobs shared by ``gapkit tsne``, ``gapkit sensitivity`` and ``gapkit figures``: each
computes its numbers, writes them as JSON beside the figure (tests check the numbers, not the
pixels), and draws the figure."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .io import write_json
from .streams import stream

log = logging.getLogger("gapkit.figures")


def _unit(a) -> np.ndarray:
    from .stats.paired import unit_rows

    return unit_rows(a, np.float32)


def tsne_job(
    image,
    text,
    caption_image,
    fit_image,
    fit_text,
    out: Path,
    n: int = 350,
    seed: int = 0,
    panels=None,
    method: str = "tsne",
    lines: bool = False,
    noise_norm: float = 2.217,
    title: str = "",
) -> dict:
    """``n`` random images with their first caption, one projection per adapter panel."""
    from .plots.panels import DEFAULT_PANELS, adapt_panels, mixing
    from .plots.tsne import project_panels, tsne_figure
    from .stats.paired import Paired, first_caption

    image, text = _unit(image), _unit(text)
    owner = np.arange(len(text)) if caption_image is None else np.asarray(caption_image)
    first = first_caption(owner, len(image))
    usable = np.flatnonzero(first >= 0)
    pick = np.sort(stream(seed, "figure-sample").choice(usable, min(n, len(usable)), replace=False))
    img, txt = image[pick], text[first[pick]]
    moved = adapt_panels(
        img, txt, _unit(fit_image), _unit(fit_text), panels or DEFAULT_PANELS, noise_norm, seed
    )
    coords = project_panels(moved, method, seed)
    numbers = {
        name: {
            "mixing_2d": mixing(xy, len(img)),
            "paired_cosine": Paired(*moved[name], np.arange(len(img))).mg(),
            "centroid_distance": Paired(*moved[name], np.arange(len(img))).centroid_distance(),
        }
        for name, xy in coords.items()
    }
    paths = tsne_figure(coords, len(img), out, lines=lines, title=title)
    write_json(
        Path(out).with_suffix(".json"),
        {
            "n": len(img),
            "method": method,
            "seed": seed,
            "noise_norm": noise_norm,
            "panels": numbers,
            "figures": [str(p) for p in paths],
        },
    )
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
    gap_bars_figure(
        gap, prefix.parent / f"{prefix.name}-gap-dims", title=title and f"{title}: per-dimension gap"
    )
    dim_ablation_figure(abl, prefix.parent / f"{prefix.name}-dim-ablation", title)
    numbers = {
        "cosine_means": {k: float(v.mean()) for k, v in samples.items()},
        "top_gap_dims": np.argsort(-np.abs(gap))[:10].tolist(),
        "dim_ablation": abl,
    }
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
    lines = [
        "| attribute | n | text change | image change | text direction consistency | "
        "image direction consistency | cos(text Δ, image Δ) | top-10 dims overlap | "
        "text top dims | image top dims |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for a, s in sens.items():
        lines.append(
            f"| {a} | {s['n']} | {s['text_change_norm']:.3f} | {s['image_change_norm']:.3f} | "
            f"{s['text_direction_consistency']:.3f} | {s['image_direction_consistency']:.3f} | "
            f"{s['text_image_change_cosine']:.3f} | {s['top_dims_overlap']:.1f} | "
            f"{', '.join(map(str, s['text_top_dims'][:5]))} | "
            f"{', '.join(map(str, s['image_top_dims'][:5]))} |"
        )
    return "\n".join(lines)


# -- inputs: the paired embeddings each figure is drawn from -----------------------------------------
@dataclass
class EncodeOptions:
    """How images and texts are encoded through the cache (the CLI's encoder flags)."""

    encoder: str = "gapkit-shapes"
    device: str | None = None
    batch_size: int = 256
    workers: int | None = None
    decode: str = "pil"
    template: str = "{}"
    cache: bool = True
    verify_images: bool = False


def encoded_pairs(
    opts: EncodeOptions,
    dataset: str = "shapes",
    data_path=None,
    split: str = "test",
    image_root=None,
    limit: int | None = None,
    fit_split: str = "restval",
):
    """(image, text, caption_image, fit_image, fit_text, label): a data set's pairs through the
    encoder and the cache, and the ``fit_split`` pairs that fit the paired-data adapters."""
    from .cache import EmbeddingCache
    from .data import load_dataset
    from .embed import embed_paired
    from .encoders import create_encoder

    enc = create_encoder(opts.encoder, device=opts.device)
    cache = EmbeddingCache(enabled=opts.cache)

    def embed(data):
        return embed_paired(
            enc, data, opts.template, cache, opts.batch_size, opts.workers, opts.verify_images, opts.decode
        )

    data = load_dataset(dataset, data_path, split, image_root)
    emb = embed(data.subset(limit) if limit else data)
    fit = embed(load_dataset(dataset, data_path, fit_split, image_root))
    return (
        emb.image,
        emb.text,
        emb.caption_image,
        fit.image[fit.caption_image],
        fit.text,
        f"{opts.encoder} on {dataset}/{split}",
    )


def precomputed_pairs(files, limit: int | None = None):
    """(image, text, caption_image, fit_image, fit_text, label) from precomputed embedding files;
    with no separate split, the paired-data adapters are fitted on the same pairs (the label says so)."""
    from .data.embeddings import first_images, load_embedding_files

    f = load_embedding_files(files)
    img, txt, ci = f.image_emb, f.text_emb, f.caption_image
    if limit:
        img, txt, ci = first_images(img, txt, ci, limit)
    img, txt = np.asarray(img, np.float32), np.asarray(txt, np.float32)
    owner = np.arange(len(txt)) if ci is None else ci
    return img, txt, ci, img[owner], txt, "precomputed (adapters fitted on the same pairs)"


def minimal_pair_embeddings(opts: EncodeOptions, pairs_path=None, image_root=None):
    """(image_a, image_b, text_a, text_b, attributes, changes) of a minimal-pairs file (default:
    the embedded world's) through the encoder and the cache."""
    from .cache import EmbeddingCache
    from .data.minimal_pairs import load_minimal_pairs
    from .embed import embed_images, embed_texts
    from .encoders import create_encoder
    from .worlds import ensure_shapes_world
    from .worlds.shapes.export import render_pending

    path = Path(pairs_path) if pairs_path else ensure_shapes_world(images=("pairs",)) / "minimal_pairs.jsonl"
    render_pending(path.parent, ("pairs",))  # the pairs of a cached world's folder may not be drawn yet
    pairs = load_minimal_pairs(path, image_root)
    enc = create_encoder(opts.encoder, device=opts.device)
    cache = EmbeddingCache(enabled=opts.cache)
    paths = pairs.image_a + pairs.image_b
    ident = {"minimal-pairs": pairs.fingerprint}
    img = embed_images(
        enc,
        paths,
        [str(p) for p in paths],
        ident,
        pairs.image_root,
        cache,
        opts.batch_size,
        opts.workers,
        opts.verify_images,
        opts.decode,
    )
    txt = embed_texts(enc, pairs.caption_a + pairs.caption_b, ident, opts.template, cache)
    n = len(pairs.attribute)
    return img[:n], img[n:], txt[:n], txt[n:], pairs.attribute, pairs.change


def regenerate_all(out_dir: Path, real_clip: Path | None = None, seed: int = 0, method: str = "tsne") -> dict:
    """Every embedded-default figure into ``out_dir``: t-SNE panels (CLOSE's adapters, and the
    methods that cross the gap: C3, DeCap, nearest caption), geometry figures and dimension
    sensitivity on the shapes world; t-SNE and geometry of precomputed real-CLIP pairs too when
    ``real_clip`` is given (a (2, n, d) .npy). ``method``: the 2-D projection (``gapkit ls
    projections``). Returns each job's numbers by figure name."""
    from .plots.panels import METHOD_PANELS

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    numbers = {}
    img, txt, ci, fit_i, fit_t, label = encoded_pairs(EncodeOptions())
    numbers["tsne-shapes"] = tsne_job(
        img, txt, ci, fit_i, fit_t, out_dir / "tsne-shapes", seed=seed, method=method, lines=True, title=label
    )
    numbers["tsne-methods-shapes"] = tsne_job(
        img,
        txt,
        ci,
        fit_i,
        fit_t,
        out_dir / "tsne-methods-shapes",
        seed=seed,
        panels=METHOD_PANELS,
        method=method,
        lines=True,
        title=f"{label}: every way to cross the gap",
    )
    numbers["shapes"] = geometry_jobs(img, txt, ci, out_dir / "shapes", "shapes world, gapkit-shapes", seed)
    ia, ib, ta, tb, attributes, changes = minimal_pair_embeddings(EncodeOptions())
    numbers["sensitivity-shapes"] = sensitivity_job(
        ia, ib, ta, tb, attributes, out_dir / "sensitivity-shapes", changes=changes
    )
    if real_clip is not None:
        img, txt, ci, fit_i, fit_t, label = precomputed_pairs([str(real_clip)])
        numbers["tsne-real-clip"] = tsne_job(
            img,
            txt,
            ci,
            fit_i,
            fit_t,
            out_dir / "tsne-real-clip",
            seed=seed,
            method=method,
            lines=True,
            title=label,
        )
        numbers["real-clip"] = geometry_jobs(
            img, txt, ci, out_dir / "real-clip", "500 COCO pairs, real CLIP", seed
        )
    return numbers
