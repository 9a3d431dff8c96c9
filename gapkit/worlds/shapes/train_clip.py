"""Train the tiny CLIP from scratch on the shapes world: symmetric InfoNCE on streamed pairs.

Scheduled in optimizer steps (wall time on shared CPUs varies 2-3x). Deterministic from the seed:
model init, scene stream and caption choice all come from explicit generators, and a checkpoint
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

from ...progress import progress
from . import spec
from .clip import TinyClipConfig, preprocess, seeded_model
from .evaluate import model_card_metrics
from .render import render_array
from .sampling import training_batch
from .scene import sample_in_split
from .vocab import WordTokenizer


@dataclass
class TrainClipConfig:
    model: TinyClipConfig = field(default_factory=TinyClipConfig)
    steps: int = 3000
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup_steps: int = 100
    seed: int = 0
    # Hard negatives: share of each batch that are one-attribute counterfactual partners,
    # switched on after ``hard_start`` steps.
    hard_fraction: float = 0.5
    hard_start: int = 0
    attribute_weights: dict[str, float] = field(
        default_factory=lambda: {"shape": 2.0, "colour": 1.0, "size": 1.0, "position": 1.0, "count": 1.0})
    # Temperature: learnable until ``ramp_start``, then the logit scale is moved linearly to
    # ``ramp_to`` by ``ramp_end`` (fractions of ``steps``) and held. A large final scale is what
    # keeps a CLIP-sized modality gap (Liang et al. 2022); learning stalls if it starts there.
    ramp_start: float = 0.3
    ramp_end: float = 0.6
    ramp_to: float = 50.0
    # Optional supervised warm start of the image tower (per-position shape/colour/size heads,
    # discarded afterwards), counted inside ``steps``. 0 = pure contrastive training.
    pretrain_steps: int = 0
    # Start from earlier weights (a checkpoint.pt or a folder with model.safetensors): a later
    # stage of a multi-stage recipe. The architecture must match.
    init_from: str | None = None
    eval_every: int = 500
    checkpoint_every: int = 100
    threads: int = 2

    @classmethod
    def from_dict(cls, d: dict) -> TrainClipConfig:
        d = dict(d)
        d["model"] = TinyClipConfig.from_dict(d.get("model", {}))
        return cls(**d)


def _load_weights(path: Path) -> dict:
    if path.is_dir():
        path = path / "model.safetensors"
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


class AttributeHeads(torch.nn.Module):
    """Linear heads predicting, for each anchor position, the shape (or empty), colour and size."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.sizes = (len(spec.SHAPES) + 1, len(spec.COLOURS) + 1, len(spec.SIZES) + 1)
        self.linear = torch.nn.Linear(dim, len(spec.POSITIONS) * sum(self.sizes))

    def targets(self, scenes) -> torch.Tensor:
        """(B, positions, 3) class ids; 0 = no object there."""
        t = np.zeros((len(scenes), len(spec.POSITIONS), 3), dtype=np.int64)
        for b, s in enumerate(scenes):
            for o in s.objects:
                p = spec.POSITIONS.index(o.position)
                t[b, p] = (spec.SHAPES.index(o.shape) + 1, spec.COLOURS.index(o.colour) + 1,
                           spec.SIZES.index(o.size) + 1)
        return torch.from_numpy(t)

    def loss(self, feats: torch.Tensor, scenes) -> torch.Tensor:
        logits = self.linear(feats).view(len(scenes), len(spec.POSITIONS), -1)  # (B, P, sum sizes)
        t = self.targets(scenes)
        parts = torch.split(logits, self.sizes, dim=-1)
        return sum(F.cross_entropy(part.reshape(-1, part.shape[-1]), t[..., k].reshape(-1))
                   for k, part in enumerate(parts)) / len(parts)


def _lr(cfg: TrainClipConfig, step: int) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * t))


def _scheduled_logit_scale(cfg: TrainClipConfig, step: int, start_value: float) -> float | None:
    """The forced logit scale at ``step``, or None while it is learnable."""
    a, b = cfg.ramp_start * cfg.steps, cfg.ramp_end * cfg.steps
    if step < a:
        return None
    t = min(1.0, (step - a) / max(1.0, b - a))
    return start_value + t * (cfg.ramp_to - start_value)


class Trainer:
    def __init__(self, cfg: TrainClipConfig, out_dir: Path) -> None:
        self.cfg, self.out = cfg, Path(out_dir)
        self.tokenizer = WordTokenizer(cfg.model.words, cfg.model.context_length)
        self.model = seeded_model(cfg.model, cfg.seed)
        if cfg.init_from:
            self.model.load_state_dict(_load_weights(Path(cfg.init_from)))
        decay = [p for n, p in self.model.named_parameters() if p.ndim >= 2 and "logit" not in n]
        rest = [p for n, p in self.model.named_parameters() if p.ndim < 2 or "logit" in n]
        self.opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}],
            lr=cfg.lr,
        )
        self.heads = AttributeHeads(cfg.model.embed_dim)
        if cfg.pretrain_steps:
            self.opt.add_param_group({"params": list(self.heads.parameters()), "weight_decay": 0.0})
        self.rng = np.random.default_rng([cfg.seed, 1])
        self.step = 0
        self.train_seconds = 0.0  # summed over resumed segments
        self.scale_at_ramp: float | None = None
        self.history: list[dict] = []

    # --- checkpointing ---------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "model": self.model.state_dict(), "heads": self.heads.state_dict(),
            "opt": self.opt.state_dict(), "step": self.step,
            "rng": self.rng.bit_generator.state, "scale_at_ramp": self.scale_at_ramp,
            "history": self.history, "config": dataclasses.asdict(self.cfg),
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
        out = [self.model.encode_image(preprocess(images[i:i + 512]), normalize=True)
               for i in range(0, len(images), 512)]
        return torch.cat(out).numpy()

    @torch.no_grad()
    def encode_texts(self, texts: list[str]) -> np.ndarray:
        self.model.eval()
        ids = torch.from_numpy(self.tokenizer.encode(texts))
        return torch.cat([self.model.encode_text(ids[i:i + 512], normalize=True)
                          for i in range(0, len(ids), 512)]).numpy()

    # --- one optimisation step ---------------------------------------------------------------
    def pretrain_step(self) -> dict:
        """Supervised warm start: image tower -> per-position attribute logits."""
        scenes = [sample_in_split(self.rng, "train") for _ in range(self.cfg.batch_size)]
        images = preprocess(render_array(scenes))
        for g in self.opt.param_groups:
            g["lr"] = _lr(self.cfg, self.step)
        self.model.train()
        loss = self.heads.loss(self.model.encode_image(images), scenes)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step += 1
        return {"loss": float(loss.detach()), "logit_scale": float(self.model.logit_scale.detach().exp()),
                "lr": _lr(self.cfg, self.step - 1)}

    def train_step(self) -> dict:
        cfg = self.cfg
        if self.step < cfg.pretrain_steps:
            return self.pretrain_step()
        hard = cfg.hard_fraction if self.step >= cfg.hard_start else 0.0
        scenes, texts = training_batch(self.rng, cfg.batch_size, hard, cfg.attribute_weights)
        images = preprocess(render_array(scenes))  # (B, 3, H, W)
        ids = torch.from_numpy(self.tokenizer.encode(texts))  # (B, L)
        forced = _scheduled_logit_scale(cfg, self.step, self._scale_at_ramp())
        if forced is not None:
            self.model.logit_scale.data.fill_(math.log(forced))
            self.model.logit_scale.requires_grad_(False)
        for g in self.opt.param_groups:
            g["lr"] = _lr(cfg, self.step)
        self.model.train()
        img, txt, scale = self.model(images, ids)[:3]  # (B, D), (B, D), ()
        logits = scale * img @ txt.T
        # Equal captions in one batch are not negatives of each other: use soft targets.
        same = torch.from_numpy(np.array([[a == b for b in texts] for a in texts], dtype=np.float32))
        target = same / same.sum(1, keepdim=True)
        loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        with torch.no_grad():
            self.model.logit_scale.clamp_(0, math.log(100))
        self.step += 1
        return {"loss": float(loss.detach()), "logit_scale": float(scale.detach()), "lr": _lr(cfg, self.step - 1)}

    def _scale_at_ramp(self) -> float:
        if self.scale_at_ramp is None and self.step >= self.cfg.ramp_start * self.cfg.steps:
            self.scale_at_ramp = float(self.model.logit_scale.detach().exp())
        return self.scale_at_ramp or 0.0

    def evaluate(self) -> dict:
        m = model_card_metrics(self.encode_images, self.encode_texts, seed=self.cfg.seed)
        m["step"] = self.step
        m["logit_scale"] = float(self.model.logit_scale.detach().exp())
        return m


def train_tiny_clip(cfg: TrainClipConfig, out_dir: Path, resume: bool = False,
                    log=print) -> Trainer:
    """Run (or resume) training; writes checkpoint.pt, history.json under ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    tr = Trainer(cfg, out)
    if resume and (out / "checkpoint.pt").exists():
        tr.load(out / "checkpoint.pt")
        log(f"resumed from step {tr.step}")
    t0, seen = time.time(), 0
    bar = progress(total=cfg.steps, initial=tr.step, desc="train-clip", unit="step")
    while tr.step < cfg.steps:
        t_step = time.time()
        stats = tr.train_step()
        tr.train_seconds += time.time() - t_step
        seen += cfg.batch_size
        bar.update(1)
        bar.set_postfix(loss=f"{stats['loss']:.3f}", scale=f"{stats['logit_scale']:.1f}",
                        pairs_s=f"{seen / (time.time() - t0):.0f}")
        if tr.step % cfg.checkpoint_every == 0 or tr.step == cfg.steps:
            tr.save()
        if tr.step % cfg.eval_every == 0 or tr.step == cfg.steps:
            m = tr.evaluate()
            tr.history.append(m)
            log(json.dumps(m))
            (out / "history.json").write_text(json.dumps(tr.history, indent=1))
            tr.save()
    bar.close()
    return tr


def export_weights(trainer: Trainer, folder: Path, total_steps: int | None = None,
                   total_seconds: float | None = None, recipe: list | None = None) -> Path:
    """Write ``model.safetensors`` + ``config.json`` (architecture, training config, time)."""
    from ...io import atomic_file, write_json

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().clone() for k, v in trainer.model.state_dict().items()}
    with atomic_file(folder / "model.safetensors", "wb") as f:
        f.write(_safetensors_bytes(state))
    cfg = dataclasses.asdict(trainer.cfg)
    write_json(folder / "config.json", {
        "model": cfg.pop("model"), "training": cfg,
        "steps_done": total_steps if total_steps is not None else trainer.step,
        "train_seconds": round(total_seconds if total_seconds is not None else trainer.train_seconds, 1),
        "torch_threads": torch.get_num_threads(), "recipe": recipe,
        "final_eval": trainer.history[-1] if trainer.history else None,
    })
    return folder


def _safetensors_bytes(state: dict) -> bytes:
    from safetensors.torch import save

    return save(state)
