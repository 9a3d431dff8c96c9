"""Reference captions and stylistic captions for a scene.

Every caption names the shape of each object it mentions (a caption that could skip shape would
let the contrastive loss ignore it). Synonyms and several templates give each scene >= 5
different references, as COCO gives 5.
"""

from __future__ import annotations

import numpy as np

from .scene import Obj, Scene

SHAPE_WORDS = {
    "circle": ("circle", "disc"),
    "square": ("square", "block"),
    "triangle": ("triangle",),
    "star": ("star",),
    "cross": ("cross", "plus"),
}
SIZE_WORDS = {"small": ("small", "little"), "large": ("large", "big")}
POSITION_PHRASES = {
    "top left": ("in the top left", "at the top left", "in the top left corner"),
    "top right": ("in the top right", "at the top right", "in the top right corner"),
    "bottom left": ("in the bottom left", "at the bottom left", "in the bottom left corner"),
    "bottom right": ("in the bottom right", "at the bottom right", "in the bottom right corner"),
    "centre": ("in the centre", "in the middle", "at the center"),
}
BACKGROUND_PHRASES = ("on a {} background", "against a {} background")
COUNT_WORDS = {0: "no", 1: "one", 2: "two", 3: "three"}

# Stylistic captioning (CLOSE section 5): the same content in a distinctive voice. Slots:
# {objs} a list of object phrases, {obj} the first object, {pos} its position phrase.
STYLES = {
    "first-person": (
        "i see {objs}",
        "i am looking at {objs}",
        "we found {obj} {pos}",
        "my picture shows {objs}",
        "i drew {objs} today",
    ),
    "review": (
        "five stars ! {objs} , love it",
        "great print with {objs} , would buy again",
        "the {shape} looks amazing {pos} , highly recommend",
        "nice colors : {objs} , worth the price",
        "i bought this and {obj} {pos} is perfect",
    ),
    "uplifting": (
        "a beautiful {shape} shines {pos}",
        "{objs} , full of joy",
        "a happy {colour} {shape} smiles {pos}",
        "{objs} , bright and hopeful",
        "a lovely day with {objs}",
    ),
}


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[rng.integers(len(options))]


def object_phrase(obj: Obj, rng: np.random.Generator, *, size: bool = True,
                  colour: bool = True, position: bool = False, article: str = "a") -> str:
    words = []
    if size:
        words.append(_pick(rng, SIZE_WORDS[obj.size]))
    if colour:
        words.append(obj.colour)
    words.append(_pick(rng, SHAPE_WORDS[obj.shape]))
    if article:  # "an orange circle"
        words.insert(0, "an" if article == "a" and words[0][0] in "aeiou" else article)
    if position:
        words.append(_pick(rng, POSITION_PHRASES[obj.position]))
    return " ".join(words)


def _join(phrases: list[str]) -> str:
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


def _background(scene: Scene, rng: np.random.Generator) -> str:
    return _pick(rng, BACKGROUND_PHRASES).format(scene.background)


def _shuffled(scene: Scene, rng: np.random.Generator) -> list[Obj]:
    return [scene.objects[i] for i in rng.permutation(scene.count)]


def _full(scene, rng):
    objs = _join([object_phrase(o, rng, position=True) for o in scene.objects])
    return f"{objs} {_background(scene, rng)}"


def _there_is(scene, rng):
    objs = _join([object_phrase(o, rng, position=True) for o in _shuffled(scene, rng)])
    return f"there is {objs}"


def _counted(scene, rng):
    noun = "shape" if scene.count == 1 else "shapes"
    objs = _join([object_phrase(o, rng, size=False) for o in _shuffled(scene, rng)])
    return f"{COUNT_WORDS[scene.count]} {noun} {_background(scene, rng)} : {objs}"


def _partial(scene, rng):
    obj = scene.objects[rng.integers(scene.count)]
    return object_phrase(obj, rng, size=bool(rng.integers(2)), position=True)


def _listing(scene, rng):
    return _join([object_phrase(o, rng, size=False) for o in _shuffled(scene, rng)])


def _located(scene, rng):
    obj = scene.objects[rng.integers(scene.count)]
    where = _pick(rng, POSITION_PHRASES[obj.position]).split(" ", 1)[1]  # "the top left"
    return f"{where} has {object_phrase(obj, rng)}"


CAPTION_TEMPLATES = (_full, _there_is, _counted, _partial, _listing, _located)


def reference_captions(scene: Scene, rng: np.random.Generator, n: int = 5) -> list[str]:
    """``n`` distinct reference captions (the first is always a full description)."""
    caps = [_full(scene, rng)]
    order = rng.permutation(len(CAPTION_TEMPLATES) - 1) + 1
    k = 0
    while len(caps) < n:
        cap = CAPTION_TEMPLATES[order[k % len(order)]](scene, rng)
        k += 1
        if cap not in caps or k > 50:
            caps.append(cap)
    return caps


def random_caption(scene: Scene, rng: np.random.Generator) -> str:
    """One caption from a random template (for streaming contrastive training)."""
    return CAPTION_TEMPLATES[rng.integers(len(CAPTION_TEMPLATES))](scene, rng)


def styled_caption(scene: Scene, style: str, rng: np.random.Generator) -> str:
    """A caption of ``scene`` in one of STYLES."""
    if style not in STYLES:
        raise ValueError(f"unknown caption style {style!r}; known: {', '.join(STYLES)}")
    obj = scene.objects[rng.integers(scene.count)]
    slots = {
        "objs": _join([object_phrase(o, rng, size=False) for o in scene.objects]),
        "obj": object_phrase(obj, rng),
        "pos": _pick(rng, POSITION_PHRASES[obj.position]),
        "shape": _pick(rng, SHAPE_WORDS[obj.shape]),
        "colour": obj.colour,
    }
    return _pick(rng, STYLES[style]).format(**slots)
