"""Tokenised CLOSE batches: one decoder row per (example, target); the example's CLIP vector and
extra text are repeated for each of its targets (CLOSE's target_mapping)."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import GapkitError
from .tasks import Example


class Tokenized:
    """Token ids of every example's extra text and targets, computed once."""

    def __init__(self, tokenizer, examples: list[Example], max_len: int) -> None:
        self.tok = tokenizer
        self.pad = tokenizer.pad_token_id
        extras = [ex.extra or "" for ex in examples]
        self.has_extra = any(ex.extra for ex in examples)
        self.extra = tokenizer(extras, add_special_tokens=True)["input_ids"] if self.has_extra else None
        flat = [t for ex in examples for t in ex.targets]
        ids = tokenizer(flat, add_special_tokens=True, truncation=True, max_length=max_len + 1)["input_ids"]
        unk = tokenizer.unk_token_id
        bad = [t for t, seq in zip(flat, ids) if unk is not None and unk in seq]
        if bad:
            raise GapkitError(
                f"{len(bad)} target texts hold words outside the decoder's vocabulary, "
                f"e.g. {bad[0]!r}: the model could never produce them."
            )
        self.targets, k = [], 0
        for ex in examples:
            self.targets.append(ids[k : k + len(ex.targets)])
            k += len(ex.targets)

    def _pad(self, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad, dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
        return ids, (ids != self.pad).long()

    def extra_batch(self, idx) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if not self.has_extra:
            return None, None
        return self._pad([self.extra[i] for i in idx])

    def train_batch(self, idx: np.ndarray, clip: torch.Tensor):
        """clip (B, d) adapted vectors of examples ``idx`` -> row-expanded model inputs."""
        rep = [j for j, i in enumerate(idx) for _ in self.targets[i]]  # row -> position in batch
        labels, _ = self._pad([t for i in idx for t in self.targets[i]])
        labels[labels == self.pad] = -100
        extra_ids, extra_mask = self.extra_batch([idx[j] for j in rep])
        return clip[rep], extra_ids, extra_mask, labels
