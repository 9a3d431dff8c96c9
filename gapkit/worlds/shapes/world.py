"""Generate a versioned shapes world: scenes per split with captions, styles, VQA and VE items.

Deterministic from (catalog, seed, sizes): the catalog is the world version. Scene keys are unique
within a split and, by the key-hash split assignment, never shared between splits. Image ids are
global (unique across splits).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...streams import stream
from .captions import STYLES, Mention, caption_mentioning, describe, reference_captions, styled_caption
from .catalog import V2, Catalog
from .items import VeItem, VqaItem, ve_items, vqa_items
from .scene import Obj, Scene, counterfactual, describe_change, sample_in_split

DEFAULT_SIZES = {"train": 10000, "restval": 2000, "val": 1000, "test": 1000}
SPLIT_ORDER = ("train", "restval", "val", "test")


@dataclass
class SceneRecord:
    image_id: int
    split: str
    scene: Scene
    captions: list[str]
    mentions: list[Mention]  # what each caption states (captions[0] is the VE premise)
    styled: dict[str, str]
    vqa: list[VqaItem]
    vqa_explanations: list[str]  # VQA-E: a caption that states what each question asks about
    ve: list[VeItem]


@dataclass
class MinimalPair:
    attribute: str  # the factor that changes
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
    catalog: Catalog = field(default=V2, repr=False)  # the world version: its factors, words, colours
    records: list[SceneRecord] = field(default_factory=list)
    minimal_pairs: list[MinimalPair] = field(default_factory=list)

    @property
    def version(self) -> str:
        return self.catalog.version

    def identity(self) -> dict:
        return {
            "world": "shapes",
            "version": self.version,
            "seed": self.seed,
            "sizes": {k: self.sizes[k] for k in SPLIT_ORDER if k in self.sizes},
            "minimal_pairs": self.n_minimal_pairs,
        }

    def split(self, name: str) -> list[SceneRecord]:
        return [r for r in self.records if r.split == name]

    def generate(self) -> ShapesWorld:
        self.records, next_id = [], 0
        for k, split in enumerate(SPLIT_ORDER):
            rng = stream(self.seed, "world-split", offset=k)
            seen: set[str] = set()
            for i in range(self.sizes.get(split, 0)):
                scene = sample_in_split(rng, split, catalog=self.catalog)
                while scene.key() in seen:
                    scene = sample_in_split(rng, split, catalog=self.catalog)
                seen.add(scene.key())
                self.records.append(self._record(next_id, split, scene, k, i))
                next_id += 1
        self.minimal_pairs = self._minimal_pairs()
        return self

    def _record(self, image_id: int, split: str, scene: Scene, k: int, i: int) -> SceneRecord:
        # Language comes from its own generator, so texts do not depend on rejection counts.
        rng = stream(self.seed, "world-scene-items", i, 1, offset=k)
        refs = reference_captions(scene, rng, 5)
        vqa = vqa_items(scene, rng, 3)
        explanations = [
            describe(scene, caption_mentioning(scene, q.factor, rng, obj=q.obj), rng) for q in vqa
        ]
        return SceneRecord(
            image_id=image_id,
            split=split,
            scene=scene,
            captions=[t for _, t in refs],
            mentions=[m for m, _ in refs],
            styled={s: styled_caption(scene, s, rng) for s in STYLES},
            vqa=vqa,
            vqa_explanations=explanations,
            ve=ve_items(scene, refs[0][0], rng),
        )

    def _minimal_pairs(self) -> list[MinimalPair]:
        rng = stream(self.seed, "world-minimal-pairs")
        test = self.split("test")
        pairs = []
        for factor in self.catalog.factors:
            for _ in range(self.n_minimal_pairs if test else 0):
                a = test[rng.integers(len(test))].scene
                b = counterfactual(a, factor, rng)
                pairs.append(minimal_pair(a, b, factor, int(rng.integers(2**31))))
        return pairs


def changed_objects(a: Scene, b: Scene) -> tuple[Obj | None, Obj | None]:
    """The object of ``a`` that ``b`` lacks and the one ``b`` has instead (None for scene
    factors; one of them None when the count changes)."""
    gone = [o for o in a.objects if o not in b.objects]
    new = [o for o in b.objects if o not in a.objects]
    return (gone[0] if gone else None), (new[0] if new else None)


def minimal_pair(a: Scene, b: Scene, factor: str, seed: int) -> MinimalPair:
    """Captions of ``a`` and ``b`` that state ``factor``, worded alike (one mention, one synonym
    stream), so the texts differ only in the changed factor's words."""
    rng = np.random.default_rng(seed)
    gone, new = changed_objects(a, b)
    if factor == "count":  # mention only objects both scenes have
        m_a = m_b = caption_mentioning(a if a.count < b.count else b, "count", rng)
    elif gone is not None:  # an object factor: the same statement about the changed object
        m_a = caption_mentioning(a, factor, rng, obj=gone)
        m_b = Mention(tuple((new if o is gone else o, f) for o, f in m_a.objects), m_a.scene_factor)
    else:
        m_a = m_b = caption_mentioning(a, factor, rng)
    cap_a = describe(a, m_a, np.random.default_rng(seed + 1))
    cap_b = describe(b, m_b, np.random.default_rng(seed + 1))
    return MinimalPair(factor, describe_change(a, b, factor), a, b, cap_a, cap_b)
