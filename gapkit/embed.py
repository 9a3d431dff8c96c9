"""Embedding extraction through the cache: images stream through a DataLoader with workers,
texts are encoded in batches. Raw (un-normalised) features are cached; callers normalise."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .cache import EmbeddingCache, items_digest
from .data import PairedData
from .encoders import Encoder
from .errors import GapkitError
from .progress import progress

log = logging.getLogger("gapkit.embed")


class _ImageFiles(torch.utils.data.Dataset):
    """Decodes and preprocesses one image per item; a failure yields the error text instead."""

    def __init__(self, paths: list[Path], transform) -> None:
        self.paths, self.transform = paths, transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        try:
            with Image.open(self.paths[i]) as im:
                return self.transform(im.convert("RGB")), ""
        except (OSError, UnidentifiedImageError, ValueError) as e:
            return torch.zeros(0), f"{self.paths[i]}: {type(e).__name__}: {e}"


def _collate(batch):
    errors = [e for _, e in batch if e]
    if errors:
        return None, errors
    return torch.stack([x for x, _ in batch]), []


def check_images_exist(paths: list[Path]) -> None:
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        shown = ", ".join(str(p) for p in missing[:3])
        raise GapkitError(f"{len(missing)} of {len(paths)} image files are missing, e.g. {shown}")


INLINE_BELOW = 5000  # images: below this, worker start-up and IPC cost more than they save


def default_workers(n_images: int) -> int:
    """Decode in the main process for small sets (benchmarks/results/extraction.md: for 1,000
    shapes-world images one worker halves throughput); else up to 4 workers, one core left."""
    if n_images < INLINE_BELOW:
        return 0
    return min(4, max(0, (os.cpu_count() or 1) - 1))


def extract_image_features(encoder: Encoder, paths: list[Path], batch_size: int = 256,
                           num_workers: int | None = None) -> np.ndarray:
    """(n, D) raw float32 features; unreadable images raise naming the first few."""
    check_images_exist(paths)
    workers = default_workers(len(paths)) if num_workers is None else num_workers
    loader = torch.utils.data.DataLoader(
        _ImageFiles(paths, encoder.image_transform), batch_size=batch_size, num_workers=workers,
        collate_fn=_collate, pin_memory=encoder.device.type == "cuda",
        persistent_workers=False, prefetch_factor=4 if workers else None)
    chunks, errors, t0 = [], [], time.time()
    with progress(total=len(paths), desc="images", unit="img") as bar:
        for pixels, errs in loader:
            if errs:
                errors += errs
                continue
            chunks.append(encoder.image_features(pixels))
            bar.update(len(pixels))
    if errors:
        raise GapkitError(f"{len(errors)} images could not be read: " + "; ".join(errors[:3]))
    log.info("encoded %d images in %.1fs (%.0f img/s)", len(paths), time.time() - t0,
             len(paths) / max(1e-9, time.time() - t0))
    return np.concatenate(chunks).astype(np.float32)


def extract_text_features(encoder: Encoder, texts: list[str], batch_size: int = 128) -> np.ndarray:
    chunks = []
    with progress(total=len(texts), desc="texts", unit="txt") as bar:
        for i in range(0, len(texts), batch_size):
            chunks.append(encoder.text_features(texts[i:i + batch_size]))
            bar.update(len(chunks[-1]))
    return np.concatenate(chunks).astype(np.float32)


@dataclass
class PairedEmbeddings:
    """Raw features of a paired data set: (n_images, D) and (n_captions, D)."""

    image: np.ndarray
    text: np.ndarray
    caption_image: np.ndarray  # (n_captions,) index into image rows
    data: PairedData
    encoder_identity: dict


def image_cache_fields(encoder: Encoder, data: PairedData) -> dict:
    return {"kind": "image", "encoder": encoder.identity(), "data": data.identity(),
            "items": items_digest(data.image_ids), "n": data.n_images, "dtype": "float32"}


def text_cache_fields(encoder: Encoder, texts: list[str], data_identity: dict, template: str) -> dict:
    return {"kind": "text", "encoder": encoder.identity(), "data": data_identity, "template": template,
            "items": items_digest(texts), "n": len(texts), "dtype": "float32"}


def apply_template(texts: list[str], template: str) -> list[str]:
    if "{}" not in template:
        raise GapkitError(f"Text template {template!r} must contain '{{}}' where the caption goes.")
    return [template.format(t) for t in texts]


def embed_texts(encoder: Encoder, texts: list[str], data_identity: dict, template: str = "{}",
                cache: EmbeddingCache | None = None, batch_size: int = 128) -> np.ndarray:
    """Raw (n, D) text features through the cache (the template is applied first)."""
    cache = cache or EmbeddingCache()
    final = apply_template(texts, template)
    fields = text_cache_fields(encoder, final, data_identity, template)
    return cache.get_or_compute(fields, lambda: extract_text_features(encoder, final, batch_size))


def embed_paired(encoder: Encoder, data: PairedData, template: str = "{}",
                 cache: EmbeddingCache | None = None, batch_size: int = 256,
                 num_workers: int | None = None) -> PairedEmbeddings:
    """Image and caption features of ``data`` through the cache."""
    cache = cache or EmbeddingCache()
    img = cache.get_or_compute(
        image_cache_fields(encoder, data),
        lambda: extract_image_features(encoder, data.image_paths, batch_size, num_workers))
    txt = embed_texts(encoder, data.captions, data.identity(), template, cache)
    return PairedEmbeddings(img, txt, data.caption_image, data, encoder.identity())
