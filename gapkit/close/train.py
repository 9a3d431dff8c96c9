"""The CLOSE training loop: read top to bottom.

AdamW, learning rate with optional warm-up then linear decay to 0 by optimizer steps, epochs over
a seeded permutation, the adapter on the text vectors (training mode only). A checkpoint after
every epoch holds model, optimizer, step, adapter generator state and history, so ``--resume``
continues an interrupted run to the same final numbers. Dropout draws from torch's RNG, which is
seeded per epoch inside ``fork_rng`` (the caller's global RNG state is left as it was)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from ..io import atomic_file
from ..progress import progress
from ..streams import stream
from .batches import Tokenized
from .decode import evaluate_split, gap_log
from .prepare import Prepared

log = logging.getLogger("gapkit.close")
CHECKPOINT = "checkpoint.pt"


def _lr_factor(step: int, total: int, warmup: int) -> float:
    if warmup and step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


class CloseTrainer:
    def __init__(self, prep: Prepared, run_dir: Path) -> None:
        self.p, self.run = prep, Path(run_dir)
        cfg = prep.cfg
        self.max_len = cfg.max_len or prep.task.max_len
        # lr, weight_decay, epochs, batch_size: the config's, else the decoder's defaults (CLOSE's for a T5)
        self.hp = cfg.resolved_training()
        self.data = Tokenized(prep.tokenizer, prep.train.examples, self.max_len)
        self.steps_per_epoch = int(np.ceil(len(prep.train.examples) / self.hp["batch_size"]))
        self.total_steps = self.steps_per_epoch * self.hp["epochs"]
        self.opt = torch.optim.AdamW(
            prep.model.parameters(), lr=self.hp["lr"], weight_decay=self.hp["weight_decay"]
        )
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: _lr_factor(s, self.total_steps, cfg.warmup_steps)
        )
        self.epoch, self.step, self.history = 0, 0, []

    # --- checkpoints ---------------------------------------------------------------------------
    def save(self) -> None:
        state = {
            "model": self.p.model.state_dict(),
            "opt": self.opt.state_dict(),
            "sched": self.sched.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "history": self.history,
            "adapter_rng": self.p.adapter.rng_state(),
            "adapter_fitted": self.p.adapter.fitted_state(),
        }
        with atomic_file(self.run / CHECKPOINT, "wb") as f:
            torch.save(state, f)

    def load(self) -> None:
        st = torch.load(self.run / CHECKPOINT, map_location=self.p.device, weights_only=False)
        self.p.model.load_state_dict(st["model"])
        self.opt.load_state_dict(st["opt"])
        self.sched.load_state_dict(st["sched"])
        self.epoch, self.step, self.history = st["epoch"], st["step"], st["history"]
        self.p.adapter.set_rng_state(st["adapter_rng"])
        self.p.adapter.load_fitted_state(st["adapter_fitted"])

    # --- one epoch -----------------------------------------------------------------------------
    def _autocast(self):
        if self.p.device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return torch.autocast("cpu", enabled=False)

    def train_epoch(self) -> dict:
        cfg, model, adapter = self.p.cfg, self.p.model, self.p.adapter
        order = stream(cfg.seed, "epoch-order", offset=self.epoch).permutation(len(self.p.train.examples))
        vectors = torch.from_numpy(self.p.train.vectors)
        model.train()
        adapter.train()
        losses, seen, t0 = [], 0, time.time()
        batch = self.hp["batch_size"]
        bar = progress(
            total=self.steps_per_epoch, desc=f"epoch {self.epoch + 1}/{self.hp['epochs']}", unit="step"
        )
        with torch.random.fork_rng(devices=[self.p.device] if self.p.device.type == "cuda" else []):
            torch.manual_seed(cfg.seed * 1000 + self.epoch)  # dropout, reproducible across resumes
            for s in range(0, len(order), batch):
                idx = order[s : s + batch]
                clip = adapter(vectors[idx])  # (B, d): noise etc. on text vectors, identity on images
                clip, extra_ids, extra_mask, labels = self.data.train_batch(idx, clip)
                dev = self.p.device
                with self._autocast():
                    loss = model(
                        clip.to(dev),
                        None if extra_ids is None else extra_ids.to(dev),
                        None if extra_mask is None else extra_mask.to(dev),
                        labels.to(dev),
                    )
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                self.opt.step()
                self.sched.step()
                self.step += 1
                losses.append(float(loss.detach()))
                seen += len(idx)
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.3f}", lr=f"{self.sched.get_last_lr()[0]:.2e}")
        bar.close()
        dt = time.time() - t0
        return {
            "epoch": self.epoch + 1,
            "step": self.step,
            "loss": float(np.mean(losses)),
            "lr": self.sched.get_last_lr()[0],
            "samples_per_s": seen / max(dt, 1e-9),
            "seconds": dt,
        }

    def fit(self) -> list[dict]:
        cfg = self.p.cfg
        while self.epoch < self.hp["epochs"]:
            rec = self.train_epoch()
            rec.update(gap_log(self.p))
            if cfg.eval_each_epoch:
                rec["val"] = evaluate_split(self.p, cfg.eval_split, self.max_len)[0]
            self.epoch += 1
            self.history.append(rec)
            log.info("epoch %s", json.dumps(rec))
            self.save()
        return self.history
