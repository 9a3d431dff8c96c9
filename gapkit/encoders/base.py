"""The encoder interface every backend implements, and the shared batching logic.

Backends produce *raw* (un-normalised) float32 features; ``encode_images``/``encode_texts`` take an
explicit ``normalize`` flag (default True). The embedding cache stores raw features so that
consumers which average before normalising (CLOSE's VQA caption averaging) stay exact.
"""

from __future__ import annotations

import contextlib
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from .._registry import Registry
from ..errors import GapkitError

# The backends register here (not in the package __init__, which imports them to create one).
ENCODERS: Registry = Registry("encoder backend", ls_hint="encoders")


def resolve_device(device: str | None) -> torch.device:
    """``None``/"auto" -> cuda when available, else cpu. An explicit unavailable device errors."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise GapkitError(f"Unknown device {device!r}: {e}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GapkitError(f"Device {device!r} was asked for but CUDA is not available on this machine.")
    return dev


class Encoder(ABC):
    """A frozen image/text encoder with a stable identity for caching."""

    backend: str = ""

    def __init__(self, spec: str, device: str | None = None) -> None:
        self.spec = spec
        self.device = resolve_device(device)

    # --- what a backend provides -------------------------------------------------------------
    @property
    @abstractmethod
    def embed_dim(self) -> int: ...

    # Backends set these two in __init__.
    _sha: str = ""
    _transform: Callable[[Image.Image], torch.Tensor] | None = None

    @property
    def weights_sha256(self) -> str:
        """sha256 of the weights file, or a description of a seeded random init."""
        return self._sha

    @property
    def image_transform(self) -> Callable[[Image.Image], torch.Tensor]:
        """PIL image -> (3, H, W) float tensor; picklable, so DataLoader workers can run it."""
        return self._transform

    @abstractmethod
    def _image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) on self.device -> (B, D) raw features."""

    @abstractmethod
    def _text_features(self, texts: Sequence[str]) -> torch.Tensor:
        """B texts -> (B, D) raw features (tokenisation included)."""

    def preprocess_id(self) -> str:
        """Identity of the image preprocessing (part of the cache key)."""
        return hashlib.sha256(repr(self.image_transform).encode()).hexdigest()[:16]

    def identity(self) -> dict:
        """Everything about the encoder that changes its features (part of every cache key)."""
        ident = {
            "backend": self.backend,
            "spec": self.spec,
            "weights_sha256": self.weights_sha256,
            "preprocess": self.preprocess_id(),
            "embed_dim": self.embed_dim,
        }
        dtype = self.autocast_dtype()
        return {**ident, "autocast": dtype} if dtype else ident  # fp32 (CPU) keys stay as they were

    def autocast_dtype(self) -> str | None:
        """The reduced precision features are computed in: bf16 autocast on CUDA (fp16 where the
        GPU lacks bf16), None for fp32 on the CPU. bf16 features differ from fp32 ones by ~1e-2,
        so they are cached apart."""
        if self.device.type != "cuda":
            return None
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"

    # --- shared logic --------------------------------------------------------------------------
    def _autocast(self):
        dtype = self.autocast_dtype()
        return torch.autocast("cuda", dtype=getattr(torch, dtype)) if dtype else contextlib.nullcontext()

    @torch.no_grad()
    def image_features(self, pixels: torch.Tensor) -> np.ndarray:
        """(B, 3, H, W) preprocessed pixels -> (B, D) raw float32 features."""
        with self._autocast():
            out = self._image_features(pixels.to(self.device, non_blocking=True))
        return out.float().cpu().numpy()

    @torch.no_grad()
    def text_features(self, texts: Sequence[str]) -> np.ndarray:
        with self._autocast():
            out = self._text_features(list(texts))
        return out.float().cpu().numpy()

    def encode_images(
        self, images: Sequence[Image.Image] | np.ndarray, batch_size: int = 256, normalize: bool = True
    ) -> np.ndarray:
        """Images (PIL or (n, H, W, 3) uint8) -> (n, D) float32, L2-normalised if ``normalize``."""
        if isinstance(images, np.ndarray):
            images = [Image.fromarray(a) for a in images]
        chunks = []
        for i in range(0, len(images), batch_size):
            pixels = torch.stack(
                [self.image_transform(im.convert("RGB")) for im in images[i : i + batch_size]]
            )
            chunks.append(self.image_features(pixels))
        return _finish(chunks, self.embed_dim, normalize)

    def encode_texts(self, texts: Sequence[str], batch_size: int = 256, normalize: bool = True) -> np.ndarray:
        """Texts -> (n, D) float32, L2-normalised if ``normalize``."""
        chunks = [self.text_features(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
        return _finish(chunks, self.embed_dim, normalize)


def _finish(chunks: list[np.ndarray], dim: int, normalize: bool) -> np.ndarray:
    out = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros((0, dim), np.float32)
    return l2_normalize(out) if normalize else out


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32). Zero rows are an error, not silently kept."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise GapkitError(f"{int(np.sum(norms == 0))} embedding rows are all zeros and cannot be normalised.")
    return (x / norms).astype(np.float32)
