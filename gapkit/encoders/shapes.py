"""``gapkit-shapes``: the tiny CLIP trained by gapkit on its shapes world, shipped in the package."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import GapkitError
from ..io import file_sha256
from ..tinyclip.model import (
    PIXEL_MEAN,
    PIXEL_STD,
    RANDOM_INIT_SEED,
    TinyClip,
    TinyClipConfig,
    preprocess,
    read_weights_dir,
)
from ..tinyclip.tokenizer import WordTokenizer
from .base import ENCODERS, Encoder

ASSET_DIR = Path(__file__).resolve().parent.parent / "assets" / "shapes-clip"


class ShapesTransform:
    """PIL image -> (3, H, W) float tensor, exactly the training preprocessing."""

    def __init__(self, image_size: int) -> None:
        self.image_size = image_size

    def __call__(self, image: Image.Image) -> torch.Tensor:
        if image.size != (self.image_size, self.image_size):
            image = image.resize((self.image_size, self.image_size), Image.Resampling.BOX)
        return preprocess(np.asarray(image.convert("RGB"))[None])[0]

    def __repr__(self) -> str:
        return f"ShapesTransform(size={self.image_size}, box-resize, (x/255-0.5)/0.5)"

    def tensor_op(self):
        """This preprocessing on a decoded (3, H, W) uint8 tensor on any device (``--decode
        torchvision``): PIL's box resize as two weight matrices (horizontal pass, rounding to 8
        bits, vertical pass, rounding), so the result equals PIL's up to its fixed-point rounding."""
        size = self.image_size

        def apply(x: torch.Tensor) -> torch.Tensor:
            h, w = x.shape[1:]
            if (h, w) != (size, size):
                x = x.float()
                x = (x @ _box_weights(w, size, x.device).T).round()  # (3, h, size)
                x = (_box_weights(h, size, x.device) @ x).round()  # (3, size, size)
            return (x.float() / 255.0 - PIXEL_MEAN) / PIXEL_STD

        return apply


def _box_weights(n_in: int, n_out: int, device) -> torch.Tensor:
    """(n_out, n_in) rows of PIL's BOX resampling (libImaging/Resample.c): output pixel i averages
    the input pixels j with -0.5 < (j + 0.5 - (i + 0.5) * scale) / scale <= 0.5, where scale =
    n_in / n_out (the support widens with the scale when shrinking, and is one pixel when growing)."""
    scale = n_in / n_out
    support = 0.5 * max(scale, 1.0)
    out = torch.zeros(n_out, n_in, dtype=torch.float64)
    for i in range(n_out):
        center = (i + 0.5) * scale
        lo, hi = max(int(center - support + 0.5), 0), min(int(center + support + 0.5), n_in)
        for j in range(lo, hi):
            t = (j - center + 0.5) / max(scale, 1.0)
            if -0.5 < t <= 0.5:
                out[i, j] = 1.0
        out[i] /= out[i].sum()
    return out.to(device=device, dtype=torch.float32)


def load_weights_dir(path: Path) -> tuple[TinyClipConfig, dict, Path]:
    """(config, metadata, weights file) of a saved tiny CLIP folder or weights file."""
    try:
        return read_weights_dir(path)
    except FileNotFoundError as e:
        raise GapkitError(
            f"{str(e)[0].upper()}{str(e)[1:]}. Retrain with `gapkit world train-clip` or reinstall gapkit."
        ) from None


@ENCODERS.register("gapkit-shapes")
class ShapesClipEncoder(Encoder):
    """The shapes world's tiny CLIP (open_clip CLIP classes, word-level tokenizer)."""

    backend = "gapkit-shapes"

    @staticmethod
    def claims(spec: str) -> bool:
        return spec == "gapkit-shapes" or spec.startswith("gapkit-shapes:")

    def __init__(self, spec: str, device: str | None = None) -> None:
        super().__init__(spec, device)
        tag = spec.split(":", 1)[1] if ":" in spec else ""
        self._weights: Path | None = None
        if tag == "random-init":
            self.config, self.meta, self._sha = TinyClipConfig(), {}, f"random-init:seed={RANDOM_INIT_SEED}"
        else:
            self.config, self.meta, self._weights = load_weights_dir(Path(tag) if tag else ASSET_DIR)
            self._sha = file_sha256(self._weights)
        self.tokenizer = WordTokenizer(self.config.words, self.config.context_length)
        self._transform = ShapesTransform(self.config.image_size)
        self._model = None  # built on first use: a warm cache never needs it (or open_clip's import)

    @property
    def model(self) -> torch.nn.Module:
        if self._model is None:
            from safetensors.torch import load_file

            state = load_file(str(self._weights)) if self._weights is not None else None
            try:
                self._model = TinyClip(self.config, state, str(self.device)).model
            except ValueError as e:
                raise GapkitError(
                    f"{self._weights} does not match the tiny CLIP config beside it: {e}."
                ) from None
        return self._model

    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.detach().exp())

    def _image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(pixels)

    def _text_features(self, texts: Sequence[str]) -> torch.Tensor:
        ids = torch.from_numpy(self.tokenizer.encode(list(texts))).to(self.device)
        return self.model.encode_text(ids)
