"""Precomputed embeddings: ``.npy`` shaped (2, n, d), two ``.npy`` files, ``.npz`` or
``.safetensors`` holding ``image_emb`` and ``text_emb`` (and optionally ``caption_image``).
Large ``.npy`` files are memory-mapped, so statistics stream from disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import GapkitError
from ..io import file_sha256


@dataclass
class EmbeddingFiles:
    image_emb: np.ndarray
    text_emb: np.ndarray
    caption_image: np.ndarray | None
    source: dict


NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"  # .npz files are zip archives


def _check_magic(path: Path, magic: bytes, kind: str) -> None:
    """Name the real problem up front: numpy reports any non-.npy file as "pickled data"."""
    with open(path, "rb") as f:
        head = f.read(len(magic))
    if not head:
        raise GapkitError(f"{path} is empty (0 bytes), not a {kind} file.")
    if head != magic:
        raise GapkitError(f"{path} is not a {kind} file (it starts with {head!r}, not {magic!r}).")


def _npy(path: Path) -> np.ndarray:
    _check_magic(path, NPY_MAGIC, ".npy")
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise GapkitError(f"Cannot read {path} as a .npy array: {e}") from None
    if a.dtype.kind not in "fiu" or a.size == 0:
        raise GapkitError(
            f"{path} holds {'no values' if a.size == 0 else a.dtype} with shape {a.shape}; "
            "embeddings are a non-empty numeric array."
        )
    return a


def _from_mapping(m, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    missing = [k for k in ("image_emb", "text_emb") if k not in m]
    if missing:
        raise GapkitError(
            f"{path} lacks {', '.join(missing)} (has: {', '.join(sorted(m.keys())) or 'nothing'})."
        )
    ci = np.asarray(m["caption_image"]) if "caption_image" in m else None
    if ci is not None and (ci.dtype.kind not in "iu" or ci.ndim != 1):
        raise GapkitError(
            f"{path}: caption_image must be a 1-D integer array (each caption's image row), "
            f"got {ci.dtype} with shape {ci.shape}."
        )
    return np.asarray(m["image_emb"]), np.asarray(m["text_emb"]), ci


def load_embedding_files(paths: list[str | Path]) -> EmbeddingFiles:
    """One file (.npy (2, n, d), .npz, .safetensors) or two .npy files (images, texts)."""
    paths = [Path(p) for p in paths]
    for p in paths:
        if not p.is_file():
            raise GapkitError(f"Embedding file not found: {p}")
    if len(paths) == 2:
        img, txt, ci = _npy(paths[0]), _npy(paths[1]), None
    elif len(paths) == 1:
        p = paths[0]
        suffix = p.suffix.lower()
        if suffix == ".npy":
            a = _npy(p)
            if a.ndim != 3 or a.shape[0] != 2:
                raise GapkitError(
                    f"{p} has shape {a.shape}; a single .npy must be (2, n, d): "
                    "[0] image embeddings, [1] text embeddings."
                )
            img, txt, ci = a[0], a[1], None
        elif suffix == ".npz":
            _check_magic(p, ZIP_MAGIC, ".npz")
            try:
                with np.load(p, allow_pickle=False) as z:
                    img, txt, ci = _from_mapping({k: z[k] for k in z.files}, p)
            except (ValueError, OSError, EOFError) as e:
                raise GapkitError(f"Cannot read {p} as .npz: {e}") from None
        elif suffix == ".safetensors":
            from safetensors.numpy import load_file

            try:
                img, txt, ci = _from_mapping(load_file(str(p)), p)
            except Exception as e:  # safetensors raises its own error types
                if isinstance(e, GapkitError):
                    raise
                raise GapkitError(f"Cannot read {p} as safetensors: {e}") from None
        else:
            raise GapkitError(f"{p}: embeddings must be .npy, .npz or .safetensors.")
    else:
        raise GapkitError(f"Pass one embeddings file or two .npy files, got {len(paths)}.")
    return EmbeddingFiles(img, txt, ci, fingerprints(paths))


def fingerprints(paths: list[str | Path]) -> dict:
    """Provenance of one or two embedding files: paths and sha256 (files under 2 GB)."""
    paths = [Path(p) for p in paths]
    return {
        "embeddings": [str(p) for p in paths],
        "sha256": [file_sha256(p) if p.stat().st_size < 2**31 else "skipped (>2 GB)" for p in paths],
    }


def first_images(image_emb, text_emb, caption_image, n: int):
    """The first ``n`` images and their captions (``--limit``), as (image, text, caption_image)."""
    if caption_image is None:
        return image_emb[:n], text_emb[:n], None
    keep = np.flatnonzero(np.asarray(caption_image) < n)
    return image_emb[:n], text_emb[keep], np.asarray(caption_image)[keep]
