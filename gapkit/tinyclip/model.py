"""The tiny CLIP: an open_clip ``CLIP`` built from a custom config, a word-level tokenizer over
the shapes world's vocabulary, and its fixed image preprocessing."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch

from ..worlds.shapes import spec
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
    image_size: int = spec.IMAGE_SIZE
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
    context_length: int = 40
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
        "resnet": lambda: CLIPVisionCfg(image_size=cfg.image_size, layers=(1,) * cfg.vision_layers,
                                        width=cfg.vision_width, head_width=cfg.head_width),
        "vit": lambda: CLIPVisionCfg(image_size=cfg.image_size, patch_size=cfg.patch_size,
                                     width=cfg.vision_width, layers=cfg.vision_layers,
                                     head_width=cfg.head_width),
    }
    if cfg.vision not in towers:
        raise ValueError(f"unknown vision tower {cfg.vision!r}; known: {', '.join(towers)}")
    vision = towers[cfg.vision]()
    text = CLIPTextCfg(
        context_length=cfg.context_length, vocab_size=tokenizer.vocab_size,
        width=cfg.text_width, heads=max(1, cfg.text_width // cfg.head_width),
        layers=cfg.text_layers, pad_id=0, eos_id=tokenizer.eot_id,
    )
    return open_clip.CLIP(cfg.embed_dim, vision, text, init_logit_scale=cfg.init_logit_scale)


def seeded_model(cfg: TinyClipConfig, seed: int) -> torch.nn.Module:
    """``build_model`` with a seeded init that leaves torch's global RNG untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(cfg)


def preprocess(images: np.ndarray) -> torch.Tensor:
    """(n, H, W, 3) uint8 -> (n, 3, H, W) float32, scaled to about [-1, 1]."""
    x = torch.from_numpy(np.array(images, dtype=np.uint8)).permute(0, 3, 1, 2).float()  # copy: PIL arrays are read-only
    return (x / 255.0 - PIXEL_MEAN) / PIXEL_STD
