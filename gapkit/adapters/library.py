"""The registered adapters (CLOSE sections 2.1-2.5, with the original code's defects fixed:
seeded generators, spelled names, no hard-coded constants, eval-mode identity).

Order of operations, as in CLOSE's ``close/model/language_adapters.py`` and ``get_adapter``
(``close/experiments/utils.py``): the shift adapters build ``Shift(..., renorm=False)``, so the
shifted vector is *not* renormalised before the noise, only after it: n(t + s mu + w eps); the
linear adapter is built with ``renorm=True``: n(n(t A^T + b) + w eps). ``renorm_before_noise``
keeps the other order available for each of them (gapkit 0.1 renormalised before the noise
everywhere). The output is always renormalised at the end, also when w = 0 (CLOSE's
``FixedRandomShift`` skips its final renormalisation when w = 0, leaving vectors off the sphere)."""

from __future__ import annotations

import numpy as np
import torch

from ..stats.paired import unit_rows
from ..streams import stream
from .base import ADAPTERS, Adapter, unit


def _as_unit(a: np.ndarray) -> np.ndarray:
    return unit_rows(a, np.float64)


@ADAPTERS.register("none")
class NoAdapter(Adapter):
    """Identity: text vectors used as they are (CLOSE w/o noise)."""

    name = "none"
    PARAMS = ("seed",)
    plain_noise = True

    def __init__(self, seed: int = 0) -> None:
        super().__init__(noise=0.0, seed=seed)


@ADAPTERS.register("noise")
class GaussianNoise(Adapter):
    """n(t + w eps), eps ~ N(0, I): CLOSE's default adapter (w = ``noise``)."""

    name = "noise"
    plain_noise = True


class _Moved(Adapter):
    """A deterministic map ``move`` (shift or linear), then the noise, then renormalisation; with
    ``renorm_before_noise`` the moved vector is renormalised before the noise too."""

    RENORM_DEFAULT = False  # CLOSE's value for this adapter (get_adapter's renorm argument)

    def __init__(self, noise: float = 0.0, seed: int = 0, renorm_before_noise: bool | None = None) -> None:
        super().__init__(noise, seed)
        self.renorm_before_noise = (
            self.RENORM_DEFAULT if renorm_before_noise is None else bool(renorm_before_noise)
        )

    def move(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def transform(self, t):
        x = self.move(t)  # (B, d), off the sphere
        return unit(x) if self.renorm_before_noise else x


class _Shifted(_Moved):
    """t + scale * shift for a fixed vector ``shift`` (a buffer, saved with the run as the fitted
    state); subclasses say where the shift comes from."""

    scale = 1.0

    def __init__(self, noise: float = 0.0, seed: int = 0, renorm_before_noise: bool | None = None) -> None:
        super().__init__(noise, seed, renorm_before_noise)
        self.register_buffer("shift", torch.zeros(0))

    def _shift_for(self, t: torch.Tensor) -> None:
        """Called when ``move`` finds no shift yet: set it, or refuse."""
        raise RuntimeError(f"{self.name} adapter used before fit()")

    def move(self, t):
        if self.shift.numel() == 0:
            self._shift_for(t)
        return t + self.scale * self.shift.to(t.device)

    def fitted_state(self) -> dict:
        return {"shift": self.shift.clone()}

    def load_fitted_state(self, state: dict) -> None:
        self.shift = state["shift"]


@ADAPTERS.register("mean-shift")
class MeanShift(_Shifted):
    """n(t + s mu + w eps) with mu = mean(image) - mean(text) fitted on paired data; s = ``scale``
    (negative moves away from the images). CLOSE's order; ``renorm_before_noise``: n(n(t + s mu) + w eps)."""

    name = "mean-shift"
    PARAMS = ("noise", "seed", "scale", "renorm_before_noise")
    OPTIONS = {"scale": (float, None), "renorm_before_noise": (bool, None)}
    needs_fit = True

    def __init__(
        self, noise: float = 0.0, seed: int = 0, scale: float = 1.0, renorm_before_noise: bool | None = None
    ) -> None:
        super().__init__(noise, seed, renorm_before_noise)
        self.scale = float(scale)

    def fit(self, image_emb, text_emb) -> MeanShift:
        mu = _as_unit(image_emb).mean(0) - _as_unit(text_emb).mean(0)
        self.shift = torch.as_tensor(mu, dtype=torch.float32)
        return self


@ADAPTERS.register("random-shift")
class RandomShift(_Shifted):
    """n(t + r + w eps) with r a fixed direction uniform on the sphere, |r| = ``magnitude``, drawn
    from ``direction_seed`` (the paper's RNG rows; default: the run's ``seed``, so a run with seed s
    shifts along the first random direction ``gapkit measure --seed s`` reports). CLOSE's order;
    ``renorm_before_noise``: n(n(t + r) + w eps)."""

    name = "random-shift"
    PARAMS = ("noise", "seed", "magnitude", "direction_seed", "dim", "renorm_before_noise")
    OPTIONS = {
        "magnitude": (float, 0.0),
        "direction_seed": (int, 0),
        "dim": (int, 1),
        "renorm_before_noise": (bool, None),
    }
    needs_dim = True

    def __init__(
        self,
        noise: float = 0.0,
        seed: int = 0,
        magnitude: float = 1.0,
        direction_seed: int | None = None,
        dim: int | None = None,
        renorm_before_noise: bool | None = None,
    ) -> None:
        super().__init__(noise, seed, renorm_before_noise)
        self.magnitude, self.dim = float(magnitude), dim
        self.direction_seed = int(seed if direction_seed is None else direction_seed)
        if dim is not None:
            self.set_dim(dim)

    def set_dim(self, d: int) -> None:
        from ..stats.shift import random_direction  # the same directions `gapkit measure` reports

        self.dim = d
        self.shift = torch.as_tensor(
            random_direction(d, self.magnitude, self.direction_seed), dtype=torch.float32
        )

    def fit(self, image_emb, text_emb) -> RandomShift:
        self.set_dim(np.asarray(text_emb).shape[1])
        return self

    def _shift_for(self, t):
        self.set_dim(t.shape[1])


@ADAPTERS.register("linear")
class Linear(_Moved):
    """n(n(t A^T + b) + w eps): ridge regression from text to paired image vectors (CLOSE Table 4
    "+Linear", renormalised before the noise as CLOSE's get_adapter does; ``renorm_before_noise:
    false`` gives n(t A^T + b + w eps)); ``ridge`` is the L2 penalty."""

    name = "linear"
    PARAMS = ("noise", "seed", "ridge", "renorm_before_noise")
    OPTIONS = {"ridge": (float, 0.0), "renorm_before_noise": (bool, None)}
    RENORM_DEFAULT = True
    needs_fit = True

    def __init__(
        self, noise: float = 0.0, seed: int = 0, ridge: float = 1e-3, renorm_before_noise: bool | None = None
    ) -> None:
        super().__init__(noise, seed, renorm_before_noise)
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

    def move(self, t):
        if self.weight.numel() == 0:
            raise RuntimeError("linear adapter used before fit()")
        return t @ self.weight.T.to(t.device) + self.bias.to(t.device)

    def fitted_state(self) -> dict:
        return {"weight": self.weight.clone(), "bias": self.bias.clone()}

    def load_fitted_state(self, state: dict) -> None:
        self.weight, self.bias = state["weight"], state["bias"]


@ADAPTERS.register("cov")
class CovarianceNoise(Adapter):
    """n(t + mu_d + c z + w eps), z ~ N(0, Sigma_d): structured noise whose mean and covariance are
    those of image - text differences on paired data (CLOSE Table 4 "+Cov."); c = ``cov_scale``,
    default 3 as CLOSE's ``CovNoise`` hard-codes (gapkit 0.1 used 1)."""

    name = "cov"
    PARAMS = ("noise", "seed", "cov_scale")
    OPTIONS = {"cov_scale": (float, 0.0)}
    CLOSE_COV_SCALE = 3.0
    needs_fit = True
    structured_noise = True

    def __init__(self, noise: float = 0.0, seed: int = 0, cov_scale: float = CLOSE_COV_SCALE) -> None:
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


# -- methods that move the test images too (issue: every way to cross the gap) ------------------
@ADAPTERS.register("c3")
class Collapse(Adapter):
    """C3's collapse and corrupt (Zhang et al., ICLR 2024; their code's order): a training text t
    becomes n(t - mu_T + w eps) and a test image x becomes n(x - mu_I), with mu_T and mu_I each
    modality's mean unit embedding over unpaired data (the training texts; the paired-data split's
    images). The collapse removes each modality's own offset; the noise covers the rest."""

    name = "c3"
    needs_unpaired = True
    test_time = True

    def __init__(self, noise: float = 0.0, seed: int = 0) -> None:
        super().__init__(noise, seed)
        self.register_buffer("text_mean", torch.zeros(0))
        self.register_buffer("image_mean", torch.zeros(0))

    def fit_unpaired(self, images, texts) -> Collapse:
        self.image_mean = torch.as_tensor(_as_unit(images).mean(0), dtype=torch.float32)
        self.text_mean = torch.as_tensor(_as_unit(texts).mean(0), dtype=torch.float32)
        return self

    def _check_fitted(self) -> None:
        if self.text_mean.numel() == 0:
            raise RuntimeError("c3 adapter used before fit_unpaired()")

    def transform(self, t):
        self._check_fitted()
        return t - self.text_mean.to(t.device)

    def images(self, x):
        self._check_fitted()
        return unit(x - self.image_mean.to(x.device))

    def fitted_state(self) -> dict:
        return {"text_mean": self.text_mean.clone(), "image_mean": self.image_mean.clone()}

    def load_fitted_state(self, state: dict) -> None:
        self.text_mean, self.image_mean = state["text_mean"], state["image_mean"]


class _Memory(Adapter):
    """Training on clean text; at test time each image is replaced by a combination of a memory
    of training text embeddings (``memory_size`` of them, a seeded sample; 0 = all)."""

    PARAMS = ("seed", "memory_size")
    OPTIONS = {"memory_size": (int, 0)}
    needs_unpaired = True
    test_time = True

    def __init__(self, seed: int = 0, memory_size: int = 0) -> None:
        super().__init__(noise=0.0, seed=seed)
        self.memory_size = int(memory_size)
        self.register_buffer("memory", torch.zeros(0))

    def fit_unpaired(self, images, texts) -> _Memory:
        texts = _as_unit(texts)
        if 0 < self.memory_size < len(texts):
            keep = np.sort(
                stream(self.seed, "adapter-memory").choice(len(texts), self.memory_size, replace=False)
            )
            texts = texts[keep]
        self.memory = torch.as_tensor(texts, dtype=torch.float32)
        return self

    def _similarities(self, x: torch.Tensor) -> torch.Tensor:
        if self.memory.numel() == 0:
            raise RuntimeError(f"{self.name} adapter used before fit_unpaired()")
        return x @ self.memory.to(x.device).T  # (B, m) cosines

    def fitted_state(self) -> dict:
        return {"memory": self.memory.clone()}

    def load_fitted_state(self, state: dict) -> None:
        self.memory = state["memory"]


@ADAPTERS.register("decap")
class DecapProjection(_Memory):
    """DeCap's projection (Li et al., ICLR 2023; their inference code): an image x becomes
    n(softmax(x M^T / temperature) M) over the memory M of training text embeddings, temperature
    0.01 as published. Training-free at test time; the decoder trains on clean text."""

    name = "decap"
    PARAMS = ("seed", "memory_size", "temperature")
    OPTIONS = {"memory_size": (int, 0), "temperature": (float, 0.0)}

    def __init__(self, seed: int = 0, memory_size: int = 0, temperature: float = 0.01) -> None:
        super().__init__(seed, memory_size)
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)

    def images(self, x):
        weights = torch.softmax(self._similarities(x) / self.temperature, dim=-1)
        return unit(weights @ self.memory.to(x.device))


@ADAPTERS.register("nearest-caption")
class NearestCaption(_Memory):
    """A retrieval baseline: each test image replaced by its most similar training caption's
    embedding (DeCap's projection at temperature -> 0)."""

    name = "nearest-caption"

    def images(self, x):
        return self.memory.to(x.device)[self._similarities(x).argmax(dim=-1)]
