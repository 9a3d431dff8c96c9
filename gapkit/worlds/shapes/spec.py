"""The shapes world's vocabulary of attributes and its version.

Changing anything here changes images or texts, so it must bump ``WORLD_VERSION``: the version is
part of every cache key and every exported data set, and loaders refuse a mismatch.
"""

from __future__ import annotations

WORLD_VERSION = "1"

# Five shapes that stay distinct at 32 px (a diamond reads as a rotated square, so it is left out).
SHAPES = ("circle", "square", "triangle", "star", "cross")
COLOURS = ("red", "green", "blue", "yellow", "purple", "orange")
SIZES = ("small", "large")
POSITIONS = ("top left", "top right", "bottom left", "bottom right", "centre")
BACKGROUNDS = ("dark", "grey", "light")
COUNTS = (1, 2, 3)
# Probability of 1, 2, 3 objects in a sampled scene.
COUNT_PROBS = (0.4, 0.3, 0.3)

RGB = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (40, 80, 230),
    "yellow": (240, 215, 30),
    "purple": (150, 60, 200),
    "orange": (250, 140, 20),
}
BACKGROUND_RGB = {"dark": (25, 25, 35), "grey": (125, 125, 125), "light": (235, 235, 228)}

# Object radius as a fraction of the image side, and anchor centres (x, y) in [0, 1].
RADIUS = {"small": 0.12, "large": 0.19}
ANCHORS = {
    "top left": (0.27, 0.27),
    "top right": (0.73, 0.27),
    "bottom left": (0.27, 0.73),
    "bottom right": (0.73, 0.73),
    "centre": (0.5, 0.5),
}

# Continuous nuisance variation per object (uniform ranges), so no two renders are identical.
JITTER_POS = 0.04  # fraction of the image side
JITTER_ROT = 20.0  # degrees
JITTER_SCALE = (0.92, 1.08)
JITTER_RGB = 14  # per channel, object and background

IMAGE_SIZE = 32  # pixels, rendered at SUPERSAMPLE x and box-downsampled
SUPERSAMPLE = 4

# Split shares by scene key hash: the same scene key never appears in two splits.
SPLIT_SHARES = {"train": 0.7, "restval": 0.1, "val": 0.1, "test": 0.1}
