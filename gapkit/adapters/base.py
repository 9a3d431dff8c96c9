"""The adapter interface."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .._registry import Registry

ADAPTERS: Registry = Registry("adapter", ls_hint="adapters")


def unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


class Adapter(nn.Module):
    """Base class: seeded Gaussian noise of per-dimension std ``noise`` after a deterministic map.

    Subclasses override ``transform`` (the deterministic part, on unit vectors, (B, d) -> (B, d)),
    ``fit`` when they learn from paired data, ``fit_unpaired`` from unpaired images and texts, and
    ``images`` when they also move the test images (C3, DeCap)."""

    name = "base"
    PARAMS: tuple[str, ...] = ("noise", "seed")
    # What a config's adapter_options may set: name -> (type, minimum or None). noise and seed are
    # top-level config keys, never adapter options.
    OPTIONS: dict[str, tuple[type, float | None]] = {}
    needs_fit = False  # fitted on paired (image, text) data before training
    needs_dim = False  # needs only the embedding size before training (``set_dim``)
    plain_noise = False  # Gaussian noise alone (w may be 0): a noise-magnitude row in the tables
    structured_noise = False  # the noise itself is fitted (covariance adapter): show it sampled
    # Fitted on *unpaired* data before training (``fit_unpaired``): the run's training texts and
    # the images of the paired-data split, never matched to each other (C3's means, DeCap's memory).
    needs_unpaired = False
    # The adapter has a test-time half (``images``) that moves the test image vectors before
    # decoding; every adapter has the training half (``forward``), possibly the identity.
    test_time = False

    def __init__(self, noise: float = 0.0, seed: int = 0) -> None:
        super().__init__()
        if noise < 0 or not math.isfinite(noise):
            raise ValueError(f"noise must be a finite number >= 0, got {noise}")
        self.noise = float(noise)
        self.seed = int(seed)
        self.generator = torch.Generator().manual_seed(self.seed)

    # -- the parts subclasses change ---------------------------------------------------------
    def transform(self, t: torch.Tensor) -> torch.Tensor:
        return t

    def fit(self, image_emb: np.ndarray, text_emb: np.ndarray) -> Adapter:
        return self

    def fit_unpaired(self, images: np.ndarray, texts: np.ndarray) -> Adapter:
        """images (n_i, d) and texts (n_t, d), not paired with each other."""
        return self

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """The test-time half: (B, d) unit image vectors -> (B, d) unit vectors the decoder reads."""
        return x

    def fitted_state(self) -> dict:
        return {}

    def load_fitted_state(self, state: dict) -> None:
        pass

    def deterministic(self, t: torch.Tensor) -> torch.Tensor:
        """The adapter without its noise, (B, d) unit -> (B, d) unit: what MG and Delta describe."""
        return unit(self.transform(t))

    # -- shared -------------------------------------------------------------------------------
    def draw(self, shape: tuple[int, ...]) -> torch.Tensor:
        """Standard normal noise from the adapter's own generator (CPU, so runs are reproducible
        across devices)."""
        return torch.randn(shape, generator=self.generator)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """(B, d) unit text vectors -> (B, d) adapted unit vectors (identity in eval mode)."""
        if not self.training:
            return t
        x = self.transform(t)
        if self.noise > 0:
            x = x + self.noise * self.draw(tuple(x.shape)).to(x.device, x.dtype)
        return unit(x)

    def noise_norm(self, d: int) -> float:
        """Expected |noise| = w * sqrt(d): the scale that compares across embedding sizes."""
        return self.noise * math.sqrt(d)

    def describe(self) -> dict:
        return {"adapter": self.name, **{p: getattr(self, p) for p in self.PARAMS}}

    def rng_state(self) -> torch.Tensor:
        return self.generator.get_state()

    def set_rng_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)

    def save(self, path) -> None:
        torch.save({"describe": self.describe(), "fitted": self.fitted_state()}, path)

    def load(self, path) -> Adapter:
        self.load_fitted_state(torch.load(path, map_location="cpu", weights_only=False)["fitted"])
        return self
