"""Training pairs for the tiny CLIP: a pool of pre-rendered train-split scenes, a fresh partial
caption for each scene every time it is drawn, and optional hard negatives.

Rendering (about 1 ms a scene) would cost a large share of a CPU step, so ``ScenePool`` renders
``size`` scenes once (cached as one uint8 array) and batches index into it; captions are drawn
anew each time, so a scene is seen with many different partial captions over training.

A hard-negative pair is a scene and its one-factor counterfactual, each with a caption that
states the changed factor: the two can be told apart only by that factor, which makes every
factor necessary (random batches let colour alone separate most pairs).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from ..io import atomic_file
from ..progress import progress
from ..streams import stream
from ..worlds.shapes import catalog
from ..worlds.shapes.captions import caption_mentioning, describe, random_caption
from ..worlds.shapes.draw import render, render_array
from ..worlds.shapes.scene import Scene, counterfactual, sample_in_split
from ..worlds.shapes.world import changed_objects

log = logging.getLogger("gapkit.tinyclip")


class ScenePool:
    """``size`` train-split scenes sampled from ``seed``, and their images (size, H, W, 3) uint8."""

    def __init__(self, seed: int, size: int, cache_dir: Path | None = None) -> None:
        rng = stream(seed, "scene-pool")
        self.scenes: list[Scene] = [sample_in_split(rng, "train") for _ in range(size)]
        self.images = self._images(seed, size, cache_dir)

    def _images(self, seed: int, size: int, cache_dir: Path | None) -> np.ndarray:
        ident = f"shapes-v{catalog.WORLD_VERSION}-pool-seed{seed}-n{size}-px{catalog.IMAGE_SIZE}"
        path = (
            Path(cache_dir) / f"{ident}-{hashlib.sha256(ident.encode()).hexdigest()[:8]}.npy"
            if cache_dir
            else None
        )
        if path is not None and path.is_file():
            arr = np.load(path, mmap_mode=None)
            if arr.shape == (size, catalog.IMAGE_SIZE, catalog.IMAGE_SIZE, 3):
                return arr
            log.warning("scene pool %s has shape %s: re-rendering", path, arr.shape)
        arr = np.empty((size, catalog.IMAGE_SIZE, catalog.IMAGE_SIZE, 3), np.uint8)
        with progress(total=size, desc="render pool", unit="img") as bar:
            for s in range(0, size, 1000):
                arr[s : s + 1000] = render_array(self.scenes[s : s + 1000])
                bar.update(min(1000, size - s))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_file(path, "wb") as f:
                np.save(f, arr)
        return arr

    def __len__(self) -> int:
        return len(self.scenes)


def _hard_pair(scene: Scene, rng: np.random.Generator) -> tuple[Scene, str, str]:
    """A counterfactual of ``scene`` and captions of both that state the changed factor."""
    factor = catalog.FACTORS[rng.integers(len(catalog.FACTORS))]
    other = counterfactual(scene, factor, rng)
    gone, new = changed_objects(scene, other)
    subject = "count" if factor == "count" else factor
    cap_a = describe(scene, caption_mentioning(scene, subject, rng, obj=gone if new else None), rng)
    cap_b = describe(other, caption_mentioning(other, subject, rng, obj=new if gone else None), rng)
    return other, cap_a, cap_b


def training_batch(
    pool: ScenePool, rng: np.random.Generator, batch_size: int, hard_fraction: float = 0.0
) -> tuple[np.ndarray, list[str], list[Scene]]:
    """(B, H, W, 3) uint8 images, B captions and the B scenes. ``hard_fraction`` of the batch
    are counterfactual pairs (rendered on the fly; they may leave the train split, as negatives
    for training only)."""
    n_hard = int(round(batch_size * hard_fraction / 2))
    idx = rng.choice(len(pool), size=batch_size - n_hard, replace=False)
    scenes = [pool.scenes[i] for i in idx]
    texts = [random_caption(s, rng) for s in scenes]
    extra_scenes = []
    for k in range(n_hard):
        other, cap_a, cap_b = _hard_pair(scenes[k], rng)
        texts[k] = cap_a
        extra_scenes.append(other)
        texts.append(cap_b)
    images = pool.images[idx]
    if extra_scenes:
        images = np.concatenate([images, render_array(extra_scenes)])
    return images, texts, scenes + extra_scenes


__all__ = ["ScenePool", "render", "training_batch"]
