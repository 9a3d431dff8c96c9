"""What a version of the shapes world is: its factors, their values and sampling weights, the
names captions use, the colours and outlines images use. One ``Catalog`` value per version.

World v2 is built for *information imbalance* (Schrodi et al., ICLR 2025): an image shows many
more factors than any one caption states. A scene has 2-4 objects on a 3 x 3 grid, each with five
factors (shape, colour, size, fill, position), and seven scene factors (background colour and
texture, lighting direction, tint, border, clutter, object count). A caption mentions one or two
objects with a few of their factors and at most one scene factor: about a fifth of what the
image shows (``captions.coverage`` measures it).

A world receives its catalog (``ShapesWorld(catalog=...)``) and every scene carries the one it was
sampled from, so sampling, captions, items, drawing and export read the scene's catalog, never
module globals. Changing anything in a catalog changes images or texts, so it must get a new
``version``: the version is part of every cache key and every exported data set, and loaders
refuse a mismatch. ``CATALOGS`` maps each version to its catalog.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from types import MappingProxyType

import numpy as np

Point = tuple[float, float]
RGBValue = tuple[int, int, int]

# Factor names are the scene schema (fields of scene.Obj and scene.Scene), the same in every
# version; their values are a catalog's.
OBJECT_FACTOR_NAMES = ("shape", "colour", "size", "fill", "position")
SCENE_FACTOR_NAMES = ("background", "texture", "lighting", "tint", "border", "clutter")


def cdf(probs) -> list[float]:
    """The normalised cumulative sums of ``probs``, as numpy's ``Generator.choice`` computes them."""
    c = np.asarray(probs, np.float64).cumsum()
    return (c / c[-1]).tolist()


def star(n_points: int = 5, inner: float = 0.45) -> tuple[Point, ...]:
    """Unit outline of a star with ``n_points`` tips and inner radius ``inner``."""
    pts = []
    for k in range(2 * n_points):
        r = 1.0 if k % 2 == 0 else inner
        a = math.pi * k / n_points - math.pi / 2
        pts.append((r * math.cos(a), r * math.sin(a)))
    return tuple(pts)


@dataclass(frozen=True)
class Catalog:
    """Everything a world version is. Tuples give each factor's values (in order: indices, probes and
    heads follow it); ``weights`` gives a factor's sampling probabilities (absent: uniform)."""

    version: str
    # --- per-object factors
    shapes: tuple[str, ...]
    colours: tuple[str, ...]
    sizes: tuple[str, ...]
    fills: tuple[str, ...]
    positions: tuple[str, ...]
    # --- scene factors
    backgrounds: tuple[str, ...]
    textures: tuple[str, ...]
    lightings: tuple[str, ...]  # where the light comes from
    tints: tuple[str, ...]
    borders: tuple[str, ...]
    clutters: tuple[str, ...]
    counts: tuple[int, ...]
    # factor name -> probabilities over its values, in their order (absent: uniform draws)
    weights: Mapping[str, tuple[float, ...]]
    # --- language: the words that name each shape (the first is its canonical name)
    shape_words: Mapping[str, tuple[str, ...]]
    # --- rendering
    rgb: Mapping[str, RGBValue]  # object colours
    # Unit outlines centred on (0, 0), radius about 1, y down; shapes in ``ellipses`` are drawn as
    # ellipses instead.
    outlines: Mapping[str, tuple[Point, ...]]
    background_rgb: Mapping[str, RGBValue]
    border_rgb: Mapping[str, RGBValue]
    tint_gain: Mapping[str, tuple[float, float, float]]  # multiplicative per-channel colour cast
    ellipses: tuple[str, ...] = ("circle",)
    # Lighting: brightness falls linearly from light_high on the lit side to light_low opposite.
    light_high: float = 1.15
    light_low: float = 0.55
    clutter_specks: Mapping[str, int] = field(
        default_factory=lambda: {"clean": 0, "specks": 6, "cluttered": 18}
    )
    border_width: float = 0.05  # fraction of the image side
    texture_period: float = 0.125  # fraction of the image side
    texture_contrast: float = 0.22  # background shade offset of the pattern
    # Object radius as a fraction of the image side; grid cell centres (x, y) in [0, 1].
    radius: Mapping[str, float] = field(default_factory=lambda: {"small": 0.085, "large": 0.13})
    hollow_width: float = 0.35  # outline width of a hollow object, as a fraction of its radius
    grid: tuple[float, ...] = (0.2, 0.5, 0.8)
    # Continuous nuisance variation (uniform ranges), so no two renders are identical.
    jitter_pos: float = 0.03  # fraction of the image side
    jitter_rot: float = 20.0  # degrees
    jitter_scale: tuple[float, float] = (0.92, 1.08)
    jitter_rgb: int = 14  # per channel, object and background
    # Pixels (3 x 32: the ResNet tower's final 3 x 3 map lines up with the grid), rendered at
    # supersample x, box-downsampled.
    image_size: int = 96
    supersample: int = 2
    # Split shares by scene key hash: the same scene key never appears in two splits.
    split_shares: Mapping[str, float] = field(
        default_factory=lambda: {"train": 0.7, "restval": 0.1, "val": 0.1, "test": 0.1}
    )

    def __post_init__(self) -> None:
        for f in fields(self):  # read-only mappings: a catalog value never changes
            value = getattr(self, f.name)
            if isinstance(value, Mapping):
                object.__setattr__(self, f.name, MappingProxyType(dict(value)))
        for name, probs in self.weights.items():
            if len(probs) != len(self.values(name)):
                raise ValueError(f"catalog {self.version}: {len(probs)} weights for factor {name!r}")
        missing = [s for s in self.shapes if s not in self.shape_words]
        if missing:  # captions name every object (rendering needs outlines and RGB as well)
            raise ValueError(f"catalog {self.version}: no words for shapes {missing}")

    def __hash__(self) -> int:  # mappings are not hashable; equal catalogs share a version
        return hash(self.version)

    def __reduce__(self):  # read-only mappings do not pickle: rebuild from plain dicts
        return (_rebuild, (type(self), self._plain_fields()))

    def _plain_fields(self) -> dict:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    @cached_property
    def object_factors(self) -> Mapping[str, tuple[str, ...]]:
        values = (self.shapes, self.colours, self.sizes, self.fills, self.positions)
        return MappingProxyType(dict(zip(OBJECT_FACTOR_NAMES, values)))

    @cached_property
    def scene_factors(self) -> Mapping[str, tuple[str, ...]]:
        values = (self.backgrounds, self.textures, self.lightings, self.tints, self.borders, self.clutters)
        return MappingProxyType(dict(zip(SCENE_FACTOR_NAMES, values)))

    @property
    def factors(self) -> tuple[str, ...]:
        """Every factor a counterfactual minimal pair can change, and a probe can read."""
        return (*self.object_factors, *self.scene_factors, "count")

    def values(self, factor: str) -> tuple:
        """The values of ``factor`` (``count`` included)."""
        if factor == "count":
            return self.counts
        return self.object_factors.get(factor) or self.scene_factors[factor]

    @cached_property
    def cdfs(self) -> dict[str, list[float]]:
        """factor -> ``cdf`` of its weights (weighted factors only)."""
        return {name: cdf(probs) for name, probs in self.weights.items()}

    @cached_property
    def anchors(self) -> dict[str, Point]:
        """Grid cell centres (x, y) of each position, row-major."""
        return {p: (self.grid[k % 3], self.grid[k // 3]) for k, p in enumerate(self.positions)}

    def fingerprint(self) -> str:
        """sha256 (16 hex digits) of the catalog's content: a changed catalog under an old version
        would let caches keyed by the version hand back the old world."""
        content = self._plain_fields()
        content["outlines"] = {
            k: [[round(x, 6), round(y, 6)] for x, y in v] for k, v in self.outlines.items()
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def _plain(value):
    return dict(value) if isinstance(value, Mapping) else value


def _rebuild(cls: type, plain: dict) -> Catalog:
    return cls(**plain)


_CROSS = (
    (-0.32, -1.0),
    (0.32, -1.0),
    (0.32, -0.32),
    (1.0, -0.32),
    (1.0, 0.32),
    (0.32, 0.32),
    (0.32, 1.0),
    (-0.32, 1.0),
    (-0.32, 0.32),
    (-1.0, 0.32),
    (-1.0, -0.32),
    (-0.32, -0.32),
)

V2 = Catalog(
    version="2",
    # Five shapes that stay distinct at 64 px (a diamond reads as a rotated square).
    shapes=("circle", "square", "triangle", "star", "cross"),
    colours=("red", "green", "blue", "yellow", "purple", "orange"),
    sizes=("small", "large"),
    fills=("solid", "hollow"),
    positions=(
        "top left",
        "top",
        "top right",
        "left",
        "centre",
        "right",
        "bottom left",
        "bottom",
        "bottom right",
    ),
    backgrounds=("dark", "grey", "light", "sand", "teal"),
    textures=("plain", "striped", "checked", "dotted"),
    lightings=("even", "left", "right", "top", "bottom"),
    tints=("neutral", "warm", "cool"),
    borders=("none", "white", "black", "gold"),
    clutters=("clean", "specks", "cluttered"),
    counts=(2, 3, 4),
    weights={"count": (0.35, 0.4, 0.25)},
    shape_words={
        "circle": ("circle", "disc"),
        "square": ("square", "block"),
        "triangle": ("triangle",),
        "star": ("star",),
        "cross": ("cross", "plus"),
    },
    rgb={
        "red": (220, 40, 40),
        "green": (40, 180, 60),
        "blue": (40, 80, 230),
        "yellow": (240, 215, 30),
        "purple": (150, 60, 200),
        "orange": (250, 140, 20),
    },
    outlines={
        "square": ((-0.82, -0.82), (0.82, -0.82), (0.82, 0.82), (-0.82, 0.82)),
        "triangle": ((0.0, -1.0), (0.95, 0.75), (-0.95, 0.75)),
        "star": star(),
        "cross": _CROSS,
    },
    background_rgb={
        "dark": (25, 25, 35),
        "grey": (120, 120, 120),
        "light": (235, 235, 228),
        "sand": (196, 170, 120),
        "teal": (30, 105, 110),
    },
    border_rgb={"white": (250, 250, 250), "black": (5, 5, 5), "gold": (212, 175, 55)},
    tint_gain={"neutral": (1.0, 1.0, 1.0), "warm": (1.15, 1.0, 0.8), "cool": (0.8, 1.0, 1.15)},
)

# Every catalog gapkit knows, by version (exported worlds and caches name theirs by version).
CATALOGS: dict[str, Catalog] = {V2.version: V2}
DEFAULT = V2


def register(catalog: Catalog) -> Catalog:
    """Add ``catalog`` to ``CATALOGS`` and return the catalog registered under its version (an equal
    one registered before stays); a different catalog under a known version is refused (caches
    keyed by the version would mix the two worlds)."""
    known = CATALOGS.setdefault(catalog.version, catalog)
    if known.fingerprint() != catalog.fingerprint():
        raise ValueError(
            f"world version {catalog.version!r} is already a different catalog "
            f"(fingerprint {known.fingerprint()}, given {catalog.fingerprint()}): give it a new version"
        )
    return known


def get(version: str) -> Catalog:
    """The catalog of world ``version``."""
    try:
        return CATALOGS[str(version)]
    except KeyError:
        raise KeyError(f"unknown shapes world version {version!r}; known: {', '.join(CATALOGS)}") from None


# World v2's values under their old names, for code that has no world at hand (tests, v2-only
# tools). World code reads the catalog of its world or scene instead.
WORLD_VERSION = V2.version
POSITIONS = V2.positions
OBJECT_FACTORS = V2.object_factors
SCENE_FACTORS = V2.scene_factors
COUNTS = V2.counts
FACTORS = V2.factors
IMAGE_SIZE = V2.image_size
SPLIT_SHARES = V2.split_shares
