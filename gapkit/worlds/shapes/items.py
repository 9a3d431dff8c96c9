"""VQA items (VQA v2 style, 10 answers) and visual-entailment items (SNLI-VE style) for a scene.

VQA asks about any factor, so most answers are in no single caption (as in VQA v2). VE follows
SNLI-VE's construction: the premise is a reference caption and each hypothesis is labelled
*relative to that caption* (entailment: it restates something the caption says; contradiction:
it changes a value the caption states; neutral: it is about something the caption does not
mention, true or false in the image with equal odds). At test time the image replaces the
premise, which is what makes VE a transfer task; every hypothesis form occurs with every label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .captions import COUNT_WORDS, Mention, _pick, shape_word
from .scene import Obj, Scene

# Words annotators use interchangeably for an answer; the first is the canonical answer.
ANSWER_SYNONYMS = {
    "centre": ("centre", "middle", "center"),
    "large": ("big", "large"),
    "small": ("small", "little"),
    "hollow": ("hollow", "outlined"),
    "solid": ("solid", "filled"),
}
VE_LABELS = ("entailment", "neutral", "contradiction")


@dataclass(frozen=True)
class VqaItem:
    question: str
    answers: tuple[str, ...]  # 10 human-style answers
    answer_type: str  # "yes/no" | "number" | "other"
    question_type: str
    factor: str  # the factor asked about (VQA-E explains with a caption that states it)
    obj: Obj | None = None  # the object asked about, for an object factor


def _answers(answer: str, rng: np.random.Generator) -> tuple[str, ...]:
    """Ten answers: mostly the canonical word, a few annotators using a synonym."""
    syn = ANSWER_SYNONYMS.get(answer, (answer,))
    return tuple(syn[0] if rng.random() < 0.8 else _pick(rng, syn) for _ in range(10))


def _where(obj: Obj) -> str:
    return "the middle" if obj.position == "centre" else f"the {obj.position}"


def _object(scene: Scene, rng) -> Obj:
    return scene.objects[rng.integers(scene.count)]


def _unique(scene: Scene, obj: Obj) -> bool:
    return sum((o.colour, o.shape) == (obj.colour, obj.shape) for o in scene.objects) == 1


# (question template, question type): {shape} and {where} name the object by shape and cell.
_OBJECT_QUESTIONS = {
    "colour": ("what color is the {shape} in {where} ?", "what color is the"),
    "shape": ("what shape is in {where} ?", "what shape is"),
    "size": ("is the {shape} in {where} big or small ?", "is the"),
    "fill": ("is the {shape} in {where} hollow or solid ?", "is the"),
}
_SCENE_QUESTIONS = {
    "background": ("what color is the background ?", "what color is the"),
    "texture": ("what pattern does the background have ?", "what pattern does the"),
    "lighting": ("where does the light come from ?", "where does the"),
    "tint": ("is the picture warm , cool or neutral ?", "is the"),
    "border": ("what color is the border ?", "what color is the"),
    "clutter": ("is the scene clean , specked or cluttered ?", "is the"),
}
SCENE_ANSWERS = {"lighting": {"even": "everywhere"}, "clutter": {"specks": "specked"}}


def _q_object(factor: str):
    def ask(scene: Scene, rng) -> VqaItem:
        o = _object(scene, rng)
        template, qtype = _OBJECT_QUESTIONS[factor]
        q = template.format(shape=shape_word(scene.catalog, o.shape, rng), where=_where(o))
        return VqaItem(q, _answers(o.factor(factor), rng), "other", qtype, factor, o)

    return ask


def _q_scene(factor: str):
    def ask(scene: Scene, rng) -> VqaItem:
        value = getattr(scene, factor)
        answer = SCENE_ANSWERS.get(factor, {}).get(value, value)
        question, qtype = _SCENE_QUESTIONS[factor]
        return VqaItem(question, _answers(answer, rng), "other", qtype, factor)

    return ask


def _q_position(scene: Scene, rng) -> VqaItem:
    o = _object(scene, rng)
    if not _unique(scene, o):  # ambiguous referent: ask about its colour instead
        return _q_object("colour")(scene, rng)
    q = f"where is the {o.colour} {shape_word(scene.catalog, o.shape, rng)} ?"
    return VqaItem(q, _answers(o.position, rng), "other", "where is the", "position", o)


def _q_count(scene: Scene, rng) -> VqaItem:
    if rng.random() < 0.5:
        return VqaItem(
            "how many shapes are there ?", _answers(str(scene.count), rng), "number", "how many", "count"
        )
    colour = _pick(rng, scene.catalog.colours)
    n = sum(o.colour == colour for o in scene.objects)
    return VqaItem(
        f"how many {colour} shapes are there ?", _answers(str(n), rng), "number", "how many", "colour"
    )


def _q_exists(scene: Scene, rng) -> VqaItem:
    o = _object(scene, rng) if rng.random() < 0.5 else None
    colour = o.colour if o else _pick(rng, scene.catalog.colours)
    shape = o.shape if o else _pick(rng, scene.catalog.shapes)
    present = any((p.colour, p.shape) == (colour, shape) for p in scene.objects)
    q = f"is there a {colour} {shape_word(scene.catalog, shape, rng)} ?"
    return VqaItem(q, _answers("yes" if present else "no", rng), "yes/no", "is there a", "colour", o)


VQA_GENERATORS = (
    *(_q_object(f) for f in _OBJECT_QUESTIONS),
    _q_position,
    _q_count,
    _q_exists,
    *(_q_scene(f) for f in _SCENE_QUESTIONS),
)


def vqa_items(scene: Scene, rng: np.random.Generator, n: int = 3) -> list[VqaItem]:
    """``n`` questions of different kinds about ``scene``."""
    kinds = rng.choice(len(VQA_GENERATORS), size=n, replace=False)
    return [VQA_GENERATORS[k](scene, rng) for k in kinds]


# --- visual entailment (SNLI-VE construction) --------------------------------------------------


@dataclass(frozen=True)
class VeItem:
    hypothesis: str
    label: str


_OBJECT_PREDICATES = {
    "colour": lambda v: v,
    "size": lambda v: {"small": "small", "large": "big"}[v],
    "fill": lambda v: v,
    "position": lambda v: f"in {'the middle' if v == 'centre' else 'the ' + v}",
}
_SCENE_STATEMENTS = {
    "background": "the background is {}",
    "texture": "the background is {}",
    "lighting": "the light comes from the {}",
    "tint": "the picture looks {}",
    "border": "the border is {}",
    "clutter": "the scene is {}",
    "count": "there are {} shapes",
}
_SCENE_WORDS = {
    "lighting": {"even": "everywhere"},
    "clutter": {"specks": "specked"},
    "border": {"none": "missing"},
}


def _statement(scene: Scene, factor: str, value, obj: Obj | None, rng) -> str:
    if obj is not None:
        return f"the {shape_word(scene.catalog, obj.shape, rng)} is {_OBJECT_PREDICATES[factor](value)}"
    word = COUNT_WORDS[value] if factor == "count" else _SCENE_WORDS.get(factor, {}).get(value, value)
    return _SCENE_STATEMENTS[factor].format(word)


def _stated(mention: Mention) -> list[tuple[str, Obj | None]]:
    """(factor, object) pairs the premise states, shapes aside."""
    out = [(f, o) for o, fs in mention.objects for f in fs]
    return out + ([(mention.scene_factor, None)] if mention.scene_factor else [])


def _unstated(scene: Scene, mention: Mention) -> list[tuple[str, Obj | None]]:
    out = [(f, o) for o, fs in mention.objects for f in _OBJECT_PREDICATES if f not in fs]
    return out + [(f, None) for f in _SCENE_STATEMENTS if f != mention.scene_factor]


def _value(scene: Scene, factor: str, obj: Obj | None):
    return obj.factor(factor) if obj is not None else scene.factor(factor)


def _other_value(rng, scene: Scene, factor: str, current):
    choices = [v for v in scene.catalog.values(factor) if v != current]
    return choices[rng.integers(len(choices))]


# Neutral hypotheses pick scene factors this much less often than object factors, so that each
# kind of statement is about as common under every label (premises state far more object
# factors than scene factors) and the hypothesis alone says little about the label.
NEUTRAL_SCENE_WEIGHT = 0.15


def _neutral_choice(scene: Scene, mention: Mention, rng) -> tuple[str, Obj | None]:
    options = _unstated(scene, mention)
    w = np.array([1.0 if obj is not None else NEUTRAL_SCENE_WEIGHT for _, obj in options])
    return options[rng.choice(len(options), p=w / w.sum())]


def _ve_item(scene: Scene, mention: Mention, label: str, rng) -> VeItem:
    stated = _stated(mention)
    if label == "neutral" or not stated:
        label = "neutral"
        factor, obj = _neutral_choice(scene, mention, rng)
        true = _value(scene, factor, obj)
        value = true if rng.random() < 0.5 else _other_value(rng, scene, factor, true)
        return VeItem(_statement(scene, factor, value, obj, rng), label)
    factor, obj = _pick(rng, tuple(stated))
    value = _value(scene, factor, obj)
    if label == "contradiction":
        value = _other_value(rng, scene, factor, value)
    return VeItem(_statement(scene, factor, value, obj, rng), label)


def ve_items(scene: Scene, premise: Mention, rng: np.random.Generator) -> list[VeItem]:
    """One hypothesis per label for the premise caption's ``premise`` mention (a premise that
    states nothing but shapes gets neutrals only)."""
    return [_ve_item(scene, premise, label, rng) for label in VE_LABELS]


LEXICON = (
    _OBJECT_QUESTIONS,
    _SCENE_QUESTIONS,
    SCENE_ANSWERS,
    ANSWER_SYNONYMS,
    _SCENE_STATEMENTS,
    _SCENE_WORDS,
    "where is the how many shapes are there is there a yes no big small in the middle"
    " the is light comes from picture looks border scene background",
)
