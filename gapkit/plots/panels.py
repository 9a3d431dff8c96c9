"""Adapter panels for the t-SNE figure: text vectors moved by each adapter (noise drawn once,
seeded), and image vectors moved by the adapter's test-time half where it has one (C3, DeCap,
nearest caption; CLOSE's adapters leave them unchanged). Panel names: an adapter name,
optionally ``+noise``."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..adapters import ADAPTERS, apply_deterministic, create_adapter, unit_inputs

DEFAULT_PANELS = ("none", "noise", "mean-shift", "mean-shift+noise", "linear", "cov")
# Every way to cross the gap (the methods table): CLOSE's noise beside the test-time methods.
METHOD_PANELS = ("none", "noise", "c3", "decap", "nearest-caption")


def adapt_panels(
    image: np.ndarray,
    text: np.ndarray,
    fit_image: np.ndarray,
    fit_text: np.ndarray,
    panels=DEFAULT_PANELS,
    noise_norm: float = 2.217,
    seed: int = 0,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> ((n, d) image vectors, (n, d) adapted unit text vectors). Shift/linear/cov adapters
    are fitted on (fit_image, fit_text) pairs, C3/DeCap/nearest caption on the two as unpaired sets;
    ``+noise`` adds Gaussian noise of norm ``noise_norm``."""
    d = text.shape[1]
    w = noise_norm / math.sqrt(d)
    out = {}
    t = torch.from_numpy(unit_inputs(text, "text"))  # the sampled panels' training half reads unit rows too
    for name in panels:
        base, _, extra = name.partition("+")
        noisy = base == "noise" or extra == "noise"
        kind = base
        takes_noise = "noise" in ADAPTERS.get(kind).PARAMS
        params = {"seed": seed, "noise": w if noisy else 0.0} if takes_noise else {"seed": seed}
        adapter = create_adapter(kind, **params)
        if adapter.needs_fit:
            adapter.fit(fit_image, fit_text)
        elif adapter.needs_unpaired:
            adapter.fit_unpaired(fit_image, fit_text)
        sampled = noisy or adapter.structured_noise  # the covariance adapter's noise is its point
        images, moved = apply_deterministic(adapter, image, None if sampled else text)
        if sampled:
            with torch.no_grad():
                moved = adapter.train()(t).numpy()
        out[name] = (images, moved)
    return out


def mixing(coords: np.ndarray, n_img: int) -> float:
    """Share of points whose nearest 2-D neighbour is of the other modality (0: two separate
    clouds; about 0.5: fully mixed). The number behind the t-SNE panels."""
    from sklearn.neighbors import NearestNeighbors

    labels = np.r_[np.zeros(n_img), np.ones(len(coords) - n_img)]
    nn = NearestNeighbors(n_neighbors=2).fit(coords)
    idx = nn.kneighbors(coords, return_distance=False)[:, 1]
    return float(np.mean(labels[idx] != labels))
