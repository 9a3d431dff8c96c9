"""How high is a caption world's CIDEr floor, and how does it fall with more content categories?
(issue 11, the pre-check's threshold)

    python analyses/caption_floor.py        # about 2 min on 2 cores

The pre-check asks a clean-text decoder to score at most 0.5x the images model. On world v2 the
images model's own captions keep 0.56x when shuffled across images (results/precheck/baselines.json),
so a decoder whose captions are fluent but describe other images would pass nothing. This script
measures the same floor on the world's *reference* captions, with no model: each image's first
reference caption scored (CIDEr-D) against the image's other four ("matched") and against another
image's four ("shuffled"), for world v2's catalog (5 shapes, 6 colours) and for what-if catalogs
with more shape and colour categories (captions only: the new categories are names, nothing is
rendered; the sampler and caption grammar are world v2's, at uniform frequencies).

Writes results/caption-floor/results.json and results.md."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from gapkit.metrics import score_captions
from gapkit.worlds.shapes import captions
from gapkit.worlds.shapes.catalog import V2, Catalog
from gapkit.worlds.shapes.scene import sample_scene

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "caption-floor"
COMMAND = "python analyses/caption_floor.py"
N_IMAGES = 1000
CATALOGS = [(5, 6), (20, 6), (5, 24), (20, 24), (60, 24)]  # (shapes, colours); the first is world v2's


def what_if(n_shapes: int, n_colours: int) -> Catalog:
    """World v2's catalog with extra shape / colour names appended (names only: it draws no images)."""
    shapes = V2.shapes + tuple(f"shape{k}" for k in range(n_shapes - len(V2.shapes)))
    colours = V2.colours + tuple(f"colour{k}" for k in range(n_colours - len(V2.colours)))
    words = {**V2.shape_words, **{s: (s,) for s in shapes if s not in V2.shape_words}}
    return dataclasses.replace(
        V2, version=f"2-what-if-{n_shapes}x{n_colours}", shapes=shapes, colours=colours, shape_words=words
    )


def reference_captions(catalog: Catalog, seed: int = 0) -> list[list[str]]:
    """N_IMAGES scenes of world ``catalog`` and their reference captions."""
    rng = np.random.default_rng(seed)
    return [
        [t for _, t in captions.reference_captions(sample_scene(rng, catalog=catalog), rng)]
        for _ in range(N_IMAGES)
    ]


def floor(catalog: Catalog, seed: int = 0) -> dict:
    """The matched and shuffled CIDEr of world ``catalog``'s reference captions."""
    refs = reference_captions(catalog, seed)
    first, others = [r[0] for r in refs], [r[1:] for r in refs]
    shuffled = [others[i] for i in np.random.default_rng(seed + 1).permutation(N_IMAGES)]
    matched_cider = score_captions(first, others)["cider"]
    shuffled_cider = score_captions(first, shuffled)["cider"]
    return {
        "shapes": len(catalog.shapes),
        "colours": len(catalog.colours),
        "matched": matched_cider,
        "shuffled": shuffled_cider,
        "floor_ratio": shuffled_cider / matched_cider,
    }


def render(rows: list[dict]) -> str:
    lines = [
        "# The CIDEr floor of the shapes world's captions",
        "",
        f"Regenerate: `{COMMAND}` (see its docstring). {N_IMAGES} scenes, seed 0; each image's first "
        "reference caption scored against its other four (matched) and against another image's four "
        "(shuffled). Floor ratio: shuffled / matched, the score a caption keeps when it describes "
        "another image. The first row is world v2's catalog; the others add shape and colour names.",
        "",
        "| shapes | colours | matched CIDEr | shuffled CIDEr | floor ratio |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        scores = f"{r['matched']:.1f} | {r['shuffled']:.1f} | {r['floor_ratio']:.2f}"
        lines.append(f"| {r['shapes']} | {r['colours']} | {scores} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rows = [floor(what_if(s, c)) for s, c in CATALOGS]
    (OUT / "results.json").write_text(
        json.dumps({"command": COMMAND, "n_images": N_IMAGES, "rows": rows}, indent=1) + "\n"
    )
    (OUT / "results.md").write_text(render(rows))
    print(render(rows))


if __name__ == "__main__":
    main()
