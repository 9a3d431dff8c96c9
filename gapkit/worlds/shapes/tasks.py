"""VQA items (VQA v2 style, 10 answers) and visual-entailment items (SNLI-VE style) for a scene.

VE labels follow presupposition logic, so all three classes share one vocabulary: a hypothesis
"the <description> is <predicate>" is entailment if every object matching the description has
the predicate, contradiction if none does, and neutral if some do and some do not (the image
cannot settle which object "the" refers to). The hypothesis text alone cannot give the label.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from . import spec
from .captions import COUNT_WORDS, POSITION_PHRASES, SHAPE_WORDS, SIZE_WORDS, _pick
from .scene import Obj, Scene

# Words annotators use interchangeably for an answer; the first is the canonical answer.
ANSWER_SYNONYMS = {
    "centre": ("centre", "middle", "center"),
    "large": ("big", "large"),
    "small": ("small", "little"),
}


@dataclass(frozen=True)
class VqaItem:
    question: str
    answers: tuple[str, ...]  # 10 human-style answers
    answer_type: str  # "yes/no" | "number" | "other"
    question_type: str


def _answers(answer: str, rng: np.random.Generator) -> tuple[str, ...]:
    """Ten answers: mostly the canonical word, a few annotators using a synonym."""
    syn = ANSWER_SYNONYMS.get(answer, (answer,))
    canonical = syn[0]
    out = [canonical if rng.random() < 0.8 else _pick(rng, syn) for _ in range(10)]
    return tuple(out)


def _where(obj: Obj) -> str:
    return "center" if obj.position == "centre" else obj.position


def _q_colour(scene, rng):
    o = scene.objects[rng.integers(scene.count)]
    q = f"what color is the {_pick(rng, SHAPE_WORDS[o.shape])} {_pick(rng, POSITION_PHRASES[o.position])} ?"
    return VqaItem(q, _answers(o.colour, rng), "other", "what color is the")


def _q_shape(scene, rng):
    o = scene.objects[rng.integers(scene.count)]
    q = f"what shape is {_pick(rng, POSITION_PHRASES[o.position])} ?"
    return VqaItem(q, _answers(o.shape, rng), "other", "what shape is")


def _q_size(scene, rng):
    o = scene.objects[rng.integers(scene.count)]
    q = f"is the {o.colour} {_pick(rng, SHAPE_WORDS[o.shape])} big or small ?"
    if sum(1 for p in scene.objects if (p.colour, p.shape) == (o.colour, o.shape)) > 1:
        q = f"is the {_pick(rng, SHAPE_WORDS[o.shape])} {_pick(rng, POSITION_PHRASES[o.position])} big or small ?"
    return VqaItem(q, _answers(o.size, rng), "other", "is the")


def _q_count(scene, rng):
    if rng.random() < 0.5:
        return VqaItem("how many shapes are there ?", _answers(str(scene.count), rng), "number", "how many")
    colour = spec.COLOURS[rng.integers(len(spec.COLOURS))]
    n = sum(o.colour == colour for o in scene.objects)
    return VqaItem(f"how many {colour} shapes are there ?", _answers(str(n), rng), "number", "how many")


def _q_exists(scene, rng):
    if rng.random() < 0.5:
        o = scene.objects[rng.integers(scene.count)]
        colour, shape = o.colour, o.shape
    else:
        colour = spec.COLOURS[rng.integers(len(spec.COLOURS))]
        shape = spec.SHAPES[rng.integers(len(spec.SHAPES))]
    present = any((o.colour, o.shape) == (colour, shape) for o in scene.objects)
    q = f"is there a {colour} {_pick(rng, SHAPE_WORDS[shape])} ?"
    return VqaItem(q, _answers("yes" if present else "no", rng), "yes/no", "is there a")


def _q_position(scene, rng):
    o = scene.objects[rng.integers(scene.count)]
    same = [p for p in scene.objects if (p.colour, p.shape) == (o.colour, o.shape)]
    if len(same) > 1:  # ambiguous referent: ask about colour instead
        return _q_colour(scene, rng)
    q = f"where is the {o.colour} {_pick(rng, SHAPE_WORDS[o.shape])} ?"
    return VqaItem(q, _answers(o.position, rng), "other", "where is the")


VQA_GENERATORS = (_q_colour, _q_shape, _q_size, _q_count, _q_exists, _q_position)


def vqa_items(scene: Scene, rng: np.random.Generator, n: int = 3) -> list[VqaItem]:
    """``n`` questions of different types about ``scene``."""
    kinds = rng.choice(len(VQA_GENERATORS), size=n, replace=False)
    return [VQA_GENERATORS[k](scene, rng) for k in kinds]


# --- visual entailment ----------------------------------------------------------------------

VE_LABELS = ("entailment", "neutral", "contradiction")


@dataclass(frozen=True)
class VeItem:
    hypothesis: str
    label: str


# A description or predicate is (attribute, value); attribute "" means "shape" (any object).
_DESCRIPTIONS = [("", "")] + [("shape", v) for v in spec.SHAPES] + \
    [("colour", v) for v in spec.COLOURS] + [("size", v) for v in spec.SIZES]
_PREDICATES = [("colour", v) for v in spec.COLOURS] + [("shape", v) for v in spec.SHAPES] + \
    [("size", v) for v in spec.SIZES] + [("position", v) for v in spec.POSITIONS]


_PREDICATE_ATTRS = ("colour", "shape", "size", "position")


def _has(obj: Obj, attr: str, value: str) -> bool:
    return attr == "" or getattr(obj, attr) == value


def _description_text(attr: str, value: str, rng) -> str:
    if attr == "shape":
        return _pick(rng, SHAPE_WORDS[value])
    if attr == "size":
        return f"{_pick(rng, SIZE_WORDS[value])} shape"
    return f"{value} shape" if attr == "colour" else "shape"


def _predicate_text(attr: str, value: str, rng) -> str:
    table = {"shape": lambda: f"a {_pick(rng, SHAPE_WORDS[value])}",
             "size": lambda: _pick(rng, SIZE_WORDS[value]),
             "position": lambda: _pick(rng, POSITION_PHRASES[value]),
             "colour": lambda: value}
    return table[attr]()


def _label(hits: int, n: int) -> str:
    if hits == n:
        return "entailment"
    return "contradiction" if hits == 0 else "neutral"


def ve_items(scene: Scene, rng: np.random.Generator, n: int = 3) -> list[VeItem]:
    """``n`` hypotheses about ``scene``, aiming for one per label (a single-object scene has no
    neutral; a contradiction stands in)."""
    buckets: dict[str, list[tuple]] = {lab: [] for lab in VE_LABELS}
    for d_attr, d_val in _DESCRIPTIONS:
        referents = [o for o in scene.objects if _has(o, d_attr, d_val)]
        if not referents:
            continue  # presupposition failure: not a well-formed item
        # How many referents have each (attribute, value): one pass instead of one per predicate.
        counts = Counter((a, getattr(o, a)) for o in referents for a in _PREDICATE_ATTRS)
        for p_attr, p_val in _PREDICATES:
            if p_attr != d_attr:  # "the red shape is red" is trivial
                label = _label(counts[(p_attr, p_val)], len(referents))
                buckets[label].append((d_attr, d_val, p_attr, p_val))
    k = int(rng.integers(1, 4))
    buckets["entailment" if k == scene.count else "contradiction"].append(("count", k))
    items = []
    for label in rng.permutation(VE_LABELS)[:n]:
        label = str(label) if buckets[label] else "contradiction"
        choice = buckets[label][rng.integers(len(buckets[label]))]
        items.append(VeItem(_hypothesis_text(choice, rng), label))
    return items


def _hypothesis_text(choice: tuple, rng) -> str:
    if choice[0] == "count":
        k = choice[1]
        return f"there are {COUNT_WORDS[k]} shapes" if k > 1 else "there is one shape"
    d_attr, d_val, p_attr, p_val = choice
    return f"the {_description_text(d_attr, d_val, rng)} is {_predicate_text(p_attr, p_val, rng)}"
