"""Decoding and scoring CLOSE models on image (or text) inputs, and the per-epoch gap log."""

from __future__ import annotations

import numpy as np
import torch

from ..adapters import apply_deterministic, unit_inputs
from ..cache import digest
from ..metrics import score as score_family
from ..metrics import score_items
from ..stats.paired import Paired
from .batches import Tokenized


def _decode(prep, vectors: np.ndarray, data: Tokenized, max_len: int, batch: int = 64) -> list[str]:
    model, tok, dev, cfg = prep.model, prep.tokenizer, prep.device, prep.cfg
    model.eval()
    out = []
    for s in range(0, len(vectors), batch):
        idx = list(range(s, min(s + batch, len(vectors))))
        extra_ids, extra_mask = data.extra_batch(idx)
        gen = model.generate(
            torch.from_numpy(vectors[idx]).to(dev),
            None if extra_ids is None else extra_ids.to(dev),
            None if extra_mask is None else extra_mask.to(dev),
            max_len,
            cfg.beams,
            cfg.early_stopping,
        )
        out += [t.strip() for t in tok.batch_decode(gen, skip_special_tokens=True)]
    return out


def score(family: str, examples, preds: list[str], meteor: bool = False) -> dict:
    """The metrics of one family (``gapkit.metrics.SCORERS``: caption, vqa, ve) for ``preds``
    against each example's references."""
    return score_family(family, preds, [list(ex.refs) for ex in examples], meteor)


def items_digest(examples) -> str:
    """Which items were scored, in order (image and extra text of each): equal digests mean two
    runs were scored on the same items, so their per-item scores pair up."""
    return digest([[ex.image_id, ex.extra] for ex in examples])[:16]


def text_inputs(prep, text_vectors: np.ndarray) -> np.ndarray:
    """Text vectors as a model trained on text saw them, without the noise: the adapter's
    deterministic part (a shift, a linear map, the covariance adapter's mean; nothing for
    ``noise`` and ``none``) on unit rows. A model trained on images gets them unchanged."""
    if prep.cfg.train_on != "text":
        return text_vectors
    return apply_deterministic(prep.adapter, texts=text_vectors)[1]


def image_inputs(prep, image_vectors: np.ndarray) -> np.ndarray:
    """Image vectors as the model reads them at test time: unit rows through the adapter's
    test-time half (C3's collapse, DeCap's projection, nearest caption); for every other adapter
    the unit rows themselves (CLOSE's vectors are unit already: unchanged)."""
    return apply_deterministic(prep.adapter, images=image_vectors)[0]


def evaluate_split(prep, split: str, max_len: int, on: str = "image") -> tuple[dict, list[dict]]:
    """Decode ``split`` from image vectors (or, with on="text", from the split's text vectors
    through the adapter's deterministic part: the text-to-text check) and score it. Returns the
    flat metrics (with ``items``, the ``items_digest``) and one row per item, holding its
    prediction and its ``scores`` ({metric: score}, for the metrics that are means over items)."""
    sp = prep.evals[split]
    vectors = image_inputs(prep, sp.image_vectors) if on == "image" else text_inputs(prep, sp.text_vectors)
    data = Tokenized(prep.tokenizer, sp.examples, max_len)
    preds = _decode(prep, vectors, data, max_len)
    metrics, per_item = score_items(
        prep.task.scorer, preds, [list(ex.refs) for ex in sp.examples], prep.cfg.meteor
    )
    metrics["items"] = items_digest(sp.examples)
    rows = [
        {
            "image_id": ex.image_id,
            "extra": ex.extra,
            "prediction": p,
            "refs": ex.refs,
            "scores": {m: v[k] for m, v in per_item.items()},
        }
        for k, (ex, p) in enumerate(zip(sp.examples, preds))
    ]
    return metrics, rows


def per_item_scores(rows: list[dict]) -> dict[str, list[float]]:
    """{metric: the items' scores, in row order} from ``evaluate_split``'s rows."""
    return {m: [r["scores"][m] for r in rows] for m in (rows[0]["scores"] if rows else {})}


@torch.no_grad()
def gap_log(prep, n: int = 2000) -> dict:
    """Per-epoch geometry on validation pairs, as CLOSE Table 3 defines MG: ``mg`` = mean
    cos(image, a(text)) and ``centroid_distance`` = |mean image - mean a(text)| with a the adapter's
    deterministic part (no noise); ``mg_noisy`` / ``centroid_distance_noisy`` with the training
    noise too. The adapter's generator is restored afterwards, so logging does not change the
    training noise. A model trained on images logs its own inputs (MG 1)."""
    sp = next(iter(prep.evals.values()))
    if sp.text_vectors is None or not len(sp.examples):
        return {}
    k = min(n, len(sp.examples))
    img = image_inputs(prep, sp.image_vectors[:k])
    if prep.cfg.train_on != "text":
        clean = noisy = img
    else:
        clean = text_inputs(prep, sp.text_vectors[:k])
        state, was_training = prep.adapter.rng_state(), prep.adapter.training
        prep.adapter.train()
        noisy = prep.adapter(torch.from_numpy(unit_inputs(sp.text_vectors[:k], "text"))).numpy()
        prep.adapter.set_rng_state(state)
        prep.adapter.train(was_training)
    pairs = Paired(img, img, np.arange(k))  # one image per example; only the moved text is compared
    out = {}
    for suffix, adapted in (("", clean), ("_noisy", noisy)):
        out[f"mg{suffix}"] = pairs.mg(adapted)
        out[f"centroid_distance{suffix}"] = pairs.centroid_distance(adapted)
    return out
