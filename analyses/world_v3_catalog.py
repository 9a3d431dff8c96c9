"""The world v3 prototype's catalog: world v2's with 20 shapes and 12 colours at Zipf-like
frequencies, as a ``Catalog`` value (``catalog()``) that a world receives:
``ShapesWorld(seed, sizes, catalog=catalog())``. Used by analyses/world_v3_prototype.py, which says
why and what it measures."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math

import numpy as np

from gapkit.worlds.shapes.catalog import V2, Catalog, register, star
from gapkit.worlds.shapes.glyphs import EXTRA_RGB

ZIPF_S = 0.8
# VERSION keys the prototype's caches and its split hashing, as V2.version does v2's: any change
# below must bump it and set FINGERPRINT (catalog() refuses a catalog that differs).
VERSION = "3proto"
FINGERPRINT = "b6815dfbc16daea5"

NEW_SHAPE_WORDS = {
    "pentagon": ("pentagon",),
    "heart": ("heart",),
    "arrow": ("arrow",),
    "crescent": ("crescent", "moon"),
    "semicircle": ("semicircle", "half circle"),
    "oval": ("oval", "ellipse"),
    "rectangle": ("rectangle", "bar"),
    "trapezoid": ("trapezoid",),
    "kite": ("kite",),
    "sparkle": ("sparkle", "four pointed star"),
    "hexagram": ("hexagram", "six pointed star"),
    "tee": ("tee", "t shape"),
    "ell": ("ell", "l shape"),
    "bowtie": ("bowtie", "hourglass"),
    "chevron": ("chevron",),
}
NEW_RGB = EXTRA_RGB  # six colours after world v2's (the glyph catalog uses the same six)


# --- unit outlines (centred on 0, radius about 1, y down) --------------------------------------
def _regular(n: int) -> list[tuple[float, float]]:
    return [
        (math.cos(2 * math.pi * k / n - math.pi / 2), math.sin(2 * math.pi * k / n - math.pi / 2))
        for k in range(n)
    ]


def _heart() -> list[tuple[float, float]]:
    ts = np.linspace(0, 2 * math.pi, 32, endpoint=False)
    x = 16 * np.sin(ts) ** 3
    y = -(13 * np.cos(ts) - 5 * np.cos(2 * ts) - 2 * np.cos(3 * ts) - np.cos(4 * ts))
    return list(zip((x / 17).tolist(), ((y + 2.5) / 15).tolist()))


def _crescent() -> list[tuple[float, float]]:
    # Outer arc of the unit circle (right side) and back along a narrower ellipse that meets it at
    # t = +-2 rad: a crescent opening to the left.
    ts = np.linspace(-2.0, 2.0, 16)
    a = 0.4
    c = math.cos(2.0) * (1 - a)
    return [(math.cos(t), math.sin(t)) for t in ts] + [(c + a * math.cos(t), math.sin(t)) for t in ts[::-1]]


def _arc(t0: float, t1: float, n: int, ry: float = 1.0, dy: float = 0.0) -> list[tuple[float, float]]:
    return [(math.cos(t), ry * math.sin(t) + dy) for t in np.linspace(t0, t1, n)]


def _outlines(star) -> dict[str, list[tuple[float, float]]]:
    return {
        "pentagon": _regular(5),
        "heart": _heart(),
        "arrow": [(-1, -0.3), (0.2, -0.3), (0.2, -0.75), (1, 0), (0.2, 0.75), (0.2, 0.3), (-1, 0.3)],
        "crescent": _crescent(),
        "semicircle": _arc(math.pi, 2 * math.pi, 16, dy=0.45),
        "oval": _arc(0, 2 * math.pi * 23 / 24, 24, ry=0.55),
        "rectangle": [(-1, -0.45), (1, -0.45), (1, 0.45), (-1, 0.45)],
        "trapezoid": [(-0.5, -0.6), (0.5, -0.6), (1, 0.6), (-1, 0.6)],
        "kite": [(0, -1), (0.62, -0.25), (0, 1), (-0.62, -0.25)],
        "sparkle": star(4, 0.35),
        "hexagram": star(6, 0.58),
        "tee": [
            (-1, -0.9),
            (1, -0.9),
            (1, -0.35),
            (0.28, -0.35),
            (0.28, 1),
            (-0.28, 1),
            (-0.28, -0.35),
            (-1, -0.35),
        ],
        "ell": [(-0.7, -1), (-0.15, -1), (-0.15, 0.45), (0.8, 0.45), (0.8, 1), (-0.7, 1)],
        "bowtie": [(-1, -0.8), (0, -0.2), (1, -0.8), (1, 0.8), (0, 0.2), (-1, 0.8)],
        "chevron": [(-0.9, -0.8), (-0.3, -0.8), (0.5, 0), (-0.3, 0.8), (-0.9, 0.8), (-0.1, 0)],
    }


def zipf_probs(n: int, s: float = ZIPF_S) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


def fingerprint() -> str:
    """sha256 of everything this module adds to world v2 (names, colours, outlines, frequencies)."""
    outlines = {k: [[round(x, 6), round(y, 6)] for x, y in v] for k, v in _outlines(star).items()}
    content = {"zipf_s": ZIPF_S, "words": NEW_SHAPE_WORDS, "rgb": NEW_RGB, "outlines": outlines}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def catalog() -> Catalog:
    """The prototype's catalog (version VERSION), registered with gapkit's catalogs so that an
    exported prototype world can be read back by its version. Refuses a changed catalog under an
    unchanged VERSION (caches keyed by the version would hand back the old world)."""
    if fingerprint() != FINGERPRINT:
        raise SystemExit(
            f"the prototype's catalog changed (fingerprint {fingerprint()}): bump VERSION and set FINGERPRINT"
        )
    shapes = V2.shapes + tuple(NEW_SHAPE_WORDS)
    rgb = {**V2.rgb, **NEW_RGB}
    proto = dataclasses.replace(
        V2,
        version=VERSION,
        shapes=shapes,
        colours=tuple(rgb),
        # shape and colour drawn with probability proportional to 1 / rank^ZIPF_S (v2's first)
        weights={**V2.weights, "shape": _zipf(len(shapes)), "colour": _zipf(len(rgb))},
        shape_words={**V2.shape_words, **NEW_SHAPE_WORDS},
        rgb=rgb,
        outlines={**V2.outlines, **{k: tuple(map(tuple, v)) for k, v in _outlines(star).items()}},
    )
    return register(proto)


def _zipf(n: int) -> tuple[float, ...]:
    return tuple(zipf_probs(n).tolist())
