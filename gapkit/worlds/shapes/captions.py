"""Partial captions, as COCO's are: each mentions one or two objects and a few of their factors,
and at most one scene factor, in one of several phrasings.

A caption is two steps: a ``Mention`` (which objects, which of their factors, which scene
factor: the content) and its wording (template and synonyms: text-only variation that no image
determines). Every mentioned object is named by its shape, as every COCO caption names its
objects. ``coverage`` measures the share of a scene's factors that a mention states.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .catalog import OBJECT_FACTOR_NAMES, SCENE_FACTOR_NAMES, V2, Catalog, cdf
from .scene import Obj, Scene, weighted_index

# The grammar below (phrases, templates, how much a caption says) is every version's; the names of
# shapes, and the values of every factor, are the scene's catalog's.
SHAPE_WORDS = V2.shape_words  # world v2's, for readers without a scene at hand
SIZE_WORDS = {"small": ("small", "little"), "large": ("large", "big")}
FILL_WORDS = {"solid": ("solid", "filled"), "hollow": ("hollow", "outlined")}
POSITION_PHRASES = {
    "top left": ("in the top left", "at the top left", "in the top left corner"),
    "top": ("at the top", "in the top middle"),
    "top right": ("in the top right", "at the top right", "in the top right corner"),
    "left": ("on the left", "at the left side"),
    "centre": ("in the centre", "in the middle", "at the center"),
    "right": ("on the right", "at the right side"),
    "bottom left": ("in the bottom left", "at the bottom left", "in the bottom left corner"),
    "bottom": ("at the bottom", "in the bottom middle"),
    "bottom right": ("in the bottom right", "at the bottom right", "in the bottom right corner"),
}
COUNT_WORDS = {0: "no", 1: "one", 2: "two", 3: "three", 4: "four"}
# Phrasings of any background colour, and one phrase table per other scene factor: value ->
# phrasings ("{}" is the value's word).
BACKGROUND_PHRASES = ("on a {} background", "against a {} background")
SCENE_PHRASES = {
    "texture": {
        "plain": ("on a plain background", "on an unpatterned background"),
        "striped": ("on a striped background", "with stripes behind"),
        "checked": ("on a checked background", "on a checkered background"),
        "dotted": ("on a dotted background", "on a polka dot background"),
    },
    "lighting": {
        "even": ("evenly lit", "in even light"),
        **{v: ("lit from the " + v, "with light from the " + v) for v in ("left", "right", "top", "bottom")},
    },
    "tint": {
        "neutral": ("in neutral light", "with natural colors"),
        "warm": ("with a warm tint", "in warm light"),
        "cool": ("with a cool tint", "in cool light"),
    },
    "border": {
        "none": ("with no border", "without a frame"),
        **{v: ("with a " + v + " border", "in a " + v + " frame") for v in ("white", "black", "gold")},
    },
    "clutter": {
        "clean": ("on a clean background", "with nothing else around"),
        "specks": ("with a few specks", "with some specks around"),
        "cluttered": ("in a cluttered scene", "with lots of specks"),
    },
}
# Text-only variation: the same content in different words ({objs}: object phrases, {scene}: a
# scene phrase with a leading space, or nothing).
TEMPLATES = (
    "{objs}{scene}",
    "there is {objs}{scene}",
    "a picture of {objs}{scene}",
    "this image shows {objs}{scene}",
    "we can see {objs}{scene}",
    "a simple drawing of {objs}{scene}",
    "{objs} can be seen{scene}",
    "a nice picture with {objs}{scene}",
)
COUNT_TEMPLATES = ("{count} shapes , including {objs}", "{count} shapes in total , among them {objs}")

# How much a caption says: 1 or 2 objects, each with 0-3 factors besides its shape, and a scene
# factor (the count included) with probability SCENE_MENTION.
N_OBJECTS_PROBS = (0.55, 0.45)
N_EXTRA_PROBS = (0.15, 0.35, 0.3, 0.2)
_N_OBJECTS_CDF, _N_EXTRA_CDF = cdf(N_OBJECTS_PROBS), cdf(N_EXTRA_PROBS)
SCENE_MENTION = 0.6
EXTRA_FACTORS = ("colour", "size", "fill", "position")
CAPTION_SCENE_FACTORS = (*SCENE_FACTOR_NAMES, "count")

# Stylistic captioning (CLOSE section 5): the same content in a distinctive voice. Slots:
# {objs} the mentioned object phrases, {obj} the first of them, {pos} its position phrase.
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
        "a happy {shape} smiles {pos}",
        "{objs} , bright and hopeful",
        "a lovely day with {objs}",
    ),
}


@dataclass(frozen=True)
class Mention:
    """What a caption states: objects with the factors named besides their shape, and at most
    one scene factor (a key of SCENE_FACTORS, or "count")."""

    objects: tuple[tuple[Obj, tuple[str, ...]], ...]
    scene_factor: str | None = None

    def n_factors(self) -> int:
        return sum(1 + len(f) for _, f in self.objects) + (self.scene_factor is not None)


def n_scene_factors(scene: Scene) -> int:
    """Everything an image of ``scene`` shows: 5 per object, 6 scene factors and the count."""
    return len(OBJECT_FACTOR_NAMES) * scene.count + len(SCENE_FACTOR_NAMES) + 1


def coverage(scene: Scene, mention: Mention) -> float:
    return mention.n_factors() / n_scene_factors(scene)


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    # Exactly one draw whatever len(options) is (integers(1) draws nothing), so two scenes
    # worded from one seed stay in step even when one has fewer synonyms.
    return options[int(rng.random() * len(options))]


def sample_mention(scene: Scene, rng: np.random.Generator) -> Mention:
    k = min(scene.count, 1 + weighted_index(rng, _N_OBJECTS_CDF))
    objects = []
    for i in sorted(rng.choice(scene.count, size=k, replace=False)):
        n_extra = weighted_index(rng, _N_EXTRA_CDF)
        extra = tuple(
            EXTRA_FACTORS[j] for j in sorted(rng.choice(len(EXTRA_FACTORS), n_extra, replace=False))
        )
        objects.append((scene.objects[i], extra))
    factor = _pick(rng, CAPTION_SCENE_FACTORS) if rng.random() < SCENE_MENTION else None
    return Mention(tuple(objects), factor)


def shape_word(catalog: Catalog, shape: str, rng: np.random.Generator) -> str:
    """One of the names world ``catalog`` gives ``shape``."""
    return _pick(rng, catalog.shape_words[shape])


def object_phrase(
    obj: Obj, factors: tuple[str, ...], rng: np.random.Generator, catalog: Catalog, article: str = "a"
) -> str:
    """E.g. "a small hollow red circle in the top left" for factors (colour, size, fill, position);
    the shape named as world ``catalog`` names it."""
    words = []
    if "size" in factors:
        words.append(_pick(rng, SIZE_WORDS[obj.size]))
    if "fill" in factors:
        words.append(_pick(rng, FILL_WORDS[obj.fill]))
    if "colour" in factors:
        words.append(obj.colour)
    words.append(shape_word(catalog, obj.shape, rng))
    if article:  # "an orange circle"
        words.insert(0, "an" if article == "a" and words[0][0] in "aeiou" else article)
    if "position" in factors:
        words.append(_pick(rng, POSITION_PHRASES[obj.position]))
    return " ".join(words)


def scene_phrase(scene: Scene, factor: str, rng: np.random.Generator) -> str:
    value = getattr(scene, factor)
    options = BACKGROUND_PHRASES if factor == "background" else SCENE_PHRASES[factor][value]
    return _pick(rng, options).format(value)


def _join(phrases: list[str]) -> str:
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


def describe(scene: Scene, mention: Mention, rng: np.random.Generator) -> str:
    """The words of ``mention``: a template and synonyms drawn from ``rng``."""
    objs = _join([object_phrase(o, f, rng, scene.catalog) for o, f in mention.objects])
    if mention.scene_factor == "count":
        return _pick(rng, COUNT_TEMPLATES).format(count=COUNT_WORDS[scene.count], objs=objs)
    scene_words = f" {scene_phrase(scene, mention.scene_factor, rng)}" if mention.scene_factor else ""
    return _pick(rng, TEMPLATES).format(objs=objs, scene=scene_words)


def random_caption(scene: Scene, rng: np.random.Generator) -> str:
    """One partial caption (for streaming contrastive training)."""
    return describe(scene, sample_mention(scene, rng), rng)


def reference_captions(scene: Scene, rng: np.random.Generator, n: int = 5) -> list[tuple[Mention, str]]:
    """``n`` distinct partial captions with their mentions, as COCO gives 5 per image."""
    caps: list[tuple[Mention, str]] = []
    for _ in range(50 * n):
        m = sample_mention(scene, rng)
        text = describe(scene, m, rng)
        if all(text != t for _, t in caps):
            caps.append((m, text))
        if len(caps) == n:
            break
    return caps


def caption_mentioning(
    scene: Scene, factor: str, rng: np.random.Generator, obj: Obj | None = None
) -> Mention:
    """A random mention that also states ``factor`` (of ``obj`` for an object factor)."""
    m = sample_mention(scene, rng)
    if factor in CAPTION_SCENE_FACTORS:
        return replace(m, scene_factor=factor)
    obj = obj or scene.objects[rng.integers(scene.count)]
    others = [(o, f) for o, f in m.objects if o is not obj][:1]
    named = next((f for o, f in m.objects if o is obj), ())
    extra = tuple(sorted(set(named) | ({factor} - {"shape"}), key=EXTRA_FACTORS.index))
    return replace(m, objects=tuple(sorted([(obj, extra), *others], key=lambda t: scene.objects.index(t[0]))))


def styled_caption(scene: Scene, style: str, rng: np.random.Generator) -> str:
    """A caption of ``scene`` in one of STYLES (its content a random mention)."""
    if style not in STYLES:
        raise ValueError(f"unknown caption style {style!r}; known: {', '.join(STYLES)}")
    m = sample_mention(scene, rng)
    obj, factors = m.objects[0]
    slots = {
        "objs": _join([object_phrase(o, f, rng, scene.catalog) for o, f in m.objects]),
        "obj": object_phrase(obj, tuple(f for f in factors if f != "position"), rng, scene.catalog),
        "pos": _pick(rng, POSITION_PHRASES[obj.position]),
        "shape": shape_word(scene.catalog, obj.shape, rng),
    }
    return _pick(rng, STYLES[style]).format(**slots)
