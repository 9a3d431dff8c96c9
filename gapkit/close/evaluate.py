"""Decoding and scoring CLOSE models on image (or text) inputs, and the per-epoch gap log."""

from __future__ import annotations

import numpy as np
import torch

from ..metrics import score as score_family
from .batches import Tokenized


def _decode(prep, vectors: np.ndarray, data: Tokenized, max_len: int, batch: int = 64) -> list[str]:
    model, tok, dev = prep.model, prep.tokenizer, prep.device
    model.eval()
    out = []
    for s in range(0, len(vectors), batch):
        idx = list(range(s, min(s + batch, len(vectors))))
        extra_ids, extra_mask = data.extra_batch(idx)
        gen = model.generate(torch.from_numpy(vectors[idx]).to(dev),
                             None if extra_ids is None else extra_ids.to(dev),
                             None if extra_mask is None else extra_mask.to(dev), max_len, prep.cfg.beams)
        out += [t.strip() for t in tok.batch_decode(gen, skip_special_tokens=True)]
    return out


def score(family: str, examples, preds: list[str], meteor: bool = False) -> dict:
    """The metrics of one family (``gapkit.metrics.SCORERS``: caption, vqa, ve) for ``preds``
    against each example's references."""
    return score_family(family, preds, [list(ex.refs) for ex in examples], meteor)


def evaluate_split(prep, split: str, max_len: int, on: str = "image") -> tuple[dict, list[dict]]:
    """Decode ``split`` from image vectors (or, with on="text", from the unadapted text vectors:
    the text-to-text check) and score it."""
    sp = prep.evals[split]
    vectors = sp.image_vectors if on == "image" else sp.text_vectors
    data = Tokenized(prep.tokenizer, sp.examples, max_len)
    preds = _decode(prep, vectors, data, max_len)
    metrics = score(prep.task.scorer, sp.examples, preds, prep.cfg.meteor)
    rows = [{"image_id": ex.image_id, "extra": ex.extra, "prediction": p, "refs": ex.refs}
            for ex, p in zip(sp.examples, preds)]
    return metrics, rows


@torch.no_grad()
def gap_log(prep, n: int = 2000) -> dict:
    """MG (mean cos(image, adapted text) over validation pairs) and the centroid distance between
    adapted training-style text inputs and validation images. The adapter's generator is
    restored afterwards, so logging does not change the training noise."""
    sp = next(iter(prep.evals.values()))
    if sp.text_vectors is None or not len(sp.examples):
        return {}
    k = min(n, len(sp.examples))
    state = prep.adapter.rng_state()
    was_training = prep.adapter.training
    prep.adapter.train()
    if prep.cfg.train_on == "text":
        adapted = prep.adapter(torch.from_numpy(sp.text_vectors[:k])).numpy()
    else:
        adapted = sp.image_vectors[:k]
    prep.adapter.set_rng_state(state)
    prep.adapter.train(was_training)
    img = sp.image_vectors[:k]
    return {"mg": float((img * adapted).sum(1).mean()),
            "centroid_distance": float(np.linalg.norm(img.mean(0) - adapted.mean(0)))}
