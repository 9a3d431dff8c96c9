"""Everything a CLOSE run needs before its first step: data, CLIP vectors, adapter, model."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from ..adapters import ADAPTERS, IDENTITY, Adapter, create_adapter
from ..cache import EmbeddingCache
from ..encoders import create_encoder, resolve_device
from ..errors import GapkitError
from ..streams import stream
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
    return DataSource.shapes_world(cfg.world, seed=cfg.world_seed)


@dataclass
class Vectors:
    """CLIP vectors of examples through the embedding cache (one place for encoder, cache, the
    data identity in the key, the image root and whether image files are verified by content)."""

    encoder: object
    cache: EmbeddingCache
    identity: dict
    image_root: object
    template: str
    verify_images: bool = False

    def texts(self, examples: list[Example]) -> np.ndarray:
        return text_vectors(self.encoder, examples, self.template, self.cache, self.identity)

    def images(self, examples: list[Example]) -> np.ndarray:
        return image_vectors(
            self.encoder, examples, self.cache, self.identity, self.image_root, verify=self.verify_images
        )


# The evaluation subsample is drawn with this seed whatever the training seed is, so every seed of
# a grid cell is scored on the same items (their per-item scores pair up).
EVAL_SUBSAMPLE_SEED = 0


def _subsample(examples: list[Example], n: int | None, seed: int) -> list[Example]:
    if n is None or n >= len(examples):
        return examples
    keep = np.sort(stream(seed, "train-subsample").choice(len(examples), n, replace=False))
    return [examples[i] for i in keep]


def _fit_adapter(cfg, adapter, vec: Vectors, src) -> None:
    """Paired data for mean-shift / linear / cov: the captioning split ``adapter_fit_split``."""
    from .tasks import TASKS

    pairs = TASKS.get("caption-single")().examples(src, cfg.adapter_fit_split, train=True)
    if not pairs:
        raise GapkitError(
            f"No paired data in split {cfg.adapter_fit_split!r} to fit the {cfg.adapter} adapter."
        )
    adapter.fit(vec.images(pairs), vec.texts(pairs))
    log.info("fitted %s adapter on %d %s pairs", cfg.adapter, len(pairs), cfg.adapter_fit_split)


def training_task(cfg: CloseConfig, task: Task) -> Task:
    """The task whose training examples the run uses: the task itself, except that an images model
    uses its ``image_task``'s (multi-caption's images model is the single-caption one: each image
    paired with each of its captions, the target rows the single-caption text runs train on)."""
    if cfg.train_on == "image" and task.image_task:
        return create_task(task.image_task)
    return task


def _fit_unpaired(cfg, adapter, vec: Vectors, src, train_texts: np.ndarray | None) -> None:
    """Unpaired data for C3 / DeCap / nearest caption: the run's training texts (computed here
    when not given) and the images of the split ``adapter_fit_split``, never matched to each other."""
    from .tasks import TASKS

    if train_texts is None:
        task = create_task(cfg.task, **cfg.task_options)
        examples = training_task(cfg, task).examples(src, "train", train=True)
        train_texts = vec.texts(_subsample(examples, cfg.max_train_examples, cfg.seed))
    images = TASKS.get("caption-single")().examples(src, cfg.adapter_fit_split, train=False)
    if not images or not len(train_texts):
        raise GapkitError(
            f"No unpaired data to fit the {cfg.adapter} adapter (split {cfg.adapter_fit_split!r})."
        )
    adapter.fit_unpaired(vec.images(images), train_texts)
    log.info(
        "fitted %s adapter on %d training texts and %d %s images",
        cfg.adapter,
        len(train_texts),
        len(images),
        cfg.adapter_fit_split,
    )


def build_adapter(
    cfg: CloseConfig, vec: Vectors, src: DataSource, train_texts: np.ndarray | None = None, state=None
) -> Adapter:
    """The run's adapter, fitted on paired or unpaired data when it needs it (``train_texts``:
    the run's training text vectors, when already computed), or given the fitted ``state`` a run
    saved (adapter.pt), which skips fitting."""
    if cfg.train_on == "image":
        return create_adapter(IDENTITY, seed=cfg.seed)  # images are never adapted
    params = {"noise": cfg.resolved_noise(vec.encoder.embed_dim), "seed": cfg.seed, **cfg.adapter_options}
    if "noise" not in ADAPTERS.get(cfg.adapter).PARAMS:
        params.pop("noise")
    adapter = create_adapter(cfg.adapter, **params)
    if state is not None:
        return adapter.load(state)
    if adapter.needs_fit:
        _fit_adapter(cfg, adapter, vec, src)
    elif adapter.needs_unpaired:
        _fit_unpaired(cfg, adapter, vec, src, train_texts)
    elif adapter.needs_dim:
        adapter.set_dim(vec.encoder.embed_dim)
    return adapter


def _examples(cfg: CloseConfig, task: Task, src: DataSource, eval_splits, with_train: bool):
    """Training examples and each evaluation split's examples, all parsed (and found non-empty)
    before any embedding is computed, so a bad split name costs nothing and writes nothing."""
    train = []
    if with_train:
        train = _subsample(
            training_task(cfg, task).examples(src, "train", train=True), cfg.max_train_examples, cfg.seed
        )
        if not train:
            raise GapkitError(f"Task {cfg.task} has no training examples in {src.root}.")
    evals = {}
    for split in eval_splits:
        evals[split] = _subsample(
            task.examples(src, split, train=False), cfg.max_eval_examples, EVAL_SUBSAMPLE_SEED
        )
        if not evals[split]:
            raise GapkitError(
                f"Task {cfg.task} has no examples in split {split!r} of {src.root}; "
                "check the split name (eval_split / --split)."
            )
    return train, evals


def prepare(
    cfg: CloseConfig,
    eval_splits: tuple[str, ...] | None = None,
    with_train: bool = True,
    verify_images: bool = False,
    adapter_state=None,
) -> Prepared:
    """Data, vectors, adapter and model of a run. ``adapter_state``: a saved adapter.pt to load
    instead of fitting the adapter (evaluating a finished run)."""
    device = resolve_device(cfg.device)
    task = create_task(cfg.task, **cfg.task_options)
    src = data_source(cfg)
    train_ex, eval_ex = _examples(cfg, task, src, eval_splits or (cfg.eval_split,), with_train)
    encoder = create_encoder(cfg.encoder, device=cfg.device)
    vec = Vectors(
        encoder, EmbeddingCache(), {"close-data": src.identity}, src.root, cfg.template, verify_images
    )
    dim = encoder.embed_dim
    train = Split([], np.zeros((0, dim), np.float32))
    if with_train:
        train = Split(train_ex, vec.texts(train_ex) if cfg.train_on == "text" else vec.images(train_ex))
    evals = {}
    for split, ex in eval_ex.items():
        img = vec.images(ex)
        has_text = all(e.input_texts for e in ex)  # VQA on real data may lack captions for an image
        evals[split] = Split(ex, img, vec.texts(ex) if has_text else None, img)
    texts = train.vectors if with_train and cfg.train_on == "text" else None
    adapter = build_adapter(cfg, vec, src, texts, adapter_state)
    t5, tok = create_decoder(cfg.decoder, seed=cfg.seed, **cfg.decoder_options)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = ClipPrefixT5(t5, dim, cfg.prefix_tokens)
    model.to(device)
    return Prepared(cfg, task, src, train, evals, adapter, model, tok, encoder.identity(), dim, device)
