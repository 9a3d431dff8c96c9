"""Supervised warm start of the image tower over *every* factor of the shapes world.

Linear heads on the image embedding predict, for each grid cell, whether it holds an object and
the shape, colour, size and fill of the object there, and each scene factor and the count. The
object-factor losses count occupied cells only: with an "empty" class in every factor, two
thirds of the targets would be "empty" and the heads learn occupancy long before shape. The heads
are discarded after the warm start; the model card says whether a recipe used them."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..worlds.shapes import catalog
from ..worlds.shapes.scene import Scene

_CELL_FACTORS = ("shape", "colour", "size", "fill")
_SCENE_TARGETS = {**catalog.SCENE_FACTORS, "count": catalog.COUNTS}


class FactorHeads(torch.nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.cell_sizes = [2] + [len(catalog.OBJECT_FACTORS[f]) for f in _CELL_FACTORS]  # occupancy first
        self.scene_sizes = [len(v) for v in _SCENE_TARGETS.values()]
        n_out = len(catalog.POSITIONS) * sum(self.cell_sizes) + sum(self.scene_sizes)
        self.linear = torch.nn.Linear(dim, n_out)

    @staticmethod
    def targets(scenes: list[Scene]) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, cells, 5) cell classes (occupancy, then each object factor; -1 where the cell is
        empty) and (B, scene factors) scene classes."""
        cells = np.full((len(scenes), len(catalog.POSITIONS), 1 + len(_CELL_FACTORS)), -1, np.int64)
        cells[..., 0] = 0
        scene_t = np.zeros((len(scenes), len(_SCENE_TARGETS)), np.int64)
        for b, s in enumerate(scenes):
            for o in s.objects:
                p = catalog.POSITIONS.index(o.position)
                cells[b, p] = [1, *(catalog.OBJECT_FACTORS[f].index(o.factor(f)) for f in _CELL_FACTORS)]
            scene_t[b] = [values.index(s.factor(f)) for f, values in _SCENE_TARGETS.items()]
        return torch.from_numpy(cells), torch.from_numpy(scene_t)

    def loss(self, feats: torch.Tensor, scenes: list[Scene]) -> torch.Tensor:
        out = self.linear(feats)  # (B, n_out)
        n_cell = len(catalog.POSITIONS) * sum(self.cell_sizes)
        cell_logits = out[:, :n_cell].view(len(scenes), len(catalog.POSITIONS), -1)
        cells, scene_t = self.targets(scenes)
        losses = [
            F.cross_entropy(part.reshape(-1, part.shape[-1]), cells[..., k].reshape(-1), ignore_index=-1)
            for k, part in enumerate(torch.split(cell_logits, self.cell_sizes, dim=-1))
        ]
        losses += [
            F.cross_entropy(part, scene_t[:, k])
            for k, part in enumerate(torch.split(out[:, n_cell:], self.scene_sizes, dim=-1))
        ]
        return sum(losses) / len(losses)


def trunk_features(visual: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """(B, C, 3, 3) feature map of a ModifiedResNet tower before its attention pooling."""
    x = visual.stem(images)
    for layer in (visual.layer1, visual.layer2, visual.layer3, visual.layer4):
        x = layer(x)
    return x


class TrunkHeads(torch.nn.Module):
    """Warm-start heads on the image tower's *trunk*: each grid cell's factors are read from the
    matching position of the final 3 x 3 feature map (one linear map shared by the cells, i.e. a
    1 x 1 convolution), scene factors from its spatial mean. The attention pooling and the
    projection into the embedding space are left at their initialisation, so the embedding keeps
    the cone of a freshly initialised tower (Liang et al. 2022) until contrastive training."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.cell_sizes = [2] + [len(catalog.OBJECT_FACTORS[f]) for f in _CELL_FACTORS]
        self.scene_sizes = [len(v) for v in _SCENE_TARGETS.values()]
        self.cell = torch.nn.Linear(channels, sum(self.cell_sizes))
        self.scene = torch.nn.Linear(channels, sum(self.scene_sizes))

    def loss(self, fmap: torch.Tensor, scenes: list[Scene]) -> torch.Tensor:
        b, c, h, w = fmap.shape
        if h * w != len(catalog.POSITIONS):
            raise ValueError(f"trunk warm start needs a {len(catalog.POSITIONS)}-cell map, got {h} x {w}")
        # (B, C, 3, 3) -> (B, 9, C): row-major cells, the order of catalog.POSITIONS
        cell_logits = self.cell(fmap.flatten(2).transpose(1, 2))
        scene_logits = self.scene(fmap.mean((2, 3)))
        cells, scene_t = FactorHeads.targets(scenes)
        losses = [
            F.cross_entropy(part.reshape(-1, part.shape[-1]), cells[..., k].reshape(-1), ignore_index=-1)
            for k, part in enumerate(torch.split(cell_logits, self.cell_sizes, dim=-1))
        ]
        losses += [
            F.cross_entropy(part, scene_t[:, k])
            for k, part in enumerate(torch.split(scene_logits, self.scene_sizes, dim=-1))
        ]
        return sum(losses) / len(losses)
