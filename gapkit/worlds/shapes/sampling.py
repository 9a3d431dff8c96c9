"""Streams of training scenes for the tiny CLIP, with optional hard negatives.

A hard-negative batch is half base scenes and half their one-attribute counterfactuals, so
pairs in the batch can only be told apart by the changed attribute (notably shape, which random
batches never require: colour alone separates most random pairs)."""

from __future__ import annotations

import numpy as np

from .captions import _full, _there_is, random_caption
from .scene import ATTRIBUTES, Scene, counterfactual, sample_in_split


def _variant(scene: Scene, rng: np.random.Generator, weights: np.ndarray) -> Scene:
    for _ in range(10):
        attr = ATTRIBUTES[rng.choice(len(ATTRIBUTES), p=weights)]
        try:
            return counterfactual(scene, attr, rng)
        except ValueError:  # no free position for a 3-object scene: pick another attribute
            continue
    return counterfactual(scene, "colour", rng)


def training_batch(rng: np.random.Generator, batch_size: int, hard_fraction: float,
                   attribute_weights: dict[str, float] | None = None,
                   split: str = "train") -> tuple[list[Scene], list[str]]:
    """``batch_size`` scenes and one caption each; ``hard_fraction`` of the batch are
    counterfactual partners of the others. Variants may leave ``split`` (they are negatives
    for training only, never evaluation data)."""
    w = np.array([(attribute_weights or {}).get(a, 1.0) for a in ATTRIBUTES], dtype=float)
    w /= w.sum()
    n_hard = int(round(batch_size * hard_fraction / 2))
    base = [sample_in_split(rng, split) for _ in range(batch_size - n_hard)]
    scenes = base + [_variant(base[i], rng, w) for i in range(n_hard)]
    # A partial caption may fit both partners of a hard pair (a false negative), so both get a
    # complete description.
    full = (_full, _there_is)
    paired = set(range(n_hard)) | set(range(len(base), len(scenes)))
    texts = [full[rng.integers(2)](s, rng) if i in paired else random_caption(s, rng)
             for i, s in enumerate(scenes)]
    return scenes, texts
