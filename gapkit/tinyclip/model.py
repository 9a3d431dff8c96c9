"""The tiny CLIP: an open_clip ``CLIP`` built from a custom config, a word-level tokenizer over
the shapes world's vocabulary, and its fixed image preprocessing."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..worlds.shapes import catalog
from ..worlds.shapes.vocab import lexicon
from .tokenizer import WordTokenizer

# Pixel normalisation: the world's images are synthetic, so a fixed symmetric scaling is used
# rather than dataset statistics (part of the encoder identity through the config).
PIXEL_MEAN = 0.5
PIXEL_STD = 0.5


@dataclass
class TinyClipConfig:
    """Architecture of the tiny CLIP (saved next to its weights)."""

    # 512, as ViT-B/32 and ViT-B/16, so CLOSE's per-dimension noise applies as published.
    embed_dim: int = 512
    image_size: int = catalog.IMAGE_SIZE
    # "resnet": open_clip's ModifiedResNet (CLIP's RN tower, attention pooling) with one block
    # per stage; "vit": VisionTransformer with ``patch_size``. The ResNet learns shape far
    # faster on 32 px scenes (see the model card).
    vision: str = "resnet"
    patch_size: int = 4
    vision_width: int = 16
    vision_layers: int = 4
    text_width: int = 128
    text_layers: int = 4
    head_width: int = 32
    context_length: int = 32  # the longest caption or styled caption is 27 words
    init_logit_scale: float = float(np.log(1 / 0.07))
    words: list[str] = field(default_factory=lexicon)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TinyClipConfig:
        return cls(**d)


def build_model(cfg: TinyClipConfig) -> torch.nn.Module:
    """An untrained open_clip ``CLIP`` for ``cfg`` (uses torch's global RNG for init: callers
    wrap it in ``torch.random.fork_rng`` and seed)."""
    import open_clip
    from open_clip.model import CLIPTextCfg, CLIPVisionCfg

    tokenizer = WordTokenizer(cfg.words, cfg.context_length)
    towers = {
        "resnet": lambda: CLIPVisionCfg(
            image_size=cfg.image_size,
            layers=(1,) * cfg.vision_layers,
            width=cfg.vision_width,
            head_width=cfg.head_width,
        ),
        "vit": lambda: CLIPVisionCfg(
            image_size=cfg.image_size,
            patch_size=cfg.patch_size,
            width=cfg.vision_width,
            layers=cfg.vision_layers,
            head_width=cfg.head_width,
        ),
    }
    if cfg.vision not in towers:
        raise ValueError(f"unknown vision tower {cfg.vision!r}; known: {', '.join(towers)}")
    vision = towers[cfg.vision]()
    text = CLIPTextCfg(
        context_length=cfg.context_length,
        vocab_size=tokenizer.vocab_size,
        width=cfg.text_width,
        heads=max(1, cfg.text_width // cfg.head_width),
        layers=cfg.text_layers,
        pad_id=0,
        eos_id=tokenizer.eot_id,
    )
    return open_clip.CLIP(cfg.embed_dim, vision, text, init_logit_scale=cfg.init_logit_scale)


def seeded_model(cfg: TinyClipConfig, seed: int) -> torch.nn.Module:
    """``build_model`` with a seeded init that leaves torch's global RNG untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(cfg)


def preprocess(images: np.ndarray) -> torch.Tensor:
    """(n, H, W, 3) uint8 -> (n, 3, H, W) float32, scaled to about [-1, 1]."""
    x = (
        torch.from_numpy(np.array(images, dtype=np.uint8)).permute(0, 3, 1, 2).float()
    )  # copy: PIL arrays are read-only
    return (x / 255.0 - PIXEL_MEAN) / PIXEL_STD


WEIGHTS = "model.safetensors"
CONFIG = "config.json"
RANDOM_INIT_SEED = 0


class TinyClip:
    """A loaded tiny CLIP: unit-norm encoders over uint8 images and raw texts (CPU, eval mode)."""

    def __init__(self, config: TinyClipConfig, state: dict | None, device: str = "cpu") -> None:
        from .tokenizer import WordTokenizer

        self.config = config
        self.tokenizer = WordTokenizer(config.words, config.context_length)
        self.model = seeded_model(config, RANDOM_INIT_SEED)
        if state is not None:
            missing, unexpected = self.model.load_state_dict(state, strict=False)
            if missing or unexpected:
                raise ValueError(
                    f"weights do not match the config (missing {missing[:3]}, unexpected {unexpected[:3]})"
                )
        self.model.eval().to(device)
        self.device = torch.device(device)

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.detach().exp())

    @torch.no_grad()
    def encode_images(self, images: np.ndarray, batch: int = 500) -> np.ndarray:
        """(n, H, W, 3) uint8 -> (n, d) unit rows."""
        return (
            torch.cat(
                [
                    self.model.encode_image(preprocess(images[i : i + batch]).to(self.device), normalize=True)
                    for i in range(0, len(images), batch)
                ]
            )
            .cpu()
            .numpy()
        )

    @torch.no_grad()
    def encode_texts(self, texts: list[str], batch: int = 1000) -> np.ndarray:
        ids = torch.from_numpy(self.tokenizer.encode(texts)).to(self.device)
        return (
            torch.cat(
                [
                    self.model.encode_text(ids[i : i + batch], normalize=True)
                    for i in range(0, len(ids), batch)
                ]
            )
            .cpu()
            .numpy()
        )


def read_weights_dir(path) -> tuple[TinyClipConfig, dict, Path]:
    """(config, metadata, weights file) of a saved tiny CLIP folder or weights file; raises
    FileNotFoundError naming what is missing."""
    path = Path(path)
    weights = path / WEIGHTS if path.is_dir() else path
    cfg_file = weights.parent / CONFIG
    if not weights.is_file():
        raise FileNotFoundError(f"tiny CLIP weights not found: looked for {weights}")
    if not cfg_file.is_file():
        raise FileNotFoundError(f"tiny CLIP config not found beside its weights: looked for {cfg_file}")
    meta = json.loads(cfg_file.read_text())
    return TinyClipConfig.from_dict(meta["model"]), meta, weights


def load_tiny_clip(path, device: str = "cpu") -> TinyClip:
    from safetensors.torch import load_file

    config, _, weights = read_weights_dir(path)
    return TinyClip(config, load_file(str(weights)), device)
