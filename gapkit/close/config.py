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

# CLOSE's tuned per-task noise w, a per-dimension std (close/experiments/train.py: s-cap 0.12,
# m-cap 0.04, ve 0.08, vqa / vqa-e 0.04). CLOSE kept the same w for every CLIP from d = 512 to 1024
# (its Table 5), so the default is w itself whatever d is ("per-dimension"). "matched-norm" is the
# named alternative gapkit 0.1 used: the same expected noise norm as at CLOSE's d = 768, w * sqrt(768 / d).
# Each task's tuned w is its registry entry's ``tuned_noise`` (close/tasks.py).
CLOSE_FIXED_NOISE = 0.08  # the paper's "w = 0.08 for all tasks"; tasks without a tuned value get it
CLOSE_DIM = 768
SEED_MAX = 2**32 - 1  # numpy, torch and scikit-learn all accept seeds in 0..2^32-1
TUNED_NOISE = ("per-dimension", "matched-norm")
TRAINING_KEYS = ("lr", "weight_decay", "epochs", "batch_size")
# Config keys added after results were first written, with the value those results used: a grid
# cell's key leaves a key out at that value (committed cells keep their names) and a result file
# written before the key existed reads it back at that value.
ADDED_KEYS = {"world_seed": 0}


def without_added_defaults(config: dict) -> dict:
    """``config`` without the ADDED_KEYS that hold the value older results used."""
    return {k: v for k, v in config.items() if not (k in ADDED_KEYS and v == ADDED_KEYS[k])}


def _opt(default, help: str, flag: str | None = None):
    """A config field with its help text; ``flag``: the kind of its ``gapkit train`` option ("str",
    "float", "positive_int", "seed" or "bool"), None for keys set only through YAML or ``--set``."""
    meta = {"help": help, "flag": flag}
    if isinstance(default, dict):
        assert not default, "a dict default must be empty (it becomes a fresh {} per config)"
        return field(default_factory=dict, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class CloseConfig:
    """Every key of a CLOSE run. The help texts are the ``gapkit train`` option help (cli/train.py
    builds its flags from this metadata, so they cannot drift from the config)."""

    task: str = _opt("caption-single", "the CLOSE task (gapkit ls tasks)", "str")
    task_options: dict = _opt({}, "the task's options, e.g. {style: humor} for caption-style")
    world: str | None = _opt(None, "an exported shapes-world folder (default: the embedded world)", "str")
    # The shipped tiny CLIP was trained on seed 0's train split; other seeds draw new scenes from
    # the same generator: a finding must hold on any.
    world_seed: int = _opt(0, "seed of the embedded world when --world is not given", "seed")
    data_root: str | None = _opt(None, "root of real data (COCO, VQA v2, SNLI-VE) in official formats", "str")
    data_files: dict = _opt({}, "file overrides under data_root: file kind -> file name")
    data_patterns: dict = _opt({}, "image path patterns under data_root: data set -> pattern")
    encoder: str = _opt("gapkit-shapes", "the CLIP encoder (gapkit ls encoders)", "str")
    template: str = _opt("{}", "prompt template applied to every text before encoding")
    decoder: str = _opt(
        "shapes-t5", "the T5 decoder: shapes-t5 (embedded), t5-base, ... (gapkit ls decoders)", "str"
    )
    decoder_options: dict = _opt({}, "decoder options, e.g. {d_model: 256} for shapes-t5")
    prefix_tokens: int = _opt(4, "T5 input tokens the CLIP vector is mapped to")
    adapter: str = _opt("noise", "how text stands in for images (gapkit ls adapters)", "str")
    adapter_options: dict = _opt({}, "adapter options, e.g. {scale: -1}, {magnitude: 0.5}")
    noise: float | None = _opt(None, "per-dimension noise std w (default: the task's CLOSE-tuned w)", "float")
    noise_norm: float | None = _opt(None, "noise by its expected norm w*sqrt(d) instead of w", "float")
    tuned_noise: str = _opt(
        "per-dimension",
        "how the task's CLOSE-tuned w applies: per-dimension (CLOSE) or matched-norm "
        "(w*sqrt(768/d), gapkit 0.1)",
        "str",
    )
    adapter_fit_split: str = _opt(
        "restval",
        "split the paired adapters (mean-shift, linear, cov) are fit on, and the image side of c3, "
        "decap and nearest-caption",
    )
    train_on: str = _opt("text", "text (CLOSE) or image (the images upper bound)", "str")
    # None: the decoder's defaults (``resolved_training``): CLOSE's for a pretrained T5, the tuned
    # values of the embedded shapes-t5 for it.
    epochs: int | None = _opt(
        None, "default: the decoder's (8 for a pretrained T5, as CLOSE; 4 for shapes-t5)", "positive_int"
    )
    batch_size: int | None = _opt(
        None,
        "default: the decoder's (128, multi-caption 32 for a pretrained T5; 128 for shapes-t5)",
        "positive_int",
    )
    lr: float | None = _opt(
        None, "default: the decoder's (3e-4 for a pretrained T5, as CLOSE; 1e-3 for shapes-t5)", "float"
    )
    weight_decay: float | None = _opt(None, "default: 0 (CLOSE's)", "float")
    warmup_steps: int = _opt(0, "linear learning-rate warm-up steps")
    seed: int = _opt(0, "training seed (model init, batch order, noise, shift directions)", "seed")
    max_train_examples: int | None = _opt(None, "seeded subsample of the training examples", "positive_int")
    eval_split: str = _opt("val", "split the model is evaluated on", "str")
    max_eval_examples: int | None = _opt(
        None, "seeded subsample of the evaluation examples (the same one in every run)", "positive_int"
    )
    beams: int = _opt(5, "beam size of decoding")
    early_stopping: bool = _opt(
        False,
        "beam search stops once `beams` hypotheses finished (default: off, searching on as CLOSE's AllenNLP "
        "beam search does; on: gapkit 0.1)",
        "bool",
    )
    max_len: int | None = _opt(None, "decode length (default: the task's CLOSE value, 32 / 16 / 8)")
    meteor: bool = _opt(False, "also score METEOR (pycocoevalcap's, which runs Java)")
    device: str | None = _opt(None, "cpu, cuda or cuda:N (default: cuda when available)", "str")
    eval_each_epoch: bool = _opt(False, "score the evaluation split after every epoch")

    def resolved_noise(self, dim: int) -> float:
        """The per-dimension noise std w for embeddings of size ``dim``: ``noise``, else
        ``noise_norm / sqrt(dim)``, else the task's CLOSE-tuned w (per dimension, or matched by
        norm with ``tuned_noise: matched-norm``); 0 for the ``none`` adapter."""
        if self.noise is not None:
            return float(self.noise)
        from ..adapters import ADAPTERS
        from .tasks import TASKS

        if "noise" not in ADAPTERS.get(self.adapter).PARAMS:
            return 0.0
        if self.noise_norm is not None:
            return float(self.noise_norm) / math.sqrt(dim)
        tuned = TASKS.get(self.task).tuned_noise
        w = CLOSE_FIXED_NOISE if tuned is None else tuned
        return w if self.tuned_noise == "per-dimension" else w * math.sqrt(CLOSE_DIM / dim)

    def resolved_training(self) -> dict:
        """lr, weight_decay, epochs, batch_size: the config's values where set, else the decoder's
        defaults (CLOSE's for a pretrained T5, batch 32 for multi-caption; shapes-t5's own)."""
        from .decoder import training_defaults
        from .tasks import TASKS

        # an images model trains as its image_task does (multi-caption's is the single-caption one)
        image_task = TASKS.get(self.task).image_task if self.train_on == "image" else None
        defaults = training_defaults(self.decoder, image_task or self.task)
        return {k: defaults[k] if getattr(self, k) is None else getattr(self, k) for k in TRAINING_KEYS}

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
            raise GapkitError(
                f"{source}: unknown key {unknown[0]!r}.{hint} Keys: {', '.join(sorted(known))}."
            )
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
            v = getattr(self, key)
            # epochs and batch_size may be None: the decoder's default (resolved_training)
            if (v is not None or key in ("beams", "prefix_tokens")) and (
                not isinstance(v, int) or isinstance(v, bool) or v < 1
            ):
                raise GapkitError(f"{source}: {key} must be a positive integer, got {v!r}.")
        for key in ("max_train_examples", "max_eval_examples"):
            v = getattr(self, key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise GapkitError(f"{source}: {key} must be a positive integer (or null for all), got {v!r}.")
        for key in ("seed", "world_seed"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= SEED_MAX:
                raise GapkitError(f"{source}: {key} must be an integer in 0..{SEED_MAX}, got {v!r}.")
        if self.world_seed and (self.world or self.data_root):
            raise GapkitError(
                f"{source}: world_seed chooses the embedded world; it cannot apply to world or data_root."
            )
        for key in ("noise", "noise_norm", "lr", "weight_decay"):
            v = getattr(self, key)
            if v is not None and (
                not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0 or not math.isfinite(v)
            ):
                raise GapkitError(f"{source}: {key} must be a number >= 0, got {v!r}.")
        if self.tuned_noise not in TUNED_NOISE:
            raise GapkitError(
                f"{source}: tuned_noise must be one of {', '.join(TUNED_NOISE)}, got {self.tuned_noise!r}."
            )
        if not isinstance(self.early_stopping, bool):
            raise GapkitError(f"{source}: early_stopping must be true or false, got {self.early_stopping!r}.")
