"""Train the tiny CLIP from scratch on the shapes world: symmetric InfoNCE on pre-rendered scenes
with freshly drawn partial captions (optionally after a supervised warm start over every factor).

Scheduled in optimizer steps (wall time on shared CPUs varies 2-3x). Deterministic from the seed:
model init, batch order and caption choice come from explicit generators, and a checkpoint
stores the stream's state so a resumed run continues the same sequence of batches.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..cache import cache_root
from ..io import write_json
from ..progress import progress
from ..streams import stream
from ..worlds.shapes import catalog
from ..worlds.shapes.draw import render_array
from .checks import Check, ConfigValueError, check_fields, check_keys, checked
from .heads import FactorHeads, TrunkHeads, trunk_features
from .model import TinyClipConfig, preprocess, seeded_model
from .probes import geometry, image_probes, test_pairs, test_split, text_probes
from .stream import ScenePool, training_batch
from .tokenizer import WordTokenizer

SEED_MAX = 2**32 - 1  # numpy, torch and scikit-learn all accept seeds in 0..2^32-1
WARM_STARTS = ("embedding", "trunk")
STEPS, COUNT = Check("int", lo=1), Check("int", lo=0)
FRACTION = Check("number", lo=0.0, hi=1.0)

# What each architecture key accepts (TinyClipConfig, checked when a training config is built;
# the combinations open_clip needs are checked in ``_check_model``).
MODEL_CHECKS = {
    "embed_dim": STEPS,
    "image_size": Check("choice", choices=(catalog.IMAGE_SIZE,)),  # the world renders this size
    "vision": Check("choice", choices=("resnet", "vit")),
    "patch_size": STEPS,
    "vision_width": STEPS,
    "vision_layers": STEPS,
    "text_width": STEPS,
    "text_layers": STEPS,
    "head_width": STEPS,
    "context_length": Check("int", lo=3),  # SOT, one word, EOT
    "init_logit_scale": Check("number", lo=0.0, hi=math.log(100)),  # training clamps it there
    "words": Check("words"),
}


@dataclass
class TrainClipConfig:
    model: TinyClipConfig = field(default_factory=TinyClipConfig)
    steps: int = checked(3000, STEPS)
    batch_size: int = checked(128, Check("int", lo=2))  # InfoNCE needs negatives
    lr: float = checked(1e-3, Check("number", lo=0.0, open_lo=True))
    weight_decay: float = checked(0.1, Check("number", lo=0.0))
    warmup_steps: int = checked(100, COUNT)
    seed: int = checked(0, Check("int", lo=0, hi=SEED_MAX))
    # Pre-rendered train-split scenes that batches draw from (captions are drawn anew each time).
    pool_size: int = checked(50000, STEPS)
    # Share of each batch that are one-factor counterfactual pairs, from step ``hard_start``.
    hard_fraction: float = checked(0.0, FRACTION)
    hard_start: int = checked(0, COUNT)
    # Temperature: learnable (its learning rate scaled by ``scale_lr``) until ``ramp_start``,
    # then moved linearly to ``ramp_to`` by ``ramp_end`` (fractions of ``steps``) and held.
    # ramp_start = 1 keeps it learnable throughout. The scale is clamped to 100 during training.
    ramp_start: float = checked(1.0, FRACTION)
    ramp_end: float = checked(1.0, FRACTION)
    ramp_to: float = checked(100.0, Check("number", lo=0.0, hi=100.0, open_lo=True))
    scale_lr: float = checked(1.0, Check("number", lo=0.0))
    # Supervised warm start of the image tower over every factor (heads discarded afterwards),
    # counted inside ``steps``. 0 = pure contrastive training. ``warm_start``: "embedding" (heads
    # on the image embedding) or "trunk" (heads on the final feature map; the attention pooling
    # and projection keep their initialisation, and with it the cone effect).
    pretrain_steps: int = checked(0, COUNT)
    warm_start: str = checked("embedding", Check("choice", choices=WARM_STARTS))
    # Keep the factor heads training beside InfoNCE, weighted by ``aux_weight`` (their summed
    # cross-entropy over every factor): the image embedding must keep encoding the factors that
    # captions seldom state. 0 = InfoNCE alone. Reads the image embedding, so warm_start "embedding".
    aux_weight: float = checked(0.0, Check("number", lo=0.0))
    # Start from earlier weights (a checkpoint.pt or a folder with model.safetensors): a later
    # stage of a multi-stage recipe. The architecture must match.
    init_from: str | None = checked(None, Check("path", optional=True))
    eval_every: int = checked(500, STEPS)
    probes_at_end: bool = checked(True, Check("bool"))
    checkpoint_every: int = checked(100, STEPS)
    threads: int = checked(2, STEPS)

    def __post_init__(self) -> None:
        """Every value checked now (``ConfigValueError``, also a ``ValueError``: the key, the
        value and what is allowed), before any folder is made or any model is built."""
        if not isinstance(self.model, TinyClipConfig):
            raise ConfigValueError(f"model must be a mapping of architecture keys, got {self.model!r}.")
        check_fields(self.model, "model.", MODEL_CHECKS)
        _check_model(self.model)
        check_fields(self)
        if self.aux_weight and self.warm_start != "embedding":
            raise ConfigValueError(
                'aux_weight needs warm_start "embedding" (its heads read the image embedding).'
            )
        if self.pretrain_steps > self.steps:
            raise ConfigValueError(
                f"pretrain_steps must be <= steps ({self.steps}; the warm start is counted inside "
                f"them), got {self.pretrain_steps}."
            )
        if self.batch_size > self.pool_size:
            raise ConfigValueError(
                f"batch_size must be <= pool_size ({self.pool_size}; a batch draws distinct scenes "
                f"from the pool), got {self.batch_size}."
            )
        if self.ramp_start < 1.0 and self.ramp_end < self.ramp_start:
            raise ConfigValueError(
                f"ramp_end must be >= ramp_start ({self.ramp_start}), got {self.ramp_end}."
            )

    @classmethod
    def from_dict(cls, d: dict) -> TrainClipConfig:
        """A config from a mapping (YAML); unknown keys and bad values raise ``ConfigValueError``."""
        check_keys(d, cls)
        d = dict(d)
        model = d.get("model", {})
        check_keys(model, TinyClipConfig, "model.")
        d["model"] = TinyClipConfig.from_dict(model)
        return cls(**d)


def _check_model(m: TinyClipConfig) -> None:
    """The combinations the towers need (``build_model``): ``head_width`` must split each tower's
    width into whole attention heads, and ViT patches must tile the image."""
    vision = m.vision_width * 32 if m.vision == "resnet" else m.vision_width  # ModifiedResNet: 32x
    towers = {
        "model.text_width": (m.text_width, max(1, m.text_width // m.head_width)),
        f"the {m.vision} tower's width": (vision, vision // m.head_width),
    }
    for name, (width, heads) in towers.items():
        if heads < 1 or width % heads:
            raise ConfigValueError(
                f"model.head_width must split {name} ({width}) into whole attention heads, "
                f"got {m.head_width}."
            )
    if m.vision == "vit" and m.image_size % m.patch_size:
        raise ConfigValueError(
            f"model.patch_size must divide model.image_size ({m.image_size}), got {m.patch_size}."
        )


def load_weights(path: Path) -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / "model.safetensors"
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def _lr(cfg: TrainClipConfig, step: int) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * t))


def _scheduled_logit_scale(cfg: TrainClipConfig, step: int, start_value: float) -> float | None:
    """The forced logit scale at ``step``, or None while it is learnable."""
    a, b = cfg.ramp_start * cfg.steps, cfg.ramp_end * cfg.steps
    if step < a or cfg.ramp_start >= 1.0:
        return None
    t = min(1.0, (step - a) / max(1.0, b - a))
    return start_value + t * (cfg.ramp_to - start_value)


def _soft_targets(texts: list[str]) -> torch.Tensor:
    """Equal captions in one batch are not negatives of each other: (B, B) row-stochastic."""
    same = torch.from_numpy(np.array([[a == b for b in texts] for a in texts], dtype=np.float32))
    return same / same.sum(1, keepdim=True)


class Trainer:
    def __init__(self, cfg: TrainClipConfig, out_dir: Path, pool_cache: Path | None = None) -> None:
        self.cfg, self.out = cfg, Path(out_dir)
        self.tokenizer = WordTokenizer(cfg.model.words, cfg.model.context_length)
        self.model = seeded_model(cfg.model, cfg.seed)
        if cfg.init_from:
            self.model.load_state_dict(load_weights(Path(cfg.init_from)))
        self.heads = (
            TrunkHeads(self.model.visual.layer4[-1].conv3.out_channels)
            if cfg.warm_start == "trunk"
            else FactorHeads(cfg.model.embed_dim)
        )
        self.opt = self._optimizer()
        self.pool = ScenePool(cfg.seed, cfg.pool_size, pool_cache or cache_root() / "scene-pools")
        self.rng = stream(cfg.seed, "clip-batches")
        self.step = 0
        self.train_seconds = 0.0  # summed over resumed segments
        self.scale_at_ramp: float | None = None
        self.history: list[dict] = []
        self._eval = None

    def _optimizer(self) -> torch.optim.Optimizer:
        named = list(self.model.named_parameters())
        decay = [p for n, p in named if p.ndim >= 2 and "logit" not in n]
        rest = [p for n, p in named if p.ndim < 2 and "logit" not in n]
        groups = [
            {"params": decay, "weight_decay": self.cfg.weight_decay},
            {"params": rest, "weight_decay": 0.0},
            {"params": [self.model.logit_scale], "weight_decay": 0.0, "lr_mult": self.cfg.scale_lr},
        ]
        if self.cfg.pretrain_steps or self.cfg.aux_weight:
            groups.append({"params": list(self.heads.parameters()), "weight_decay": 0.0})
        return torch.optim.AdamW(groups, lr=self.cfg.lr)

    # --- checkpointing ---------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "heads": self.heads.state_dict(),
            "opt": self.opt.state_dict(),
            "step": self.step,
            "rng": self.rng.bit_generator.state,
            "scale_at_ramp": self.scale_at_ramp,
            "history": self.history,
            "config": dataclasses.asdict(self.cfg),
            "train_seconds": self.train_seconds,
        }

    def save(self) -> None:
        tmp = self.out / "checkpoint.pt.tmp"
        torch.save(self.state(), tmp)
        tmp.replace(self.out / "checkpoint.pt")

    def load(self, path: Path) -> None:
        st = torch.load(path, map_location="cpu", weights_only=False)
        self.model.load_state_dict(st["model"])
        self.heads.load_state_dict(st["heads"])
        self.opt.load_state_dict(st["opt"])
        self.step, self.scale_at_ramp, self.history = st["step"], st["scale_at_ramp"], st["history"]
        self.rng.bit_generator.state = st["rng"]
        self.train_seconds = st.get("train_seconds", 0.0)

    # --- encoding helpers used by evaluation -------------------------------------------------
    @torch.no_grad()
    def encode_images(self, images: np.ndarray) -> np.ndarray:
        self.model.eval()
        out = [
            self.model.encode_image(preprocess(images[i : i + 500]), normalize=True)
            for i in range(0, len(images), 500)
        ]
        return torch.cat(out).numpy()

    @torch.no_grad()
    def encode_texts(self, texts: list[str]) -> np.ndarray:
        self.model.eval()
        ids = torch.from_numpy(self.tokenizer.encode(texts))
        return torch.cat(
            [self.model.encode_text(ids[i : i + 1000], normalize=True) for i in range(0, len(ids), 1000)]
        ).numpy()

    # --- one optimisation step ---------------------------------------------------------------
    def _set_lr(self) -> float:
        lr = _lr(self.cfg, self.step)
        for g in self.opt.param_groups:
            g["lr"] = lr * g.get("lr_mult", 1.0)
        return lr

    def pretrain_step(self) -> dict:
        """Supervised warm start: image tower -> every factor of every cell and of the scene."""
        images, _, scenes = training_batch(self.pool, self.rng, self.cfg.batch_size)
        lr = self._set_lr()
        self.model.train()
        pixels = preprocess(images)
        feats = (
            trunk_features(self.model.visual, pixels)
            if self.cfg.warm_start == "trunk"
            else self.model.encode_image(pixels)
        )
        loss = self.heads.loss(feats, scenes)
        self._update(loss)
        return {
            "loss": float(loss.detach()),
            "logit_scale": float(self.model.logit_scale.detach().exp()),
            "lr": lr,
        }

    def _update(self, loss: torch.Tensor) -> None:
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step += 1

    def train_step(self) -> dict:
        cfg = self.cfg
        if self.step < cfg.pretrain_steps:
            return self.pretrain_step()
        hard = cfg.hard_fraction if self.step >= cfg.hard_start else 0.0
        images, texts, scenes = training_batch(self.pool, self.rng, cfg.batch_size, hard)
        ids = torch.from_numpy(self.tokenizer.encode(texts))  # (B, L)
        forced = _scheduled_logit_scale(cfg, self.step, self._scale_at_ramp())
        if forced is not None:
            self.model.logit_scale.data.fill_(math.log(forced))
            self.model.logit_scale.requires_grad_(False)
        lr = self._set_lr()
        self.model.train()
        img, txt, scale = self.model(preprocess(images), ids)[:3]  # (B, D), (B, D), ()
        logits = scale * img @ txt.T
        target = _soft_targets(texts)
        loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
        if cfg.aux_weight:
            loss = loss + cfg.aux_weight * self.heads.loss(img, scenes)
        self._update(loss)
        with torch.no_grad():
            self.model.logit_scale.clamp_(0, math.log(100))
        return {"loss": float(loss.detach()), "logit_scale": float(scale.detach()), "lr": lr}

    def _scale_at_ramp(self) -> float:
        if self.scale_at_ramp is None and self.step >= self.cfg.ramp_start * self.cfg.steps:
            self.scale_at_ramp = float(self.model.logit_scale.detach().exp())
        return self.scale_at_ramp or 0.0

    def evaluate(self, probes: bool = False) -> dict:
        if self._eval is None:
            scenes, texts, owner = test_pairs(test_split(seed=0))
            self._eval = (render_array(scenes), texts, owner)
        images, texts, owner = self._eval
        m = geometry(self.encode_images(images), self.encode_texts(texts), owner, seed=self.cfg.seed)
        if probes:
            m.update(
                {
                    f"probe_image_{k}": v
                    for k, v in image_probes(self.encode_images, seed=self.cfg.seed).items()
                }
            )
            m.update(
                {f"probe_text_{k}": v for k, v in text_probes(self.encode_texts, seed=self.cfg.seed).items()}
            )
        m["step"] = self.step
        m["logit_scale"] = float(self.model.logit_scale.detach().exp())
        return m


def train_tiny_clip(
    cfg: TrainClipConfig, out_dir: Path, resume: bool = False, log=print, pool_cache: Path | None = None
) -> Trainer:
    """Run (or resume) training; writes checkpoint.pt, history.json under ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    tr = Trainer(cfg, out, pool_cache)
    if resume and (out / "checkpoint.pt").exists():
        tr.load(out / "checkpoint.pt")
        log(f"resumed from step {tr.step}")
    t0, seen, losses = time.time(), 0, []
    bar = progress(total=cfg.steps, initial=tr.step, desc="train-clip", unit="step")
    while tr.step < cfg.steps:
        t_step = time.time()
        stats = tr.train_step()
        tr.train_seconds += time.time() - t_step
        seen += cfg.batch_size
        losses.append(stats["loss"])
        bar.update(1)
        bar.set_postfix(
            loss=f"{stats['loss']:.3f}",
            scale=f"{stats['logit_scale']:.1f}",
            pairs_s=f"{seen / (time.time() - t0):.0f}",
        )
        if tr.step % cfg.checkpoint_every == 0 or tr.step == cfg.steps:
            tr.save()
        final = tr.step == cfg.steps
        if tr.step % cfg.eval_every == 0 or final:
            m = tr.evaluate(probes=final and cfg.probes_at_end)
            m["train_seconds"] = round(tr.train_seconds, 1)
            m["train_loss"] = float(np.mean(losses)) if losses else None  # since the last evaluation
            losses = []
            tr.history.append(m)
            log(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items()}))
            write_json(out / "history.json", tr.history)  # atomic: a kill never leaves half a file
            tr.save()
    bar.close()
    return tr


def export_weights(
    trainer: Trainer,
    folder: Path,
    total_steps: int | None = None,
    total_seconds: float | None = None,
    recipe: list | None = None,
) -> Path:
    """Write ``model.safetensors`` + ``config.json`` (architecture, training config, time)."""
    from safetensors.torch import save

    from ..io import atomic_file, write_json

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().clone() for k, v in trainer.model.state_dict().items()}
    with atomic_file(folder / "model.safetensors", "wb") as f:
        f.write(save(state))
    cfg = dataclasses.asdict(trainer.cfg)
    write_json(
        folder / "config.json",
        {
            "model": cfg.pop("model"),
            "training": cfg,
            "steps_done": total_steps if total_steps is not None else trainer.step,
            "train_seconds": round(total_seconds if total_seconds is not None else trainer.train_seconds, 1),
            "torch_threads": torch.get_num_threads(),
            "recipe": recipe,
            "final_eval": trainer.history[-1] if trainer.history else None,
        },
    )
    return folder
