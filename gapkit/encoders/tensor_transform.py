"""Decoding and preprocessing on the encoding device: JPEG bytes are decoded by
``torchvision.io.decode_jpeg`` in batches on the encoder's device (nvJPEG on CUDA, libjpeg-turbo
on a CPU), and the encoder's own PIL preprocessing is redone with tensor ops there, step by step.

This takes decoding off the DataLoader workers: on a GPU that encodes ViT-B-32 at tens of
thousands of images a second, CPU workers decoding with PIL are the bottleneck. Resizing a
tensor is not bit-identical to PIL's (about 1 / 255 per pixel: embeddings agree to ~1e-3), so
the cache keys images decoded this way apart (``embed.image_cache_fields``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..errors import GapkitError

JPEG_MAGIC = b"\xff\xd8\xff"


def _step(t) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """One PIL preprocessing step as a tensor op on (3, H, W) uint8 / float; None = a no-op here."""
    import torchvision.transforms as T
    import torchvision.transforms.functional as F

    name = type(t).__name__
    if hasattr(t, "tensor_op"):  # a transform of gapkit's own (the shapes tiny CLIP's)
        return t.tensor_op()
    if isinstance(t, T.Resize):
        return lambda x: F.resize(x, t.size, t.interpolation, t.max_size, antialias=True)
    if isinstance(t, T.CenterCrop):
        return lambda x: F.center_crop(x, list(t.size))
    if isinstance(t, T.Normalize):
        return lambda x: F.normalize(x, t.mean, t.std)
    if isinstance(t, T.ToTensor) or name == "MaybeToTensor":
        return lambda x: x.float() / 255  # PIL uint8 -> float in [0, 1], as ToTensor
    if name in ("MaybeConvertMode", "_convert_to_rgb") or getattr(t, "__name__", "") == "_convert_to_rgb":
        return None  # decoding asks for RGB already
    raise GapkitError(
        f"--decode torchvision cannot redo the preprocessing step {t!r} on tensors; "
        "use --decode pil for this encoder."
    )


def tensor_transform(pil_transform) -> Callable[[torch.Tensor], torch.Tensor]:
    """The encoder's PIL transform as a function of a decoded (3, H, W) uint8 tensor."""
    import torchvision.transforms as T

    steps = pil_transform.transforms if isinstance(pil_transform, T.Compose) else [pil_transform]
    ops = [op for op in (_step(t) for t in steps) if op is not None]

    def apply(x: torch.Tensor) -> torch.Tensor:
        for op in ops:
            x = op(x)
        return x

    return apply


def read_bytes(path) -> torch.Tensor:
    """A file's bytes as a uint8 tensor (what DataLoader workers do instead of decoding)."""
    with open(path, "rb") as f:
        return torch.frombuffer(bytearray(f.read()), dtype=torch.uint8)


def decode_batch(data: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    """Encoded images -> (3, H, W) uint8 RGB tensors on ``device``: the JPEGs in one batched
    ``decode_jpeg`` call on the device, anything else (PNG, ...) decoded on the CPU and moved."""
    from torchvision.io import ImageReadMode, decode_image, decode_jpeg

    out: list[torch.Tensor | None] = [None] * len(data)
    jpeg = [i for i, d in enumerate(data) if bytes(d[:3].tolist()) == JPEG_MAGIC]
    if jpeg:
        decoded = decode_jpeg([data[i] for i in jpeg], mode=ImageReadMode.RGB, device=device)
        for i, img in zip(jpeg, decoded):
            out[i] = img
    for i, d in enumerate(data):
        if out[i] is None:
            out[i] = decode_image(d, mode=ImageReadMode.RGB).to(device, non_blocking=True)
    return out
