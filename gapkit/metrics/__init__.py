"""Task metrics: captioning (pycocoevalcap's scorers, one by one), VQA accuracy (official and
CLOSE's simplified form), VE accuracy. numpy-only apart from pycocoevalcap; Java is needed for
PTB tokenisation and METEOR.

``SCORERS`` maps a metric family to ``score(preds, refs, meteor) -> flat metrics``, with ``preds``
a list of strings and ``refs`` one list of reference strings per prediction."""

from __future__ import annotations

import numpy as np

from .._registry import Registry
from .caption import caption_scores, java_available
from .ve import ve_accuracy
from .vqa import normalize_answer, vqa_accuracy

SCORERS: Registry = Registry("scorer", ls_hint="scorers")


@SCORERS.register("caption")
def score_captions(preds: list[str], refs: list[list[str]], meteor: bool = False) -> dict:
    """BLEU-1..4, ROUGE-L, CIDEr-D (METEOR with meteor=True), x100, PTB-tokenised when Java is present."""
    return caption_scores(
        {str(i): p for i, p in enumerate(preds)}, {str(i): r for i, r in enumerate(refs)}, meteor=meteor
    )


@SCORERS.register("vqa")
def score_vqa(preds: list[str], refs: list[list[str]], meteor: bool = False) -> dict:
    """vqa_acc_official (VQA v2 leave-one-out) and vqa_acc_close (CLOSE's min(n/3, 1)), x100."""
    return vqa_accuracy(preds, refs)


@SCORERS.register("ve")
def score_ve(preds: list[str], refs: list[list[str]], meteor: bool = False) -> dict:
    """Accuracy: exact match of the generated label with the gold label (the first reference), x100."""
    return ve_accuracy(preds, [r[0] for r in refs])


PER_ITEM = "per_item_"  # scorers return the per-item scores of metric m (x100) as per_item_<m>


def score(family: str, preds: list[str], refs: list[list[str]], meteor: bool = False) -> dict:
    """Flat metrics of one family (see ``SCORERS``): per-item arrays dropped, numpy floats made floats."""
    return score_items(family, preds, refs, meteor)[0]


def score_items(
    family: str, preds: list[str], refs: list[list[str]], meteor: bool = False
) -> tuple[dict, dict]:
    """(flat metrics, {metric: per-item scores in the order of ``preds``}) of one family. A metric
    with per-item scores is their mean (CIDEr-D with the IDF of the whole scored set; accuracies)."""
    metrics = SCORERS.get(family)(preds, refs, meteor)
    flat = {
        k: (float(v) if isinstance(v, (float, np.floating)) else v)
        for k, v in metrics.items()
        if not k.startswith(PER_ITEM)
    }
    items = {k[len(PER_ITEM) :]: [float(x) for x in v] for k, v in metrics.items() if k.startswith(PER_ITEM)}
    return flat, items


__all__ = [
    "SCORERS",
    "caption_scores",
    "java_available",
    "normalize_answer",
    "score",
    "score_items",
    "vqa_accuracy",
    "ve_accuracy",
]
