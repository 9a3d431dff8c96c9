"""VQA items (VQA v2 style, 10 answers) and visual-entailment items (SNLI-VE style) for a scene.

VE labels follow presupposition logic, so all three classes share one vocabulary: a hypothesis
"the <description> is <predicate>" is entailment if every object matching the description has
the predicate, contradiction if none does, and neutral if some do and some do not (the image
cannot settle which object "the" refers to). The hypothesis text alone cannot give the label.
"""

from __future__ import annotations

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


def _descriptions(rng) -> list[tuple[str, str, callable]]:
    """(noun phrase, attribute, matcher): which objects "the <phrase>" can refer to."""
    out = [("shape", "", lambda o: True)]
    for s in spec.SHAPES:
        out.append((_pick(rng, SHAPE_WORDS[s]), "shape", lambda o, s=s: o.shape == s))
    for c in spec.COLOURS:
        out.append((f"{c} shape", "colour", lambda o, c=c: o.colour == c))
    for z in spec.SIZES:
        out.append((f"{_pick(rng, SIZE_WORDS[z])} shape", "size", lambda o, z=z: o.size == z))
    return out


def _predicates(rng) -> list[tuple[str, str, callable]]:
    """(predicate text, attribute, test)."""
    out = [(c, "colour", lambda o, c=c: o.colour == c) for c in spec.COLOURS]
    out += [(f"a {_pick(rng, SHAPE_WORDS[s])}", "shape", lambda o, s=s: o.shape == s) for s in spec.SHAPES]
    out += [(_pick(rng, SIZE_WORDS[z]), "size", lambda o, z=z: o.size == z) for z in spec.SIZES]
    out += [(_pick(rng, POSITION_PHRASES[p]), "position", lambda o, p=p: o.position == p)
            for p in spec.POSITIONS]
    return out


def _label(referents: list[Obj], predicate) -> str:
    hits = sum(bool(predicate(o)) for o in referents)
    if hits == len(referents):
        return "entailment"
    return "contradiction" if hits == 0 else "neutral"


def ve_items(scene: Scene, rng: np.random.Generator, n: int = 3) -> list[VeItem]:
    """``n`` hypotheses about ``scene``, aiming for one per label (a single-object scene has no
    neutral; a count hypothesis stands in)."""
    buckets: dict[str, list[str]] = {lab: [] for lab in VE_LABELS}
    for phrase, attr, match in _descriptions(rng):
        referents = [o for o in scene.objects if match(o)]
        if not referents:
            continue  # presupposition failure: not a well-formed item
        for pred_text, pred_attr, pred in _predicates(rng):
            if pred_attr == attr:
                continue  # "the red shape is red" is trivial
            buckets[_label(referents, pred)].append(f"the {phrase} is {pred_text}")
    k = int(rng.integers(1, 4))
    claim = COUNT_WORDS[k]
    count_label = "entailment" if k == scene.count else "contradiction"
    buckets[count_label].append(f"there are {claim} shapes" if k > 1 else "there is one shape")
    items = []
    for label in rng.permutation(VE_LABELS)[:n]:
        pool = buckets[label] or buckets["contradiction"]
        label = label if buckets[label] else "contradiction"
        items.append(VeItem(pool[rng.integers(len(pool))], str(label)))
    return items
