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

from ..worlds.shapes import spec
from ..worlds.shapes.scene import Scene

_CELL_FACTORS = ("shape", "colour", "size", "fill")
_SCENE_TARGETS = {**spec.SCENE_FACTORS, "count": spec.COUNTS}


class FactorHeads(torch.nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.cell_sizes = [2] + [len(spec.OBJECT_FACTORS[f]) for f in _CELL_FACTORS]  # occupancy first
        self.scene_sizes = [len(v) for v in _SCENE_TARGETS.values()]
        n_out = len(spec.POSITIONS) * sum(self.cell_sizes) + sum(self.scene_sizes)
        self.linear = torch.nn.Linear(dim, n_out)

    @staticmethod
    def targets(scenes: list[Scene]) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, cells, 5) cell classes (occupancy, then each object factor; -1 where the cell is
        empty) and (B, scene factors) scene classes."""
        cells = np.full((len(scenes), len(spec.POSITIONS), 1 + len(_CELL_FACTORS)), -1, np.int64)
        cells[..., 0] = 0
        scene_t = np.zeros((len(scenes), len(_SCENE_TARGETS)), np.int64)
        for b, s in enumerate(scenes):
            for o in s.objects:
                p = spec.POSITIONS.index(o.position)
                cells[b, p] = [1, *(spec.OBJECT_FACTORS[f].index(o.factor(f)) for f in _CELL_FACTORS)]
            scene_t[b] = [values.index(s.factor(f)) for f, values in _SCENE_TARGETS.items()]
        return torch.from_numpy(cells), torch.from_numpy(scene_t)

    def loss(self, feats: torch.Tensor, scenes: list[Scene]) -> torch.Tensor:
        out = self.linear(feats)  # (B, n_out)
        n_cell = len(spec.POSITIONS) * sum(self.cell_sizes)
        cell_logits = out[:, :n_cell].view(len(scenes), len(spec.POSITIONS), -1)
        cells, scene_t = self.targets(scenes)
        losses = [F.cross_entropy(part.reshape(-1, part.shape[-1]), cells[..., k].reshape(-1), ignore_index=-1)
                  for k, part in enumerate(torch.split(cell_logits, self.cell_sizes, dim=-1))]
        losses += [F.cross_entropy(part, scene_t[:, k])
                   for k, part in enumerate(torch.split(out[:, n_cell:], self.scene_sizes, dim=-1))]
        return sum(losses) / len(losses)
