"""The shapes world's closed vocabulary, built from its own word lists and templates, so it is
fixed by the world version's catalog (the tiny CLIP and the shapes T5 tokenize over it)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from . import captions, items
from .catalog import V2, Catalog

_TOKEN = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


def tokenize(text: str) -> list[str]:
    """Lower-case word and punctuation tokens: how the world splits its texts into words (its
    lexicon, the Karpathy ``tokens`` it exports, and the tiny CLIP's tokenizer)."""
    return _TOKEN.findall(text.lower())


# Literal words used inside the caption, VQA and VE generators (not in any word table).
_TEMPLATE_WORDS = (
    "a an and the there is are has shape shapes on of , : ? ! in at with no yes or 0 1 2 3 4 none"
)


def _words_of(obj) -> set[str]:
    """Every word in a (nested) table of phrases; "{}" slots are dropped."""
    if isinstance(obj, str):
        return set(tokenize(re.sub(r"\{\w*\}", " ", obj)))
    if isinstance(obj, Mapping):
        return set().union(*(_words_of(k) | _words_of(v) for k, v in obj.items()))
    if isinstance(obj, (tuple, list)):
        return set().union(*(_words_of(v) for v in obj)) if obj else set()
    return set(tokenize(str(obj)))


def lexicon(catalog: Catalog = V2) -> list[str]:
    """Every word world ``catalog`` can produce, sorted (deterministic)."""
    words = set(tokenize(_TEMPLATE_WORDS))
    tables = (
        catalog.shape_words,
        captions.SIZE_WORDS,
        captions.FILL_WORDS,
        captions.POSITION_PHRASES,
        captions.COUNT_WORDS,
        captions.BACKGROUND_PHRASES,
        captions.SCENE_PHRASES,
        captions.TEMPLATES,
        captions.COUNT_TEMPLATES,
        captions.STYLES,
        catalog.object_factors,
        catalog.scene_factors,
        items.LEXICON,
    )
    for table in tables:
        words |= _words_of(table)
    return sorted(words)


__all__ = ["lexicon", "tokenize"]
