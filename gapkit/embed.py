"""Embedding extraction through the cache: images stream through a DataLoader with workers,
texts are encoded in batches. Raw (un-normalised) features are cached; callers normalise.
``embed_images`` is the one way image features reach the cache (measure, encode, figures, CLOSE,
sensitivity), so every image entry is keyed by the image files themselves."""

from __future__ import annotations

import hashlib
import logging
import os
import stat
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
from .io import file_sha256
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


class _ImageBytes(_ImageFiles):
    """Reads one image file's bytes per item: decoding happens later, batched, on the encoding
    device (``--decode torchvision``)."""

    def __getitem__(self, i: int):
        from .encoders.tensor_transform import read_bytes

        try:
            return read_bytes(self.paths[i]), ""
        except OSError as e:
            return torch.zeros(0, dtype=torch.uint8), f"{self.paths[i]}: {type(e).__name__}: {e}"


def _collate_bytes(batch):
    errors = [e for _, e in batch if e]
    return (None, errors) if errors else ([x for x, _ in batch], [])


DECODE = ("pil", "torchvision")  # where images are decoded: DataLoader workers, or the encoding device


def _loader_parts(encoder: Encoder, paths: list[Path], decode: str):
    """(dataset, collate, batch -> (B, 3, H, W) pixels) for one way of decoding."""
    if decode == "pil":
        return _ImageFiles(paths, encoder.image_transform), _collate, lambda pixels: pixels
    from .encoders.tensor_transform import decode_batch, tensor_transform

    prep = tensor_transform(encoder.image_transform)

    def to_pixels(data: list[torch.Tensor]) -> torch.Tensor:
        try:
            images = decode_batch(data, encoder.device)
        except RuntimeError as e:  # torchvision reports a corrupt image for the whole batch
            raise GapkitError(
                f"A batch of images could not be decoded by torchvision: {_one_line(str(e))}"
            ) from None
        return torch.stack([prep(img) for img in images])

    return _ImageBytes(paths, None), _collate_bytes, to_pixels


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


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


def pin_memory(encoder: Encoder, decode: str) -> bool:
    """Page-locked batches only where they help: pixels copied to a CUDA device (bytes decoded
    on the device go through torchvision's own transfer)."""
    return encoder.device.type == "cuda" and decode == "pil"


def extract_image_features(
    encoder: Encoder,
    paths: list[Path],
    batch_size: int = 256,
    num_workers: int | None = None,
    decode: str = "pil",
) -> np.ndarray:
    """(n, D) raw float32 features; unreadable images raise naming the first few. ``decode``:
    "pil" (DataLoader workers decode and preprocess) or "torchvision" (workers read bytes; the
    encoding device decodes JPEGs in batches and preprocesses, see ``encoders.tensor_transform``)."""
    check_images_exist(paths)
    workers = default_workers(len(paths)) if num_workers is None else num_workers
    dataset, collate, to_pixels = _loader_parts(encoder, paths, decode)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=pin_memory(encoder, decode),
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
    )
    chunks, errors, t0 = [], [], time.time()
    with progress(total=len(paths), desc="images", unit="img") as bar:
        for batch, errs in loader:
            if errs:
                errors += errs
                continue
            chunks.append(encoder.image_features(to_pixels(batch)))
            bar.update(len(batch))
    if errors:
        raise GapkitError(f"{len(errors)} images could not be read: " + "; ".join(errors[:3]))
    log.info(
        "encoded %d images in %.1fs (%.0f img/s)",
        len(paths),
        time.time() - t0,
        len(paths) / max(1e-9, time.time() - t0),
    )
    return np.concatenate(chunks).astype(np.float32)


def extract_text_features(encoder: Encoder, texts: list[str], batch_size: int = 128) -> np.ndarray:
    chunks = []
    with progress(total=len(texts), desc="texts", unit="txt") as bar:
        for i in range(0, len(texts), batch_size):
            chunks.append(encoder.text_features(texts[i : i + batch_size]))
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


def image_row_keys(paths: list[Path], verify: bool = False) -> list[str]:
    """One cache row key per image file (see ``gapkit.cache``): its resolved path with its size,
    mtime (ns) and inode, or with ``verify`` the sha256 of its bytes. Missing files are an error."""
    keys, missing = [], []
    for p in paths:
        real = os.path.realpath(p)
        try:
            st = os.stat(real)
        except OSError:
            missing.append(p)
            continue
        if not stat.S_ISREG(st.st_mode):
            missing.append(p)
            continue
        ident = f"sha256={file_sha256(real)}" if verify else f"{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"
        keys.append(hashlib.sha256(f"{real}\x00{ident}".encode()).hexdigest()[:32])
    if missing:
        shown = ", ".join(str(p) for p in missing[:3])
        raise GapkitError(f"{len(missing)} of {len(paths)} image files are missing, e.g. {shown}")
    return keys


def image_cache_fields(
    encoder: Encoder,
    data_identity: dict,
    image_ids: list[str],
    image_root: str | Path | None,
    verify: bool = False,
    decode: str = "pil",
) -> dict:
    """Key fields of an image entry; the files themselves are keyed per row (``image_row_keys``).
    Tensor preprocessing is not bit-identical to PIL's, so torchvision decoding keys apart."""
    return {
        "kind": "image",
        "encoder": encoder.identity(),
        "data": data_identity,
        "items": items_digest(image_ids),
        "n": len(image_ids),
        "dtype": "float32",
        "image_root": None if image_root is None else os.path.realpath(image_root),
        "image_identity": image_identity(verify),
        **({"decode": decode} if decode != "pil" else {}),
    }


def image_identity(verify: bool) -> str:
    """How image files are told apart in the cache key (recorded in provenance)."""
    return "path+sha256" if verify else "path+size+mtime+inode"


def embed_images(
    encoder: Encoder,
    paths: list[Path],
    image_ids: list[str],
    data_identity: dict,
    image_root: str | Path | None,
    cache: EmbeddingCache | None = None,
    batch_size: int = 256,
    num_workers: int | None = None,
    verify: bool = False,
    decode: str = "pil",
) -> np.ndarray:
    """Raw (n, D) image features through the cache; only images whose files changed since the
    entry was written are encoded again. Every caller of the cache for images comes here."""
    cache = cache or EmbeddingCache()
    encode = lambda idx: extract_image_features(
        encoder, [paths[i] for i in idx], batch_size, num_workers, decode
    )
    if not cache.enabled:
        return encode(list(range(len(paths))))
    rows = image_row_keys(paths, verify)
    fields = image_cache_fields(encoder, data_identity, image_ids, image_root, verify, decode)
    return cache.get_rows(fields, rows, encode)


def text_cache_fields(encoder: Encoder, texts: list[str], data_identity: dict, template: str) -> dict:
    return {
        "kind": "text",
        "encoder": encoder.identity(),
        "data": data_identity,
        "template": template,
        "items": items_digest(texts),
        "n": len(texts),
        "dtype": "float32",
    }


def apply_template(texts: list[str], template: str) -> list[str]:
    if "{}" not in template:
        raise GapkitError(f"Text template {template!r} must contain '{{}}' where the caption goes.")
    return [template.format(t) for t in texts]


def embed_texts(
    encoder: Encoder,
    texts: list[str],
    data_identity: dict,
    template: str = "{}",
    cache: EmbeddingCache | None = None,
    batch_size: int = 128,
) -> np.ndarray:
    """Raw (n, D) text features through the cache (the template is applied first)."""
    cache = cache or EmbeddingCache()
    final = apply_template(texts, template)
    fields = text_cache_fields(encoder, final, data_identity, template)
    return cache.get_or_compute(fields, lambda: extract_text_features(encoder, final, batch_size))


def embed_paired(
    encoder: Encoder,
    data: PairedData,
    template: str = "{}",
    cache: EmbeddingCache | None = None,
    batch_size: int = 256,
    num_workers: int | None = None,
    verify_images: bool = False,
    decode: str = "pil",
) -> PairedEmbeddings:
    """Image and caption features of ``data`` through the cache."""
    cache = cache or EmbeddingCache()
    img = embed_images(
        encoder,
        data.image_paths,
        data.image_ids,
        data.identity(),
        data.image_root,
        cache,
        batch_size,
        num_workers,
        verify_images,
        decode,
    )
    txt = embed_texts(encoder, data.captions, data.identity(), template, cache)
    return PairedEmbeddings(img, txt, data.caption_image, data, encoder.identity())
