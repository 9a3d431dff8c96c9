"""The tiny CLIP's model card: its gap geometry beside real CLIP's and the targets, probes per
factor, and the training trajectory, written beside the weights (``metrics.json`` +
``MODEL_CARD.md``).

The geometry rows are ../shared/docs/gap-geometry.md's statistics on the world's test split
(1 image : 5 reference captions), each with a cluster-bootstrap 95% interval over images; the
real-CLIP column is the 500-pair COCO fixture when it is present (it is a development input: a
card written without it says so)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..io import atomic_file, write_json
from ..stats.decomposition import decomposition_intervals
from ..stats.paired import Paired
from ..worlds.shapes import catalog
from .probes import i2t_r1, image_probes, separability, test_pairs, test_split, text_probes

FIXTURE = (
    Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "real-clip" / "features_clip.npy"
)
BOOT_REPS = 100

# (key, label, target as (low, high) bounds; None = unbounded)
GEOMETRY_ROWS = (
    ("paired_cosine", "mean paired image-text cosine", (0.22, 0.35)),
    ("text_text_unrelated", "mean unrelated text-text cosine (above paired)", None),
    ("l2m", "centroid distance L2M", (0.75, 0.95)),
    ("image_cone", "image cone (mean intra cosine)", (0.4, 0.65)),
    ("text_cone", "text cone (mean intra cosine)", (0.4, 0.65)),
    ("separability", "linear separability (held-out accuracy)", (0.99, None)),
    ("shifted_paired_cosine", "paired cosine after moving text by the mean gap", (None, 0.75)),
    ("ridge_r2", "ridge regression text -> image, held-out R^2", (None, 0.35)),
    ("residual_text_ratio", "residual / text spread", (1.0, None)),
    ("residual_share", "residual share of the mean squared paired distance", (0.4, None)),
    ("top10_gap_share", "share of the gap's squared norm in its top 10 dimensions", (0.6, None)),
    ("image_effective_rank", "effective rank of the image covariance", (50, None)),
    ("text_effective_rank", "effective rank of the text covariance", (50, None)),
    ("i2t_r1", "R@1 image -> text (1,000 images, 5 captions each)", (0.4, 0.7)),
)
PROBE_TARGET = 0.9
SHORT_LABELS = {
    "paired_cosine": "paired cosine",
    "text_text_unrelated": "unrelated text-text cosine",
    "l2m": "centroid distance L2M",
    "image_cone": "image cone",
    "text_cone": "text cone",
    "separability": "separability",
    "shifted_paired_cosine": "paired cos. after mean shift",
    "ridge_r2": "ridge R^2 text -> image",
    "residual_text_ratio": "residual / text spread",
    "residual_share": "residual share",
    "top10_gap_share": "gap share in top 10 dims",
    "image_effective_rank": "effective rank, images",
    "text_effective_rank": "effective rank, texts",
    "i2t_r1": "R@1 image -> text",
}


def met(key: str, value: float, metrics: dict) -> bool | None:
    """Whether ``value`` meets the row's target (None: the row has no target)."""
    if key == "text_text_unrelated":
        return value > metrics["paired_cosine"]
    bounds = dict((k, b) for k, _, b in GEOMETRY_ROWS)[key]
    if bounds is None:
        return None
    lo, hi = bounds
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def measure_geometry(image_emb, text_emb, owner, seed: int = 0, reps: int = BOOT_REPS) -> dict:
    """{statistic: [value, lo, hi]} for the card's geometry rows."""
    p = Paired.from_raw(image_emb, text_emb, owner)
    out = {k: list(v) for k, v in decomposition_intervals(p, seed, reps).items()}
    out["separability"] = [separability(p.image, p.text, owner, seed), float("nan"), float("nan")]
    out["i2t_r1"] = [i2t_r1(p), float("nan"), float("nan")]
    return out


def evaluate_model(encode_images, encode_texts, seed: int = 0, reps: int = BOOT_REPS) -> dict:
    """Everything the card reports for one model, on held-out data."""
    from ..worlds.shapes.draw import render_array

    scenes, texts, owner = test_pairs(test_split(seed=0))
    geometry = measure_geometry(encode_images(render_array(scenes)), encode_texts(texts), owner, seed, reps)
    return {
        "geometry": geometry,
        "probes_image": image_probes(encode_images, seed=seed),
        "probes_text": text_probes(encode_texts, seed=seed),
    }


def real_clip_reference(seed: int = 0, reps: int = BOOT_REPS) -> dict | None:
    if not FIXTURE.is_file():
        return None
    a = np.load(FIXTURE)
    return measure_geometry(a[0], a[1], np.arange(a.shape[1]), seed, reps)


def _fmt(v: list | None) -> str:
    if v is None:
        return "n/a"
    value, lo, hi = v
    return f"{value:.3f}" if np.isnan(lo) else f"{value:.3f} [{lo:.3f}, {hi:.3f}]"


def _target(key: str) -> str:
    if key == "text_text_unrelated":
        return "> paired cosine"
    lo, hi = dict((k, b) for k, _, b in GEOMETRY_ROWS)[key]
    return (
        f"{lo}-{hi}" if lo is not None and hi is not None else (f">= {lo}" if lo is not None else f"<= {hi}")
    )


def geometry_table(metrics: dict, reference: dict | None) -> list[str]:
    values = {k: v[0] for k, v in metrics["geometry"].items()}
    lines = ["| statistic | real CLIP (fixture) | tiny CLIP | target | met |", "|---|---|---|---|---|"]
    for key, label, _ in GEOMETRY_ROWS:
        ok = met(key, values[key], values)
        lines.append(
            f"| {label} | {_fmt((reference or {}).get(key))} | {_fmt(metrics['geometry'][key])} | "
            f"{_target(key)} | {'yes' if ok else '**no**'} |"
        )
    return lines


def probe_table(metrics: dict) -> list[str]:
    lines = ["| factor | values | image probe | text probe (captions stating it) |", "|---|---|---|---|"]
    for f in catalog.FACTORS:
        n = len(catalog.COUNTS if f == "count" else {**catalog.OBJECT_FACTORS, **catalog.SCENE_FACTORS}[f])
        img, txt = metrics["probes_image"][f], metrics["probes_text"][f]
        mark = lambda v: f"{v:.3f}" if v >= PROBE_TARGET else f"**{v:.3f}**"  # noqa: E731
        lines.append(f"| {f} | {n} | {mark(img)} | {mark(txt)} |")
    return lines


TRAJECTORY_KEYS = (
    "logit_scale",
    "paired_cosine",
    "l2m",
    "image_cone",
    "text_cone",
    "ridge_r2",
    "residual_share",
    "i2t_r1",
)


def trajectory_table(history: list[dict]) -> list[str]:
    lines = [
        "| stage | step | " + " | ".join(TRAJECTORY_KEYS) + " |",
        "|---" * (len(TRAJECTORY_KEYS) + 2) + "|",
    ]
    for h in history:
        lines.append(
            f"| {h.get('stage', 1)} | {h['step']} | "
            + " | ".join(f"{h[k]:.3f}" if k in h else "" for k in TRAJECTORY_KEYS)
            + " |"
        )
    return lines


def render_card(
    meta: dict, metrics: dict, reference: dict | None, history: list[dict] | None, notes: str = ""
) -> str:
    arch = {k: v for k, v in meta.get("model", {}).items() if k != "words"}
    lines = [
        f"# gapkit-shapes: the tiny CLIP of the shapes world (v{catalog.WORLD_VERSION})",
        "",
        "An open_clip `CLIP` (ModifiedResNet image tower, transformer text tower, word-level tokenizer over",
        f"the world's vocabulary, {arch.get('embed_dim')}-d) trained from scratch by gapkit with symmetric",
        f"InfoNCE on the information-imbalanced shapes world v{catalog.WORLD_VERSION}: a model organism of "
        "CLIP's modality gap.",
        "",
        "Retrain: `gapkit world train-clip --config analyses/shapes-clip-recipe.yaml "
        "--out runs/shapes-clip`,",
        "then copy the last stage's `final/model.safetensors` and `final/config.json` here, and rewrite this",
        "card: `gapkit world card --history runs/shapes-clip/stage*/history.json`.",
        "",
        "## Training",
        "",
        f"- steps: {meta.get('steps_done')} over {len(meta.get('recipe') or [1])} stage(s); training time "
        f"{meta.get('train_seconds')} s on {meta.get('torch_threads')} CPU threads",
        f"- architecture: `{json.dumps(arch)}`",
        f"- final logit scale: {metrics.get('logit_scale', float('nan')):.1f}",
        "",
        "## The gap's geometry (test split: 1,000 images, 5 reference captions each)",
        "",
        "Values with cluster-bootstrap 95% intervals over images "
        f"({BOOT_REPS} replicates, basic intervals); definitions in ../shared/docs/gap-geometry.md.",
        "",
        *geometry_table(metrics, reference),
        "",
        "![the geometry beside real CLIP's, one panel per statistic](geometry.png)",
        "",
        "## Probes per factor (held-out)",
        "",
        f"Logistic regression, 2,000 train-split / 1,000 test-split scenes; target >= {PROBE_TARGET} "
        "(bold: missed).",
        "Object factors are read at two grid cells (centre, bottom right) and averaged; position is the",
        "occupancy of each cell. Text probes read the factor from captions that state it.",
        "",
        *probe_table(metrics),
        "",
    ]
    if reference is None:
        lines += ["(The real-CLIP fixture was not present when this card was written.)", ""]
    if history:
        lines += ["## Training trajectory", "", *trajectory_table(history), ""]
    if notes:
        lines += ["## Notes", "", notes.strip(), ""]
    return "\n".join(lines)


def geometry_figure(metrics: dict, reference: dict | None, path: Path) -> list[Path]:
    """The organism's geometry beside real CLIP's, one panel per statistic, targets shaded."""
    from ..plots.geometry import organism_figure

    rows = [
        (SHORT_LABELS[key], metrics["geometry"][key], (reference or {}).get(key), bounds)
        for key, _, bounds in GEOMETRY_ROWS
    ]
    return organism_figure(rows, path)


def write_model_card(folder: Path, seed: int = 0, histories: list[Path] | None = None) -> dict:
    """Evaluate the weights in ``folder``; write metrics.json and MODEL_CARD.md there. Training
    histories (history.json of each stage) are merged into ``history.json`` beside the weights;
    ``notes.md`` there, if present, is appended to the card."""
    from .model import load_tiny_clip

    folder = Path(folder)
    meta = json.loads((folder / "config.json").read_text())
    clip = load_tiny_clip(folder)
    metrics = evaluate_model(clip.encode_images, clip.encode_texts, seed)
    metrics["logit_scale"] = clip.logit_scale
    reference = real_clip_reference(seed)
    if histories:
        merged = [
            {**h, "stage": k + 1} for k, p in enumerate(histories) for h in json.loads(Path(p).read_text())
        ]
        write_json(folder / "history.json", merged)
    history = (
        json.loads((folder / "history.json").read_text()) if (folder / "history.json").is_file() else None
    )
    notes = (folder / "notes.md").read_text() if (folder / "notes.md").is_file() else ""
    values = {k: v[0] for k, v in metrics["geometry"].items()}
    metrics["missed"] = [key for key, _, _ in GEOMETRY_ROWS if met(key, values[key], values) is False]
    metrics["missed_probes"] = [
        f"{kind}:{f}"
        for kind in ("probes_image", "probes_text")
        for f, v in metrics[kind].items()
        if v < PROBE_TARGET
    ]
    write_json(folder / "metrics.json", {**metrics, "real_clip_fixture": reference})
    geometry_figure(metrics, reference, folder / "geometry")
    with atomic_file(folder / "MODEL_CARD.md") as f:
        f.write(render_card(meta, metrics, reference, history, notes))
    return metrics
