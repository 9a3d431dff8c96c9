"""CLIP vectors for CLOSE examples, read through the embedding cache (no encoder forward pass
in the training step). Texts of one example (VQA: all captions of the image) are averaged as
raw features, then normalised, as the original code does."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..cache import EmbeddingCache
from ..embed import embed_images, embed_texts
from ..encoders import Encoder
from ..stats.paired import unit_rows
from .tasks import Example


def text_vectors(
    encoder: Encoder, examples: list[Example], template: str, cache: EmbeddingCache, identity: dict
) -> np.ndarray:
    """(n, d) unit vectors: the normalised mean raw text feature of each example's input texts."""
    if any(not ex.input_texts for ex in examples):
        raise ValueError("every example needs input texts for text vectors")
    texts = sorted({t for ex in examples for t in ex.input_texts})
    row = {t: i for i, t in enumerate(texts)}
    raw = embed_texts(encoder, texts, identity, template, cache)
    out = np.stack([raw[[row[t] for t in ex.input_texts]].mean(0) for ex in examples])
    return unit_rows(out, None).astype(np.float32)


def image_vectors(
    encoder: Encoder,
    examples: list[Example],
    cache: EmbeddingCache,
    identity: dict,
    image_root: Path,
    batch_size: int = 256,
    verify: bool = False,
) -> np.ndarray:
    """(n, d) unit image vectors, one per example (each distinct image encoded once)."""
    paths: dict[str, Path] = {}
    for ex in examples:
        paths.setdefault(ex.image_id, ex.image_path)
    ids = list(paths)
    raw = embed_images(
        encoder, list(paths.values()), ids, identity, image_root, cache, batch_size, verify=verify
    )
    row = {k: i for i, k in enumerate(ids)}
    return unit_rows(raw[[row[ex.image_id] for ex in examples]], None).astype(np.float32)
