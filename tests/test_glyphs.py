"""The glyph vocabulary (gapkit.worlds.shapes.glyphs): DejaVu Sans's symbol glyphs as object kinds
for world v3, with Unicode's "black" / "white" moved into the fill, and the captions-only what-if
catalog that names them."""

import numpy as np

from gapkit.worlds.shapes import captions, glyphs
from gapkit.worlds.shapes.catalog import CATALOGS, V2
from gapkit.worlds.shapes.scene import sample_scene


def test_vocabulary_is_deterministic_sorted_and_large():
    vocab = glyphs.vocabulary()
    glyphs.vocabulary.cache_clear()
    assert glyphs.vocabulary() == vocab
    names = [g.kind for g in vocab]
    assert len(names) >= 500
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    code_points = [cp for g in vocab for cp in g.code_points]
    assert len(set(code_points)) == len(code_points)


def test_kind_names_hold_no_colour_or_fill_words():
    colours = set(V2.colours) | set(glyphs.EXTRA_RGB) | {"black", "white"}
    for g in glyphs.vocabulary():
        assert g.kind and g.kind == g.kind.lower()
        assert not colours & set(g.kind.split()), g.kind
        assert len(g.fills) == len(g.code_points) == len(set(g.fills))
        assert set(g.fills) <= {"solid", "hollow", "plain"}


def test_black_and_white_become_fills_of_one_kind():
    by_kind = {g.kind: g for g in glyphs.vocabulary()}
    star = by_kind["star"]  # BLACK STAR U+2605, WHITE STAR U+2606
    assert dict(zip(star.fills, star.code_points)) == {"solid": 0x2605, "hollow": 0x2606}
    assert glyphs.split_name(0x2605) == ("star", "solid")
    assert not any(
        lo <= cp <= hi for g in by_kind.values() for cp in g.code_points for lo, hi in glyphs.DROPPED_RANGES
    )


def test_captions_catalog_names_glyph_kinds():
    cat = glyphs.captions_catalog()
    assert cat.version.startswith(glyphs.CAPTIONS_VERSION) and cat.version not in CATALOGS
    assert sorted(cat.shapes) == list(glyphs.kinds()) and len(cat.colours) == 12
    w = np.asarray(cat.weights["shape"])
    assert np.isclose(w.sum(), 1.0) and np.all(np.diff(w) < 0)  # Zipf: rank 1 most frequent
    rng = np.random.default_rng(0)
    for _ in range(20):
        scene = sample_scene(rng, catalog=cat)
        for mention, text in captions.reference_captions(scene, rng):
            for obj, _ in mention.objects:
                assert obj.shape in cat.shapes and obj.shape in text
    assert V2.version == "2" and len(V2.shapes) == 5  # world v2 untouched
