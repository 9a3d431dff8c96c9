"""Generate a versioned shapes world: scenes per split with captions, styles, VQA and VE items.

Deterministic from (seed, sizes). Scene keys are unique within a split and, by the key-hash
split assignment, never shared between splits. Image ids are global (unique across splits).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import spec
from .captions import STYLES, reference_captions, styled_caption
from .scene import ATTRIBUTES, Scene, counterfactual, describe_change, sample_in_split
from .tasks import VeItem, VqaItem, ve_items, vqa_items

DEFAULT_SIZES = {"train": 10000, "restval": 2000, "val": 1000, "test": 1000}
SPLIT_ORDER = ("train", "restval", "val", "test")


@dataclass
class SceneRecord:
    image_id: int
    split: str
    scene: Scene
    captions: list[str]
    styled: dict[str, str]
    vqa: list[VqaItem]
    ve: list[VeItem]


@dataclass
class MinimalPair:
    attribute: str
    change: str  # e.g. "red->blue"
    scene_a: Scene
    scene_b: Scene
    caption_a: str
    caption_b: str


@dataclass
class ShapesWorld:
    seed: int = 0
    sizes: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_SIZES))
    n_minimal_pairs: int = 200  # per attribute, built from test scenes
    records: list[SceneRecord] = field(default_factory=list)
    minimal_pairs: list[MinimalPair] = field(default_factory=list)

    @property
    def version(self) -> str:
        return spec.WORLD_VERSION

    def identity(self) -> dict:
        return {"world": "shapes", "version": self.version, "seed": self.seed,
                "sizes": {k: self.sizes[k] for k in SPLIT_ORDER if k in self.sizes},
                "minimal_pairs": self.n_minimal_pairs}

    def split(self, name: str) -> list[SceneRecord]:
        return [r for r in self.records if r.split == name]

    def generate(self) -> ShapesWorld:
        self.records, next_id = [], 0
        for k, split in enumerate(SPLIT_ORDER):
            rng = np.random.default_rng([self.seed, k])
            seen: set[str] = set()
            for i in range(self.sizes.get(split, 0)):
                scene = sample_in_split(rng, split)
                while scene.key() in seen:
                    scene = sample_in_split(rng, split)
                seen.add(scene.key())
                self.records.append(self._record(next_id, split, scene, k, i))
                next_id += 1
        self.minimal_pairs = self._minimal_pairs()
        return self

    def _record(self, image_id: int, split: str, scene: Scene, k: int, i: int) -> SceneRecord:
        # Language comes from its own generator, so texts do not depend on rejection counts.
        rng = np.random.default_rng([self.seed, k, i, 1])
        return SceneRecord(
            image_id=image_id, split=split, scene=scene,
            captions=reference_captions(scene, rng, 5),
            styled={s: styled_caption(scene, s, rng) for s in STYLES},
            vqa=vqa_items(scene, rng, 3), ve=ve_items(scene, rng, 3),
        )

    def _minimal_pairs(self) -> list[MinimalPair]:
        from .captions import _full

        rng = np.random.default_rng([self.seed, 99])
        test = self.split("test")
        pairs = []
        for attr in ATTRIBUTES:
            done = 0
            while done < self.n_minimal_pairs and test:
                a = test[rng.integers(len(test))].scene
                try:
                    b = counterfactual(a, attr, rng)
                except ValueError:
                    continue
                # One caption template and one synonym choice for both, so the texts differ
                # only in the changed attribute's words.
                seed = rng.integers(2**31)
                cap_a = _full(a, np.random.default_rng(seed))
                cap_b = _full(b, np.random.default_rng(seed))
                pairs.append(MinimalPair(attr, describe_change(a, b, attr), a, b, cap_a, cap_b))
                done += 1
        return pairs
