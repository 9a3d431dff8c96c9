"""A word-level tokenizer over a closed vocabulary (the shapes world's lexicon).

Token ids: 0 pad, 1 unk, 2 start-of-text, words, and end-of-text *last*, because open_clip's text
tower pools at the argmax token id (OpenAI CLIP's convention: EOT has the highest id)."""

from __future__ import annotations

import numpy as np

from ..worlds.shapes.vocab import tokenize

PAD, UNK, SOT, EOT = "<pad>", "<unk>", "<sot>", "<eot>"


class WordTokenizer:
    """Maps texts to fixed-length id arrays: [SOT, words..., EOT, PAD...]."""

    def __init__(self, words: list[str], context_length: int = 40) -> None:
        self.itos = [PAD, UNK, SOT, *words, EOT]
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.context_length = context_length

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    @property
    def eot_id(self) -> int:
        return len(self.itos) - 1

    def encode(self, texts: list[str]) -> np.ndarray:
        """(n, context_length) int64. Texts longer than the context are truncated, keeping EOT."""
        out = np.zeros((len(texts), self.context_length), dtype=np.int64)
        unk = self.stoi[UNK]
        for i, text in enumerate(texts):
            ids = [self.stoi.get(w, unk) for w in tokenize(text)][: self.context_length - 2]
            row = [self.stoi[SOT], *ids, self.eot_id]
            out[i, : len(row)] = row
        return out

    def to_dict(self) -> dict:
        return {"words": self.itos[3:-1], "context_length": self.context_length}

    @classmethod
    def from_dict(cls, d: dict) -> WordTokenizer:
        return cls(list(d["words"]), int(d["context_length"]))
