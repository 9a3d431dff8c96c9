"""The CLOSE run configuration: one dataclass, YAML in and out. Resolution order:
defaults < YAML file < command-line flags < ``--set a.b=v``. The resolved config is saved in the
run folder and can be fed back to rerun."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import GapkitError
from ..io import read_yaml

# CLOSE's tuned per-task noise (code defaults, ViT-L/14, d = 768), kept as a *norm* w * sqrt(768)
# so the default carries over to other embedding sizes: w_d = norm / sqrt(d).
CLOSE_TUNED_NOISE = {"caption-single": 0.12, "caption-multi": 0.04, "caption-style": 0.12, "ve": 0.08,
                     "vqa": 0.04, "vqa-e": 0.04}
CLOSE_DIM = 768
SEED_MAX = 2**32 - 1  # numpy, torch and scikit-learn all accept seeds in 0..2^32-1


@dataclass
class CloseConfig:
    task: str = "caption-single"
    task_options: dict = field(default_factory=dict)
    # Data: an exported world folder (None: the embedded shapes world) or a real data root.
    world: str | None = None
    data_root: str | None = None
    data_files: dict = field(default_factory=dict)
    data_patterns: dict = field(default_factory=dict)
    encoder: str = "gapkit-shapes"
    template: str = "{}"
    decoder: str = "shapes-t5"
    decoder_options: dict = field(default_factory=dict)
    prefix_tokens: int = 4
    adapter: str = "noise"
    adapter_options: dict = field(default_factory=dict)  # e.g. {scale: -1}, {magnitude: 0.5}
    noise: float | None = None  # per-dimension std w; None: noise_norm / sqrt(d)
    noise_norm: float | None = None  # w * sqrt(d); None with noise None: the task's CLOSE default
    adapter_fit_split: str = "restval"  # paired data for mean-shift / linear / cov (COCO: restval)
    train_on: str = "text"  # "image": the CLOSE w/ images upper bound
    epochs: int = 4
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 0
    seed: int = 0
    max_train_examples: int | None = None  # seeded subsample of the training examples
    eval_split: str = "val"
    max_eval_examples: int | None = None
    beams: int = 5
    max_len: int | None = None  # None: the task's CLOSE default (32 / 16 / 8)
    meteor: bool = False
    device: str | None = None
    eval_each_epoch: bool = False

    def resolved_noise(self, dim: int) -> float:
        if self.noise is not None:
            return float(self.noise)
        if self.adapter == "none":
            return 0.0
        norm = self.noise_norm
        if norm is None:
            norm = CLOSE_TUNED_NOISE.get(self.task, 0.08) * math.sqrt(CLOSE_DIM)
        return float(norm) / math.sqrt(dim)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, path: Path) -> None:
        from ..io import atomic_file

        with atomic_file(path) as f:
            yaml.safe_dump(self.to_dict(), f, sort_keys=False)

    @classmethod
    def from_dict(cls, d: dict, source: str = "config") -> CloseConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], known, n=1)
            hint = f" Did you mean: {close[0]}?" if close else ""
            raise GapkitError(f"{source}: unknown key {unknown[0]!r}.{hint} Keys: {', '.join(sorted(known))}.")
        cfg = cls(**d)
        cfg.validate(source)
        return cfg

    @classmethod
    def load(cls, path: str | Path, overrides: dict | None = None) -> CloseConfig:
        path = Path(path)
        if not path.is_file():
            raise GapkitError(f"Config file not found: {path}")
        data = read_yaml(path, "config") or {}
        if not isinstance(data, dict):
            raise GapkitError(f"{path} must hold a mapping of config keys.")
        return cls.from_dict({**data, **(overrides or {})}, str(path))

    def validate(self, source: str = "config") -> None:
        from ..adapters import check_adapter_options
        from .data import check_data_overrides
        from .decoder import check_decoder_options
        from .tasks import check_task_options

        check_task_options(self.task, self.task_options, source)  # unknown task or option: did-you-mean
        check_adapter_options(self.adapter, self.adapter_options, source)
        check_decoder_options(self.decoder, self.decoder_options, source)
        check_data_overrides(self.data_files, self.data_patterns, self.data_root, source)
        if self.train_on not in ("text", "image"):
            raise GapkitError(f"{source}: train_on must be 'text' or 'image', got {self.train_on!r}.")
        if self.world and self.data_root:
            raise GapkitError(f"{source}: give world (an exported world) or data_root (real data), not both.")
        for key in ("epochs", "batch_size", "beams", "prefix_tokens"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 1:
                raise GapkitError(f"{source}: {key} must be a positive integer, got {getattr(self, key)!r}.")
        for key in ("max_train_examples", "max_eval_examples"):
            v = getattr(self, key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise GapkitError(f"{source}: {key} must be a positive integer (or null for all), got {v!r}.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= SEED_MAX:
            raise GapkitError(f"{source}: seed must be an integer in 0..{SEED_MAX}, got {self.seed!r}.")
        for key in ("noise", "noise_norm", "lr"):
            v = getattr(self, key)
            if v is not None and (not isinstance(v, (int, float)) or v < 0 or not math.isfinite(v)):
                raise GapkitError(f"{source}: {key} must be a number >= 0, got {v!r}.")
