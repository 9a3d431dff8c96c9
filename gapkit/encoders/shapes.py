"""``gapkit-shapes``: the tiny CLIP trained by gapkit on its shapes world, shipped in the package."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import GapkitError
from ..worlds.shapes.clip import PIXEL_MEAN, PIXEL_STD, TinyClipConfig, preprocess, seeded_model
from ..worlds.shapes.vocab import WordTokenizer
from . import ENCODERS
from .base import Encoder, file_sha256

ASSET_DIR = Path(__file__).resolve().parent.parent / "assets" / "shapes-clip"
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
RANDOM_INIT_SEED = 0


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
        torchvision``); area interpolation is PIL's box filter for whole-number scale factors."""
        size = self.image_size

        def apply(x: torch.Tensor) -> torch.Tensor:
            if tuple(x.shape[1:]) != (size, size):
                x = torch.nn.functional.interpolate(x[None].float(), (size, size), mode="area")[0].round()
            return (x.float() / 255.0 - PIXEL_MEAN) / PIXEL_STD

        return apply


def load_weights_dir(path: Path) -> tuple[TinyClipConfig, dict, Path]:
    """(config, metadata, weights file) of a saved tiny CLIP folder or weights file."""
    path = Path(path)
    weights = path / WEIGHTS if path.is_dir() else path
    cfg_file = weights.parent / CONFIG
    if not weights.is_file():
        raise GapkitError(f"Tiny CLIP weights not found: looked for {weights}. "
                          "Retrain with `gapkit world train-clip` or reinstall gapkit.")
    if not cfg_file.is_file():
        raise GapkitError(f"Tiny CLIP config not found beside its weights: looked for {cfg_file}.")
    meta = json.loads(cfg_file.read_text())
    return TinyClipConfig.from_dict(meta["model"]), meta, weights


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
            model = seeded_model(self.config, RANDOM_INIT_SEED)
            if self._weights is not None:
                from safetensors.torch import load_file

                missing, unexpected = model.load_state_dict(load_file(str(self._weights)), strict=False)
                if missing or unexpected:
                    raise GapkitError(f"{self._weights} does not match the tiny CLIP config beside it "
                                      f"(missing {missing[:3]}, unexpected {unexpected[:3]}).")
            self._model = model.eval().to(self.device)
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
