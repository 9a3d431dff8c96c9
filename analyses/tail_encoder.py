"""``tail-sweep:S:F``: the shipped tiny CLIP with a synthetic informative text tail, the instrument
of ``analyses/tail_sweep.py`` (its docstring has the construction). A synthetic organism, not a
model; importing this module registers the encoder."""

from __future__ import annotations

import functools
import hashlib

import numpy as np
import torch

from gapkit.encoders import ENCODERS
from gapkit.encoders.shapes import ShapesClipEncoder
from gapkit.errors import GapkitError
from gapkit.tinyclip.model import preprocess
from gapkit.worlds.shapes.draw import render_array
from gapkit.worlds.shapes.world import ShapesWorld

TAIL_DIM, CODE_SEED = 256, 12345
WORLD_SEED = 0
# Part of the encoder's identity (cache keys, run provenance): bump REVISION when the construction
# changes in a way these numbers do not show.
REVISION = 1
TAIL_IDENTITY = {"dim": TAIL_DIM, "code_seed": CODE_SEED, "world_seed": WORLD_SEED, "revision": REVISION}


@ENCODERS.register("tail-sweep")
class TailSweep(ShapesClipEncoder):
    """The shipped tiny CLIP with a synthetic informative text tail (``tail-sweep:S:F``; module
    docstring): a sweep instrument, not a model."""

    backend = "tail-sweep"

    @staticmethod
    def claims(spec: str) -> bool:
        return spec.startswith("tail-sweep:")

    def __init__(self, spec: str, device: str | None = None) -> None:
        _, s, f = spec.split(":")
        self.strength, self.fidelity = float(s), float(f)
        super().__init__("gapkit-shapes", device)
        self.spec = spec
        g = np.random.default_rng(CODE_SEED)
        basis = np.linalg.qr(g.standard_normal((self.embed_dim, TAIL_DIM)))[0]
        self.basis = torch.from_numpy(basis).float()  # (d, 256) orthonormal
        self.code = torch.from_numpy(g.standard_normal((TAIL_DIM, self.tokenizer.vocab_size))).float()

    def identity(self) -> dict:
        """The tiny CLIP's identity plus everything of this module that changes the vectors: a
        cache entry or a finished run made with other tail settings is never reused."""
        return {**super().identity(), "tail": TAIL_IDENTITY}

    def _words(self, texts) -> torch.Tensor:
        """(n, vocab) word counts of each text, without padding, start and end (in every caption)."""
        ids = torch.from_numpy(self.tokenizer.encode(list(texts)))
        words = torch.zeros(len(ids), self.tokenizer.vocab_size).scatter_add_(1, ids, torch.ones(ids.shape))
        words[:, [0, 2, self.tokenizer.eot_id]] = 0.0
        return words

    def _tail(self, words: torch.Tensor) -> torch.Tensor:
        return _unit((words @ self.code.T) @ self.basis.T)  # (n, d) unit, inside the tail subspace

    def _text_features(self, texts):
        t = super()._text_features(texts)
        return _unit(t) + self.strength * self._tail(self._words(texts)).to(t.device)

    def _image_features(self, pixels):
        x = super()._image_features(pixels)
        if self.strength == 0:
            return _unit(x)
        cpu = pixels.cpu()
        own = self._tail(torch.stack([self._image_words(p) for p in cpu]))
        unrelated = _unit(torch.stack([_pixel_draw(p) for p in cpu]) @ self.basis.T)
        f = self.fidelity
        tail = _unit(f * own + (1 - f * f) ** 0.5 * unrelated)
        return _unit(x) + self.strength * tail.to(x.device)

    def _image_words(self, pixels: torch.Tensor) -> torch.Tensor:
        key = _digest(pixels)
        content = self._content_table()
        if key not in content:
            raise GapkitError("tail-sweep encodes only the default world's train and test images")
        return torch.from_numpy(content[key])

    def _content_table(self) -> dict[str, np.ndarray]:
        """Pixel digest -> word counts of the image's reference captions, for the train and test
        images of the default world (rendered here: the same bits as the world's image files)."""
        if not _CONTENT:  # the same for every strength and fidelity: built once a process
            for split in ("train", "test"):
                recs = world().split(split)
                for i in range(0, len(recs), 500):
                    chunk = recs[i : i + 500]
                    pixels = preprocess(render_array([r.scene for r in chunk]))
                    words = self._words([" ".join(r.captions) for r in chunk]).numpy()
                    _CONTENT.update({_digest(p): w for p, w in zip(pixels, words)})
        return _CONTENT


_CONTENT: dict[str, np.ndarray] = {}  # pixel digest -> word counts of the image's captions


@functools.cache
def world() -> ShapesWorld:
    return ShapesWorld(seed=WORLD_SEED).generate()


def _unit(a: torch.Tensor) -> torch.Tensor:
    return a / a.norm(dim=1, keepdim=True)


def _digest(pixels: torch.Tensor) -> str:
    return hashlib.sha256(pixels.contiguous().numpy().tobytes()).hexdigest()


def _pixel_draw(pixels: torch.Tensor) -> torch.Tensor:
    seed = int(_digest(pixels)[:8], 16)
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(TAIL_DIM)).float()


# --- runs ------------------------------------------------------------------------------------------
