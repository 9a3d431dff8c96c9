"""The shapes world's factors, their values and the world version.

World v2 is built for *information imbalance* (Schrodi et al., ICLR 2025): an image shows many
more factors than any one caption states. A scene has 2-4 objects on a 3 x 3 grid, each with five
factors (shape, colour, size, fill, position), and seven scene factors (background colour and
texture, lighting direction, tint, border, clutter, object count). A caption mentions one or two
objects with a few of their factors and at most one scene factor: about a fifth of what the
image shows (``captions.coverage`` measures it).

Changing anything here changes images or texts, so it must bump ``WORLD_VERSION``: the version is
part of every cache key and every exported data set, and loaders refuse a mismatch.
"""

from __future__ import annotations

WORLD_VERSION = "2"

# --- per-object factors ----------------------------------------------------------------------
# Five shapes that stay distinct at 64 px (a diamond reads as a rotated square).
SHAPES = ("circle", "square", "triangle", "star", "cross")
COLOURS = ("red", "green", "blue", "yellow", "purple", "orange")
SIZES = ("small", "large")
FILLS = ("solid", "hollow")
POSITIONS = (
    "top left",
    "top",
    "top right",
    "left",
    "centre",
    "right",
    "bottom left",
    "bottom",
    "bottom right",
)
OBJECT_FACTORS = {"shape": SHAPES, "colour": COLOURS, "size": SIZES, "fill": FILLS, "position": POSITIONS}

# --- scene factors ---------------------------------------------------------------------------
BACKGROUNDS = ("dark", "grey", "light", "sand", "teal")
TEXTURES = ("plain", "striped", "checked", "dotted")
LIGHTINGS = ("even", "left", "right", "top", "bottom")  # where the light comes from
TINTS = ("neutral", "warm", "cool")
BORDERS = ("none", "white", "black", "gold")
CLUTTERS = ("clean", "specks", "cluttered")
COUNTS = (2, 3, 4)
COUNT_PROBS = (0.35, 0.4, 0.25)
SCENE_FACTORS = {
    "background": BACKGROUNDS,
    "texture": TEXTURES,
    "lighting": LIGHTINGS,
    "tint": TINTS,
    "border": BORDERS,
    "clutter": CLUTTERS,
}
# Every factor a counterfactual minimal pair can change, and a probe can read.
FACTORS = (*OBJECT_FACTORS, *SCENE_FACTORS, "count")

# --- rendering -------------------------------------------------------------------------------
RGB = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (40, 80, 230),
    "yellow": (240, 215, 30),
    "purple": (150, 60, 200),
    "orange": (250, 140, 20),
}
BACKGROUND_RGB = {
    "dark": (25, 25, 35),
    "grey": (120, 120, 120),
    "light": (235, 235, 228),
    "sand": (196, 170, 120),
    "teal": (30, 105, 110),
}
BORDER_RGB = {"white": (250, 250, 250), "black": (5, 5, 5), "gold": (212, 175, 55)}
# Multiplicative per-channel colour cast of the whole image.
TINT_GAIN = {"neutral": (1.0, 1.0, 1.0), "warm": (1.15, 1.0, 0.8), "cool": (0.8, 1.0, 1.15)}
# Lighting: brightness falls linearly from LIGHT_HIGH on the lit side to LIGHT_LOW opposite.
LIGHT_HIGH, LIGHT_LOW = 1.15, 0.55
CLUTTER_SPECKS = {"clean": 0, "specks": 6, "cluttered": 18}
BORDER_WIDTH = 0.05  # fraction of the image side
TEXTURE_PERIOD = 0.125  # fraction of the image side
TEXTURE_CONTRAST = 0.22  # background shade offset of the pattern

# Object radius as a fraction of the image side; grid cell centres (x, y) in [0, 1].
RADIUS = {"small": 0.085, "large": 0.13}
HOLLOW_WIDTH = 0.35  # outline width of a hollow object, as a fraction of its radius
_GRID = (0.2, 0.5, 0.8)
ANCHORS = {p: (_GRID[k % 3], _GRID[k // 3]) for k, p in enumerate(POSITIONS)}

# Continuous nuisance variation (uniform ranges), so no two renders are identical.
JITTER_POS = 0.03  # fraction of the image side
JITTER_ROT = 20.0  # degrees
JITTER_SCALE = (0.92, 1.08)
JITTER_RGB = 14  # per channel, object and background

# IMAGE_SIZE: pixels (3 x 32: the ResNet tower's final 3 x 3 map lines up with the grid), rendered at
# SUPERSAMPLE x, box-downsampled
IMAGE_SIZE = 96
SUPERSAMPLE = 2

# Split shares by scene key hash: the same scene key never appears in two splits.
SPLIT_SHARES = {"train": 0.7, "restval": 0.1, "val": 0.1, "test": 0.1}
