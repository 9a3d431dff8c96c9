"""A long-tailed visual vocabulary: the symbol glyphs of the DejaVu Sans font matplotlib ships.

Groundwork for world v3 (a long-tailed vocabulary of object kinds). ``vocabulary()`` reads the
font's character map and keeps the Unicode symbols (categories So and Sm), without the families
that are scripts or tilings rather than objects (braille, box drawing, block elements, dominoes,
mahjong and playing cards, I Ching hexagrams and Tai Xuan Jing tetragrams). Each glyph is named by
``unicodedata.name``, lower-cased, hyphens as spaces.

Unicode names say "black" for a filled glyph and "white" for an outlined one. Those words would
collide with colour words in captions, so they leave the kind's name and become its fill: "black
star" and "white star" are the kind "star" with fill "solid" (U+2605) and "hollow" (U+2606). A name
without them has fill "plain". Kinds whose remaining name is empty, or that repeat a (kind, fill)
already taken by a lower code point, are dropped; kinds whose name holds another colour word
(``COLOUR_WORDS``) are dropped as well, so a caption's colour always comes from the colour factor.

Nothing here renders glyphs; the code points are what a renderer would draw (PIL's ImageFont).
"""

from __future__ import annotations

import dataclasses
import os
import re
import unicodedata
from functools import cache
from typing import NamedTuple

import numpy as np

from .catalog import V2, Catalog

CATEGORIES = ("So", "Sm")
# Code point ranges (inclusive) of symbol families that are scripts or tilings, not objects.
DROPPED_RANGES = (
    (0x2500, 0x257F),  # box drawing
    (0x2580, 0x259F),  # block elements
    (0x2800, 0x28FF),  # braille patterns
    (0x4DC0, 0x4DFF),  # I Ching hexagrams
    (0x1D300, 0x1D35F),  # Tai Xuan Jing tetragrams
    (0x1F000, 0x1F0FF),  # mahjong tiles, dominoes, playing cards
)
FILL_WORDS = {"black": "solid", "white": "hollow"}
PLAIN = "plain"
# Colour words a kind's name must not contain (world v2's, the v3 prototype's, and the other
# colour-ish words scenes use for backgrounds and borders).
COLOUR_WORDS = frozenset(
    "red green blue yellow purple orange pink brown cyan lime magenta indigo "
    "grey gray gold teal sand dark violet black white".split()
)


class Glyph(NamedTuple):
    """One kind: its name, and the code point of each fill it comes in (aligned with ``fills``)."""

    kind: str
    code_points: tuple[int, ...]
    fills: tuple[str, ...]


def font_path() -> str:
    import matplotlib

    return os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf")


def font_code_points(path: str | None = None) -> list[int]:
    """The code points the font maps, ascending."""
    from fontTools.ttLib import TTFont

    font = TTFont(path or font_path(), lazy=True)
    try:
        return sorted(font.getBestCmap())
    finally:
        font.close()


def kept(cp: int) -> bool:
    """Whether code point ``cp`` is a symbol of the vocabulary (before naming)."""
    if unicodedata.category(chr(cp)) not in CATEGORIES:
        return False
    return not any(lo <= cp <= hi for lo, hi in DROPPED_RANGES)


def split_name(cp: int) -> tuple[str, str] | None:
    """(kind, fill) of code point ``cp``: its Unicode name with "black" / "white" moved into the
    fill; None if it has no name."""
    name = unicodedata.name(chr(cp), "")
    if not name:
        return None
    words = re.sub(r"[^a-z0-9 ]", " ", name.lower().replace("-", " ")).split()
    fills = {FILL_WORDS[w] for w in words if w in FILL_WORDS}
    if len(fills) > 1:  # "black and white ..." names say both: not a fill
        return None
    kind = " ".join(w for w in words if w not in FILL_WORDS)
    return kind, (fills.pop() if fills else PLAIN)


@cache
def vocabulary(path: str | None = None) -> tuple[Glyph, ...]:
    """The glyph kinds of the font at ``path`` (matplotlib's DejaVu Sans), sorted by name."""
    variants: dict[str, dict[str, int]] = {}
    for cp in font_code_points(path):
        if not kept(cp):
            continue
        split = split_name(cp)
        if split is None:
            continue
        kind, fill = split
        if not kind or COLOUR_WORDS.intersection(kind.split()):
            continue
        variants.setdefault(kind, {}).setdefault(fill, cp)  # the lowest code point of a (kind, fill)
    order = {"solid": 0, "hollow": 1, PLAIN: 2}
    glyphs = []
    for kind in sorted(variants):
        fills = sorted(variants[kind], key=order.__getitem__)
        glyphs.append(Glyph(kind, tuple(variants[kind][f] for f in fills), tuple(fills)))
    return tuple(glyphs)


def kinds(path: str | None = None) -> tuple[str, ...]:
    return tuple(g.kind for g in vocabulary(path))


# --- a what-if catalog for captions only -------------------------------------------------------
CAPTIONS_VERSION = "3-glyphs-captions"  # never a real world version: it has no outlines to draw
ZIPF_S = 1.0
RANK_SEED = 0
# The v3 prototype's extra colours (analyses/world_v3_catalog.py), after world v2's six.
EXTRA_RGB = {
    "pink": (250, 150, 190),
    "brown": (130, 75, 30),
    "cyan": (40, 210, 230),
    "lime": (165, 235, 40),
    "magenta": (230, 40, 200),
    "indigo": (80, 20, 140),
}


def zipf_weights(n: int, s: float = ZIPF_S) -> tuple[float, ...]:
    """Probabilities proportional to 1 / rank^s, rank 1..n."""
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** s
    return tuple((w / w.sum()).tolist())


def ranked_kinds(seed: int = RANK_SEED) -> tuple[str, ...]:
    """The glyph kinds in Zipf rank order: a fixed permutation of the sorted kinds (the font's order
    would put every arrow at the head)."""
    names = kinds()
    return tuple(names[i] for i in np.random.default_rng(seed).permutation(len(names)))


def captions_catalog(n_colours: int = 12, zipf_s: float | None = ZIPF_S) -> Catalog:
    """World v2's catalog with the glyph kinds as its shapes, drawn with probability proportional to
    1 / rank^zipf_s (None: uniform), each named by its kind name, and ``n_colours`` colours (v2's
    six, then ``EXTRA_RGB``'s). For captions only: it has no outlines, so it draws no images, and
    fills stay v2's independent draw (a glyph kind comes in only the fills its font has)."""
    if not len(V2.colours) <= n_colours <= len(V2.colours) + len(EXTRA_RGB):
        raise ValueError(f"n_colours must be in 6..{len(V2.colours) + len(EXTRA_RGB)}")
    shapes = ranked_kinds()
    rgb = dict(list({**V2.rgb, **EXTRA_RGB}.items())[:n_colours])
    weights = dict(V2.weights)
    if zipf_s is not None:
        weights["shape"] = zipf_weights(len(shapes), zipf_s)
    tag = "uniform" if zipf_s is None else f"zipf{zipf_s:g}"
    return dataclasses.replace(
        V2,
        version=f"{CAPTIONS_VERSION}-{n_colours}c-{tag}",
        shapes=shapes,
        colours=tuple(rgb),
        weights=weights,
        shape_words={k: (k,) for k in shapes},
        rgb=rgb,
        outlines={},
    )


if __name__ == "__main__":
    vocab = vocabulary()
    both = sum(len(g.fills) > 1 for g in vocab)
    words = {w for g in vocab for w in g.kind.split()}
    n_glyphs = sum(len(g.fills) for g in vocab)
    print(
        f"{len(vocab)} kinds ({both} in more than one fill), {n_glyphs} glyphs, {len(words)} distinct words"
    )
