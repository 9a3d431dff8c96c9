"""CLIP vectors for CLOSE examples, read through the embedding cache (no encoder forward pass
in the training step). Texts of one example (VQA: all captions of the image) are averaged as
raw features, then normalised, as the original code does."""

from __future__ import annotations

import numpy as np

from ..cache import EmbeddingCache
from ..embed import embed_texts, extract_image_features, image_cache_fields
from ..encoders import Encoder
from .tasks import Example


def text_vectors(encoder: Encoder, examples: list[Example], template: str, cache: EmbeddingCache,
                 identity: dict) -> np.ndarray:
    """(n, d) unit vectors: the normalised mean raw text feature of each example's input texts."""
    if any(not ex.input_texts for ex in examples):
        raise ValueError("every example needs input texts for text vectors")
    texts = sorted({t for ex in examples for t in ex.input_texts})
    row = {t: i for i, t in enumerate(texts)}
    raw = embed_texts(encoder, texts, identity, template, cache)
    out = np.stack([raw[[row[t] for t in ex.input_texts]].mean(0) for ex in examples])
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


class _ImageSet:
    """The distinct images of a list of examples, shaped like PairedData for the cache key."""

    def __init__(self, examples: list[Example], identity: dict) -> None:
        seen: dict[str, object] = {}
        for ex in examples:
            seen.setdefault(ex.image_id, ex.image_path)
        self.image_ids = list(seen)
        self.image_paths = list(seen.values())
        self.n_images = len(self.image_ids)
        self._identity = identity

    def identity(self) -> dict:
        return self._identity


def image_vectors(encoder: Encoder, examples: list[Example], cache: EmbeddingCache, identity: dict,
                  batch_size: int = 256) -> np.ndarray:
    """(n, d) unit image vectors, one per example."""
    images = _ImageSet(examples, identity)
    raw = cache.get_or_compute(image_cache_fields(encoder, images),
                               lambda: extract_image_features(encoder, images.image_paths, batch_size))
    row = {k: i for i, k in enumerate(images.image_ids)}
    out = raw[[row[ex.image_id] for ex in examples]]
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)
