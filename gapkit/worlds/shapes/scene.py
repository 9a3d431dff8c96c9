"""Scenes: sampling, canonical keys, split assignment and one-attribute counterfactuals.

A scene is 1-3 objects at distinct anchor positions on a background. Its *key* is the discrete
content (what a caption can say); the jitter fields are nuisance variation that only the image
shows. Splits are assigned by hashing the key, so two splits never share a scene.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

import numpy as np

from . import spec


@dataclass(frozen=True)
class Obj:
    shape: str
    colour: str
    size: str
    position: str
    # Nuisance variation: offset (dx, dy) in image fractions, rotation in degrees, radius scale,
    # and an RGB offset.
    dx: float = 0.0
    dy: float = 0.0
    rotation: float = 0.0
    scale: float = 1.0
    rgb_jitter: tuple[int, int, int] = (0, 0, 0)

    def key(self) -> tuple[str, str, str, str]:
        return (self.position, self.shape, self.colour, self.size)

    def describe(self) -> str:
        return f"{self.size} {self.colour} {self.shape} ({self.position})"


@dataclass(frozen=True)
class Scene:
    objects: tuple[Obj, ...]  # sorted by position index, so equal keys compare equal
    background: str
    bg_jitter: tuple[int, int, int] = (0, 0, 0)

    @property
    def count(self) -> int:
        return len(self.objects)

    def key(self) -> str:
        objs = ";".join(",".join(o.key()) for o in self.objects)
        return f"{self.background}|{objs}"

    def object_at(self, position: str) -> Obj | None:
        return next((o for o in self.objects if o.position == position), None)


def split_of(key: str) -> str:
    """The split a scene key belongs to: a fixed hash of the key, independent of any seed."""
    digest = hashlib.sha256(f"shapes-v{spec.WORLD_VERSION}:{key}".encode()).digest()
    u = int.from_bytes(digest[:8], "little") / 2**64
    acc = 0.0
    for name, share in spec.SPLIT_SHARES.items():
        acc += share
        if u < acc:
            return name
    return name  # u == 1.0 up to rounding


def _sample_object(rng: np.random.Generator, position: str) -> Obj:
    return Obj(
        shape=spec.SHAPES[rng.integers(len(spec.SHAPES))],
        colour=spec.COLOURS[rng.integers(len(spec.COLOURS))],
        size=spec.SIZES[rng.integers(len(spec.SIZES))],
        position=position,
        dx=float(rng.uniform(-spec.JITTER_POS, spec.JITTER_POS)),
        dy=float(rng.uniform(-spec.JITTER_POS, spec.JITTER_POS)),
        rotation=float(rng.uniform(-spec.JITTER_ROT, spec.JITTER_ROT)),
        scale=float(rng.uniform(*spec.JITTER_SCALE)),
        rgb_jitter=tuple(int(v) for v in rng.integers(-spec.JITTER_RGB, spec.JITTER_RGB + 1, 3)),
    )


def sample_scene(rng: np.random.Generator, count: int | None = None) -> Scene:
    """One random scene; ``count`` fixes the number of objects (else drawn from COUNT_PROBS)."""
    if count is None:
        count = int(rng.choice(spec.COUNTS, p=spec.COUNT_PROBS))
    idx = np.sort(rng.choice(len(spec.POSITIONS), size=count, replace=False))
    objects = tuple(_sample_object(rng, spec.POSITIONS[i]) for i in idx)
    background = spec.BACKGROUNDS[rng.integers(len(spec.BACKGROUNDS))]
    bg_jitter = tuple(int(v) for v in rng.integers(-spec.JITTER_RGB, spec.JITTER_RGB + 1, 3))
    return Scene(objects=objects, background=background, bg_jitter=bg_jitter)


def sample_in_split(rng: np.random.Generator, split: str, count: int | None = None) -> Scene:
    """Rejection-sample a scene whose key belongs to ``split``."""
    if split not in spec.SPLIT_SHARES:
        raise ValueError(f"unknown split {split!r}; known: {', '.join(spec.SPLIT_SHARES)}")
    while True:
        scene = sample_scene(rng, count)
        if split_of(scene.key()) == split:
            return scene


# --- counterfactual minimal pairs: the same scene with exactly one attribute changed ---------

def _replace_object(scene: Scene, i: int, **changes) -> Scene:
    objs = list(scene.objects)
    objs[i] = dataclasses.replace(objs[i], **changes)
    order = {p: k for k, p in enumerate(spec.POSITIONS)}
    return dataclasses.replace(scene, objects=tuple(sorted(objs, key=lambda o: order[o.position])))


def _other(rng: np.random.Generator, values: tuple[str, ...], current: str) -> str:
    choices = [v for v in values if v != current]
    return choices[rng.integers(len(choices))]


def counterfactual(scene: Scene, attribute: str, rng: np.random.Generator) -> Scene:
    """``scene`` with exactly one attribute changed: shape, colour or size of one object, the
    position of one object (to a free anchor), or the count (one object added or removed).
    Nuisance jitter of untouched objects is kept, so the images differ only in that attribute."""
    i = int(rng.integers(scene.count))
    obj = scene.objects[i]
    if attribute in ("shape", "colour", "size"):
        values = {"shape": spec.SHAPES, "colour": spec.COLOURS, "size": spec.SIZES}[attribute]
        return _replace_object(scene, i, **{attribute: _other(rng, values, getattr(obj, attribute))})
    if attribute == "position":
        free = [p for p in spec.POSITIONS if scene.object_at(p) is None]
        if not free:
            raise ValueError("no free position to move an object to")
        return _replace_object(scene, i, position=free[rng.integers(len(free))])
    if attribute == "count":
        free = [p for p in spec.POSITIONS if scene.object_at(p) is None]
        if scene.count < max(spec.COUNTS) and free:
            new = _sample_object(rng, free[rng.integers(len(free))])
            order = {p: k for k, p in enumerate(spec.POSITIONS)}
            objs = sorted((*scene.objects, new), key=lambda o: order[o.position])
            return dataclasses.replace(scene, objects=tuple(objs))
        objs = scene.objects[:i] + scene.objects[i + 1 :]
        return dataclasses.replace(scene, objects=objs)
    raise ValueError(f"unknown attribute {attribute!r}; known: {', '.join(ATTRIBUTES)}")


ATTRIBUTES = ("shape", "colour", "size", "position", "count")


def describe_change(a: Scene, b: Scene, attribute: str) -> str:
    """The specific change between a scene and its counterfactual, e.g. "red->blue" (the unit in
    which CLOSE's dog -> cat case study measures direction consistency)."""
    if attribute == "count":
        return f"{a.count}->{b.count}"
    if attribute == "position":
        gone = [o for o in a.objects if o not in b.objects]
        new = [o for o in b.objects if o not in a.objects]
        return f"{gone[0].position}->{new[0].position}"
    before = [getattr(o, attribute) for o in a.objects]
    after = [getattr(o, attribute) for o in b.objects]
    diff = [(x, y) for x, y in zip(before, after) if x != y]
    return f"{diff[0][0]}->{diff[0][1]}" if diff else "none"
