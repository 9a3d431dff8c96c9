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

import contextlib
import json
from pathlib import Path

import numpy as np

from gapkit.metrics import score_captions
from gapkit.worlds.shapes import captions, catalog
from gapkit.worlds.shapes.scene import sample_scene

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "caption-floor"
COMMAND = "python analyses/caption_floor.py"
N_IMAGES = 1000
CATALOGS = [(5, 6), (20, 6), (5, 24), (20, 24), (60, 24)]  # (shapes, colours); the first is world v2's


@contextlib.contextmanager
def what_if(n_shapes: int, n_colours: int):
    """World v2's catalog with extra shape / colour names appended, restored on exit."""
    saved = (catalog.SHAPES, catalog.COLOURS, dict(captions.SHAPE_WORDS))
    catalog.SHAPES = saved[0] + tuple(f"shape{k}" for k in range(n_shapes - len(saved[0])))
    catalog.COLOURS = saved[1] + tuple(f"colour{k}" for k in range(n_colours - len(saved[1])))
    captions.SHAPE_WORDS.update({s: (s,) for s in catalog.SHAPES if s not in captions.SHAPE_WORDS})
    try:
        yield
    finally:
        catalog.SHAPES, catalog.COLOURS = saved[0], saved[1]
        captions.SHAPE_WORDS.clear()
        captions.SHAPE_WORDS.update(saved[2])


def floor(n_shapes: int, n_colours: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    with what_if(n_shapes, n_colours):
        refs = [[t for _, t in captions.reference_captions(sample_scene(rng), rng)] for _ in range(N_IMAGES)]
    first, others = [r[0] for r in refs], [r[1:] for r in refs]
    shuffled = [others[i] for i in np.random.default_rng(seed + 1).permutation(N_IMAGES)]
    matched_cider = score_captions(first, others)["cider"]
    shuffled_cider = score_captions(first, shuffled)["cider"]
    return {
        "shapes": n_shapes,
        "colours": n_colours,
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
    rows = [floor(s, c) for s, c in CATALOGS]
    (OUT / "results.json").write_text(
        json.dumps({"command": COMMAND, "n_images": N_IMAGES, "rows": rows}, indent=1) + "\n"
    )
    (OUT / "results.md").write_text(render(rows))
    print(render(rows))


if __name__ == "__main__":
    main()
