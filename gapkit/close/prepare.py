"""Everything a CLOSE run needs before its first step: data, CLIP vectors, adapter, model."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from ..adapters import Adapter, create_adapter
from ..cache import EmbeddingCache
from ..encoders import create_encoder, resolve_device
from ..errors import GapkitError
from .config import CloseConfig
from .data import DataSource
from .decoder import create_decoder
from .inputs import image_vectors, text_vectors
from .model import ClipPrefixT5
from .tasks import Example, Task, create_task

log = logging.getLogger("gapkit.close")


@dataclass
class Split:
    examples: list[Example]
    vectors: np.ndarray  # (n, d) unit vectors the model reads (texts or images)
    text_vectors: np.ndarray | None = None  # for text-to-text checks and gap logging
    image_vectors: np.ndarray | None = None


@dataclass
class Prepared:
    cfg: CloseConfig
    task: Task
    source: DataSource
    train: Split
    evals: dict[str, Split]
    adapter: Adapter
    model: ClipPrefixT5
    tokenizer: object
    encoder_identity: dict
    dim: int
    device: torch.device


def data_source(cfg: CloseConfig) -> DataSource:
    if cfg.data_root:
        return DataSource.real(cfg.data_root, cfg.data_files, cfg.data_patterns)
    return DataSource.shapes_world(cfg.world)


# The evaluation subsample is drawn with this seed whatever the training seed is, so every seed of
# a grid cell is scored on the same items (their per-item scores pair up).
EVAL_SUBSAMPLE_SEED = 0


def _subsample(examples: list[Example], n: int | None, seed: int) -> list[Example]:
    if n is None or n >= len(examples):
        return examples
    keep = np.sort(np.random.default_rng([seed, 404]).choice(len(examples), n, replace=False))
    return [examples[i] for i in keep]


def _fit_adapter(cfg, adapter, encoder, src, cache, identity) -> None:
    """Paired data for mean-shift / linear / cov: the captioning split ``adapter_fit_split``."""
    from .tasks import TASKS

    pairs = TASKS.get("caption-single")().examples(src, cfg.adapter_fit_split, train=True)
    if not pairs:
        raise GapkitError(f"No paired data in split {cfg.adapter_fit_split!r} to fit the {cfg.adapter} adapter.")
    img = image_vectors(encoder, pairs, cache, identity)
    txt = text_vectors(encoder, pairs, cfg.template, cache, identity)
    adapter.fit(img, txt)
    log.info("fitted %s adapter on %d %s pairs", cfg.adapter, len(pairs), cfg.adapter_fit_split)


def training_task(cfg: CloseConfig, task: Task) -> Task:
    """The task whose training examples the run uses: the task itself, except that an images model
    uses its ``image_task``'s (multi-caption's images model is the single-caption one: each image
    paired with each of its captions, the target rows the single-caption text runs train on)."""
    if cfg.train_on == "image" and task.image_task:
        return create_task(task.image_task)
    return task


def build_adapter(cfg: CloseConfig, encoder, src: DataSource, cache: EmbeddingCache, identity: dict) -> Adapter:
    """The run's adapter, fitted on paired data when it needs it."""
    if cfg.train_on == "image":
        return create_adapter("none", seed=cfg.seed)  # images are never adapted
    params = {"noise": cfg.resolved_noise(encoder.embed_dim), "seed": cfg.seed, **cfg.adapter_options}
    if cfg.adapter == "none":
        params.pop("noise")
    adapter = create_adapter(cfg.adapter, **params)
    if adapter.needs_fit or cfg.adapter == "random-shift":
        _fit_adapter(cfg, adapter, encoder, src, cache, identity)
    return adapter


def prepare(cfg: CloseConfig, eval_splits: tuple[str, ...] | None = None, with_train: bool = True) -> Prepared:
    device = resolve_device(cfg.device)
    task = create_task(cfg.task, **cfg.task_options)
    src = data_source(cfg)
    encoder = create_encoder(cfg.encoder, device=cfg.device)
    cache = EmbeddingCache()
    identity = {"close-data": src.identity}
    dim = encoder.embed_dim
    train = Split([], np.zeros((0, dim), np.float32))
    if with_train:
        ex = _subsample(training_task(cfg, task).examples(src, "train", train=True), cfg.max_train_examples, cfg.seed)
        if not ex:
            raise GapkitError(f"Task {cfg.task} has no training examples in {src.root}.")
        vec = (text_vectors(encoder, ex, cfg.template, cache, identity) if cfg.train_on == "text"
               else image_vectors(encoder, ex, cache, identity))
        train = Split(ex, vec)
    evals = {}
    for split in eval_splits or (cfg.eval_split,):
        ex = _subsample(task.examples(src, split, train=False), cfg.max_eval_examples, EVAL_SUBSAMPLE_SEED)
        img = image_vectors(encoder, ex, cache, identity)
        has_text = all(e.input_texts for e in ex)  # VQA on real data may lack captions for an image
        txt = text_vectors(encoder, ex, cfg.template, cache, identity) if has_text else None
        evals[split] = Split(ex, img, txt, img)
    adapter = build_adapter(cfg, encoder, src, cache, identity)
    t5, tok = create_decoder(cfg.decoder, seed=cfg.seed, **cfg.decoder_options)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = ClipPrefixT5(t5, dim, cfg.prefix_tokens)
    model.to(device)
    return Prepared(cfg, task, src, train, evals, adapter, model, tok, encoder.identity(), dim, device)
