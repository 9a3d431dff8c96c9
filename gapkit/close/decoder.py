"""The T5 decoder and its tokenizer: ``shapes-t5`` (a small randomly initialised T5 with a
word-level tokenizer over the shapes world's vocabulary) or a T5 from a local folder / the
Hugging Face cache (``t5-small``, ``t5-base``, ``t5-large``, any path). Never a dummy tokenizer:
a tokenizer that is missing, tiny, or maps ordinary words to <unk> is an error."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from .._registry import Registry
from ..errors import GapkitError

DECODERS: Registry = Registry("decoder", ls_hint="decoders")
_CHECK_SENTENCE = "a small red circle in the top left"
# Target words of the tasks that the world's caption vocabulary does not contain.
TASK_WORDS = ("entailment", "neutral", "contradiction")
_MIN_VOCAB = 50


@dataclass
class ShapesT5Config:
    d_model: int = 128
    d_ff: int = 256
    num_layers: int = 2
    num_heads: int = 4
    dropout_rate: float = 0.1


def _check_tokenizer(tok, where: str) -> None:
    if len(tok) < _MIN_VOCAB:
        raise GapkitError(f"The tokenizer from {where} has only {len(tok)} entries: not a real vocabulary.")
    ids = tok(_CHECK_SENTENCE, add_special_tokens=False)["input_ids"]
    if tok.unk_token_id is not None and ids and all(i == tok.unk_token_id for i in ids):
        raise GapkitError(f"The tokenizer from {where} maps every word of {_CHECK_SENTENCE!r} to <unk>.")


def shapes_tokenizer():
    """A word-level ``PreTrainedTokenizerFast`` over the shapes world's lexicon (pad 0, eos 1, unk 2)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    from ..worlds.shapes.vocab import lexicon

    words = sorted(set(lexicon()) | set(TASK_WORDS))
    vocab = {w: i for i, w in enumerate(["<pad>", "</s>", "<unk>", *words])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )


def check_decoder_options(name: str, options, where: str = "config") -> None:
    """decoder_options against the registered decoder's declared ``OPTIONS`` (and its ``CHECK`` of
    how they combine); a T5 loaded from files (``t5-base``, a folder) takes none."""
    from .._options import check_options

    factory = DECODERS.get(name) if name in DECODERS else None
    owner = f"decoder {name!r}" if factory else f"decoder {name!r} (a T5 loaded from its files)"
    check_options(options, getattr(factory, "OPTIONS", {}), f"{where}: decoder_options", owner)
    if hasattr(factory, "CHECK"):
        factory.CHECK(options, f"{where}: decoder_options")


@DECODERS.register("shapes-t5")
def shapes_t5(seed: int = 0, **overrides):
    """A small T5 (2+2 layers, d_model 128) with the shapes world's word-level tokenizer."""
    from transformers import T5Config, T5ForConditionalGeneration

    tok = shapes_tokenizer()
    c = ShapesT5Config(**overrides)
    cfg = T5Config(
        vocab_size=len(tok),
        d_model=c.d_model,
        d_kv=c.d_model // c.num_heads,
        d_ff=c.d_ff,
        num_layers=c.num_layers,
        num_decoder_layers=c.num_layers,
        num_heads=c.num_heads,
        dropout_rate=c.dropout_rate,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = T5ForConditionalGeneration(cfg)
    return model, tok


def _check_shapes_t5(options: dict, where: str) -> None:
    c = ShapesT5Config(**options)
    if c.dropout_rate >= 1:
        raise GapkitError(f"{where}.dropout_rate must be < 1, got {c.dropout_rate!r}.")
    if c.d_model < c.num_heads:  # T5's per-head size is d_model // num_heads
        raise GapkitError(f"{where}: d_model ({c.d_model}) must be >= num_heads ({c.num_heads}).")


# The fields of ShapesT5Config: sizes are integers >= 1, dropout_rate a number >= 0.
shapes_t5.OPTIONS = {
    f.name: (int, 1) if isinstance(f.default, int) else (float, 0.0) for f in fields(ShapesT5Config)
}
shapes_t5.CHECK = _check_shapes_t5


# CLOSE's training settings for T5 (close/experiments/train.py: --lr 3e-4, --epochs 8, batch 128;
# close/train/optimizer.py: AdamW weight_decay 0.0): what any pretrained T5 decoder gets unless the
# config sets them. The multi-caption batch (32) is the task's ``close_batch_size``.
CLOSE_TRAINING = {"lr": 3e-4, "weight_decay": 0.0, "epochs": 8, "batch_size": 128}
# The embedded decoder's own training defaults, tuned for it on the shapes world (the README says
# so); every other decoder gets CLOSE's (CLOSE_TRAINING above).
shapes_t5.TRAINING = {"lr": 1e-3, "weight_decay": 0.0, "epochs": 4, "batch_size": 128}


def training_defaults(name: str, task: str) -> dict:
    """lr, weight_decay, epochs, batch_size a config leaves unset, for decoder ``name`` on ``task``:
    a registered decoder's ``TRAINING``, else (a pretrained T5) CLOSE's, with the task's CLOSE batch."""
    from .tasks import TASKS

    factory = DECODERS.get(name) if name in DECODERS else None
    if factory is not None and hasattr(factory, "TRAINING"):
        return dict(factory.TRAINING)
    return {**CLOSE_TRAINING, "batch_size": TASKS.get(task).close_batch_size}


def pretrained_t5(name: str, seed: int = 0, **_):
    """A pretrained T5 from a local folder or the local Hugging Face cache (never downloaded)."""
    from transformers import AutoTokenizer, T5ForConditionalGeneration

    try:
        tok = AutoTokenizer.from_pretrained(name, local_files_only=True)
        model = T5ForConditionalGeneration.from_pretrained(name, local_files_only=True)
    except (OSError, ValueError) as e:
        from ..encoders.weights import hf_cache_dir

        raise GapkitError(
            f"Decoder {name!r} is not available locally (looked in {name} as a folder and in "
            f"{hf_cache_dir()}/models--{name.replace('/', '--')}): {str(e)[:200]}"
        ) from None
    _check_tokenizer(tok, name)
    return model, tok


def create_decoder(name: str, seed: int = 0, **options):
    """(T5ForConditionalGeneration, tokenizer) for ``name``: a registered decoder, else a T5
    name or folder loaded from local files."""
    if name in DECODERS:
        return DECODERS.create(name, seed=seed, **options)
    return pretrained_t5(name, seed=seed)
