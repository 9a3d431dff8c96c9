"""The registered adapters (CLOSE sections 2.1-2.5, with the original code's defects fixed:
seeded generators, spelled names, no hard-coded constants, eval-mode identity)."""

from __future__ import annotations

import numpy as np
import torch

from . import ADAPTERS
from .base import Adapter, unit


def _as_unit(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


@ADAPTERS.register("none")
class NoAdapter(Adapter):
    """Identity: text vectors used as they are (CLOSE w/o noise)."""

    name = "none"
    PARAMS = ("seed",)

    def __init__(self, seed: int = 0) -> None:
        super().__init__(noise=0.0, seed=seed)


@ADAPTERS.register("noise")
class GaussianNoise(Adapter):
    """n(t + w eps), eps ~ N(0, I): CLOSE's default adapter (w = ``noise``)."""

    name = "noise"


@ADAPTERS.register("mean-shift")
class MeanShift(Adapter):
    """n(n(t + s mu) + w eps) with mu = mean(image) - mean(text) fitted on paired data; s = ``scale``
    (negative moves away from the images)."""

    name = "mean-shift"
    PARAMS = ("noise", "seed", "scale")
    OPTIONS = {"scale": (float, None)}
    needs_fit = True

    def __init__(self, noise: float = 0.0, seed: int = 0, scale: float = 1.0) -> None:
        super().__init__(noise, seed)
        self.scale = float(scale)
        self.register_buffer("shift", torch.zeros(0))

    def fit(self, image_emb, text_emb) -> MeanShift:
        mu = _as_unit(image_emb).mean(0) - _as_unit(text_emb).mean(0)
        self.shift = torch.as_tensor(mu, dtype=torch.float32)
        return self

    def transform(self, t):
        if self.shift.numel() == 0:
            raise RuntimeError("mean-shift adapter used before fit()")
        return unit(t + self.scale * self.shift.to(t.device))

    def fitted_state(self) -> dict:
        return {"shift": self.shift.clone()}

    def load_fitted_state(self, state: dict) -> None:
        self.shift = state["shift"]


@ADAPTERS.register("random-shift")
class RandomShift(Adapter):
    """n(n(t + r) + w eps) with r a fixed direction uniform on the sphere, |r| = ``magnitude``,
    drawn from ``direction_seed`` (the paper's RNG rows)."""

    name = "random-shift"
    PARAMS = ("noise", "seed", "magnitude", "direction_seed", "dim")
    OPTIONS = {"magnitude": (float, 0.0), "direction_seed": (int, 0), "dim": (int, 1)}

    def __init__(self, noise: float = 0.0, seed: int = 0, magnitude: float = 1.0,
                 direction_seed: int = 0, dim: int | None = None) -> None:
        super().__init__(noise, seed)
        self.magnitude, self.direction_seed, self.dim = float(magnitude), int(direction_seed), dim
        self.register_buffer("shift", torch.zeros(0))
        if dim is not None:
            self._draw_direction(dim)

    def _draw_direction(self, d: int) -> None:
        from ..stats.shift import random_direction  # the same directions `gapkit measure` reports

        self.dim = d
        self.shift = torch.as_tensor(random_direction(d, self.magnitude, self.direction_seed), dtype=torch.float32)

    def fit(self, image_emb, text_emb) -> RandomShift:
        self._draw_direction(np.asarray(text_emb).shape[1])
        return self

    def transform(self, t):
        if self.shift.numel() == 0:
            self._draw_direction(t.shape[1])
        return unit(t + self.shift.to(t.device))

    def fitted_state(self) -> dict:
        return {"shift": self.shift.clone()}

    def load_fitted_state(self, state: dict) -> None:
        self.shift = state["shift"]


@ADAPTERS.register("linear")
class Linear(Adapter):
    """n(n(t A^T + b) + w eps): ridge regression from text to paired image vectors (CLOSE Table 4
    "+Linear"); ``ridge`` is the L2 penalty."""

    name = "linear"
    PARAMS = ("noise", "seed", "ridge")
    OPTIONS = {"ridge": (float, 0.0)}
    needs_fit = True

    def __init__(self, noise: float = 0.0, seed: int = 0, ridge: float = 1e-3) -> None:
        super().__init__(noise, seed)
        self.ridge = float(ridge)
        self.register_buffer("weight", torch.zeros(0))
        self.register_buffer("bias", torch.zeros(0))

    def fit(self, image_emb, text_emb) -> Linear:
        x, y = _as_unit(text_emb), _as_unit(image_emb)
        xm, ym = x.mean(0), y.mean(0)
        xc, yc = x - xm, y - ym
        d = x.shape[1]
        a = np.linalg.solve(xc.T @ xc + self.ridge * len(x) * np.eye(d), xc.T @ yc)  # (d_in, d_out)
        self.weight = torch.as_tensor(a.T, dtype=torch.float32)  # (d_out, d_in), like nn.Linear
        self.bias = torch.as_tensor(ym - xm @ a, dtype=torch.float32)
        return self

    def transform(self, t):
        if self.weight.numel() == 0:
            raise RuntimeError("linear adapter used before fit()")
        return unit(t @ self.weight.T.to(t.device) + self.bias.to(t.device))

    def fitted_state(self) -> dict:
        return {"weight": self.weight.clone(), "bias": self.bias.clone()}

    def load_fitted_state(self, state: dict) -> None:
        self.weight, self.bias = state["weight"], state["bias"]


@ADAPTERS.register("cov")
class CovarianceNoise(Adapter):
    """n(t + mu_d + c z + w eps), z ~ N(0, Sigma_d): structured noise whose mean and covariance are
    those of image - text differences on paired data (CLOSE Table 4 "+Cov."); c = ``cov_scale``
    (the original code hard-codes 3)."""

    name = "cov"
    PARAMS = ("noise", "seed", "cov_scale")
    OPTIONS = {"cov_scale": (float, 0.0)}
    needs_fit = True

    def __init__(self, noise: float = 0.0, seed: int = 0, cov_scale: float = 1.0) -> None:
        super().__init__(noise, seed)
        self.cov_scale = float(cov_scale)
        self.register_buffer("mean", torch.zeros(0))
        self.register_buffer("chol", torch.zeros(0))

    def fit(self, image_emb, text_emb) -> CovarianceNoise:
        delta = _as_unit(image_emb) - _as_unit(text_emb)
        cov = np.cov(delta.T, bias=True)
        # Eigen-decomposition gives a square root even when Sigma is singular (d > n pairs).
        vals, vecs = np.linalg.eigh(cov)
        root = vecs * np.sqrt(np.clip(vals, 0, None))
        self.mean = torch.as_tensor(delta.mean(0), dtype=torch.float32)
        self.chol = torch.as_tensor(root, dtype=torch.float32)  # Sigma = root @ root.T
        return self

    def deterministic(self, t):
        if self.mean.numel() == 0:
            raise RuntimeError("cov adapter used before fit()")
        return unit(t + self.mean.to(t.device))

    def forward(self, t):
        if not self.training:
            return t
        if self.mean.numel() == 0:
            raise RuntimeError("cov adapter used before fit()")
        z = self.draw(tuple(t.shape)).to(t.device) @ self.chol.T.to(t.device)
        x = t + self.mean.to(t.device) + self.cov_scale * z
        if self.noise > 0:
            x = x + self.noise * self.draw(tuple(t.shape)).to(t.device)
        return unit(x)

    def fitted_state(self) -> dict:
        return {"mean": self.mean.clone(), "chol": self.chol.clone()}

    def load_fitted_state(self, state: dict) -> None:
        self.mean, self.chol = state["mean"], state["chol"]
