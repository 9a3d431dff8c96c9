"""How low does the reference-caption CIDEr floor go when the shapes are the ~1,000 symbol glyph
kinds of DejaVu Sans at Zipf-like frequencies? (world v3, a long-tailed visual vocabulary)

    python analyses/glyph_floor.py        # about 15 s on 2 cores

Same measurement as analyses/caption_floor.py (its ``floor``: each image's first reference caption
scored by CIDEr-D against its other four, "matched", and against another image's four, "shuffled"),
for world v2's catalog and for gapkit.worlds.shapes.glyphs.captions_catalog: world v2 with the glyph
kinds as shapes (captions only, nothing rendered). Also the share of the captions' content words
(tokens not in ``FUNCTION_WORDS``) that are rare, i.e. used by fewer than 1% of the captions. The
project's target is a floor ratio <= 0.2 (world v2: 0.45).

Writes results/glyph-floor/results.json and results.md."""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from caption_floor import N_IMAGES, floor, reference_captions  # noqa: E402

from gapkit.worlds.shapes import glyphs  # noqa: E402
from gapkit.worlds.shapes.catalog import V2, Catalog  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "glyph-floor"
COMMAND = "python analyses/glyph_floor.py"
RARE = 0.01  # a word is rare when fewer than this share of captions use it
# (n_colours, zipf exponent or None for uniform) of each glyph row
ROWS = [(6, 1.0), (12, 1.0), (12, None)]
# Template, article and preposition words: every other token names a factor value.
FUNCTION_WORDS = frozenset(
    "a an the of in on at to with and there is this image shows we can see be seen picture simple "
    "drawing nice shapes total among them including , from".split()
)


def rare_share(refs: list[list[str]], rare: float = RARE) -> dict:
    """Of all captions' content tokens, the share whose word appears in fewer than ``rare`` of the
    captions; and the share of captions with at least one such word."""
    caps = [c.split() for r in refs for c in r]
    doc_freq = collections.Counter(w for c in caps for w in set(c) if w not in FUNCTION_WORDS)
    is_rare = {w for w, n in doc_freq.items() if n < rare * len(caps)}
    tokens = [w for c in caps for w in c if w not in FUNCTION_WORDS]
    return {
        "content_words": len(doc_freq),
        "rare_words": len(is_rare),
        "rare_token_share": sum(w in is_rare for w in tokens) / len(tokens),
        "captions_with_rare": sum(any(w in is_rare for w in c) for c in caps) / len(caps),
    }


def row(name: str, catalog: Catalog) -> dict:
    return {
        "catalog": name,
        "version": catalog.version,
        **floor(catalog),
        **rare_share(reference_captions(catalog)),
    }


def render(rows: list[dict]) -> str:
    lines = [
        "# The CIDEr floor of glyph-vocabulary captions",
        "",
        f"Regenerate: `{COMMAND}` (see its docstring). {N_IMAGES} scenes, seed 0, as "
        "analyses/caption_floor.py: each image's first reference caption scored against its other four "
        "(matched) and another image's four (shuffled); floor ratio = shuffled / matched (target <= 0.2). "
        f"Rare: content words used by fewer than {RARE:.0%} of captions; share of content tokens that "
        "are rare, and of captions with at least one.",
        "",
        "| catalog | shapes | colours | matched CIDEr | shuffled CIDEr | floor ratio | content words "
        "| rare words | rare token share | captions with a rare word |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['catalog']} | {r['shapes']} | {r['colours']} | {r['matched']:.1f} | {r['shuffled']:.1f} "
            f"| {r['floor_ratio']:.2f} | {r['content_words']} | {r['rare_words']} "
            f"| {r['rare_token_share']:.2f} | {r['captions_with_rare']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rows = [row("world v2", V2)]
    for n_colours, s in ROWS:
        tag = "uniform" if s is None else f"Zipf s={s:g}"
        rows.append(row(f"glyphs, {tag}", glyphs.captions_catalog(n_colours, s)))
    (OUT / "results.json").write_text(
        json.dumps({"command": COMMAND, "n_images": N_IMAGES, "rare": RARE, "rows": rows}, indent=1) + "\n"
    )
    (OUT / "results.md").write_text(render(rows))
    print(render(rows))


if __name__ == "__main__":
    main()
