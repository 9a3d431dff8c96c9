"""Named random streams: every seeded numpy generator gapkit draws from, with its salt, in one
place. ``stream(seed, name, *extra)`` is ``np.random.default_rng([seed, SALT, *extra])``, so two
uses never share a stream by accident and a result file's seed names exactly what it drew.

The salt values are the ones the committed results were made with; two names may share a value
(their draws are used for unrelated things, from different seeds' data)."""

from __future__ import annotations

import numpy as np

SALTS = {
    # statistics (gapkit measure)
    "random-direction": 31337,  # stats.shift: a random shift direction
    "bootstrap": 77,  # stats.bootstrap: resampled image indices
    "bootstrap-weights": 2024,  # stats.sums: Poisson weights of the streaming bootstrap, per block
    "separability-sample": 5,  # stats.separability: the rows the classifier sees
    "sampled-statistics": 61,  # stats.sampled: the image sample behind the sampled statistics
    "sampled-bootstrap": 91,  # stats.sampled: their bootstrap
    "decomposition-images": 93,  # stats.report: images behind the gap decomposition
    "ridge-folds": 31,  # stats.decomposition: cross-fitting folds of the ridge R^2
    "decomposition-bootstrap": 32,  # stats.decomposition: its bootstrap
    # figures
    "figure-sample": 3,  # figures: the images a t-SNE figure shows
    "cosine-samples": 8,  # plots.geometry: cosine histogram samples
    # CLOSE
    "train-subsample": 404,  # close.prepare: max_train_examples
    "epoch-order": 100,  # close.train: example order, salt + epoch
    "adapter-memory": 4040,  # adapters: the training texts in DeCap's / nearest-caption's memory
    # the world and the tiny CLIP
    "world-split": 0,  # worlds.shapes.world: scenes of split k, salt + k
    "world-scene-items": 0,  # worlds.shapes.world: [seed, k, i, 1], VQA/VE items of scene i of split k
    "world-minimal-pairs": 99,  # worlds.shapes.world
    "clip-batches": 1,  # tinyclip.train: batch order and captions
    "scene-pool": 4242,  # tinyclip.stream: the pre-rendered training scenes
    "probe-scenes": 7,  # tinyclip.probes: probe scenes, [seed, 7, salt, split]
    "probe-captions": 8,  # tinyclip.probes: captions of probe k
    "probe-split": 5,  # tinyclip.probes: train/test permutation of probe features
}


def stream(seed: int, name: str, *extra: int, offset: int = 0) -> np.random.Generator:
    """The generator of stream ``name`` for ``seed``: default_rng([seed, SALTS[name] + offset, *extra])."""
    return np.random.default_rng([seed, SALTS[name] + offset, *extra])
