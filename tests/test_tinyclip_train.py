"""The tiny CLIP trainer's config checks and its auxiliary factor heads (a few steps of a small model)."""

import pytest
import torch

from gapkit.tinyclip.model import TinyClipConfig
from gapkit.tinyclip.train import TrainClipConfig, Trainer

SMALL = TinyClipConfig(embed_dim=32, vision_width=8, text_width=32, text_layers=1, head_width=16)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"aux_weight": -1.0}, "aux_weight must be >= 0"),
        ({"aux_weight": 1.0, "warm_start": "trunk"}, "embedding"),
    ],
)
def test_bad_aux_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        TrainClipConfig(**options)


def _heads_after_steps(tmp_path, aux_weight: float, steps: int = 2) -> tuple[list, list]:
    cfg = TrainClipConfig(
        model=SMALL, steps=steps, batch_size=8, pool_size=16, warmup_steps=1, aux_weight=aux_weight
    )
    trainer = Trainer(cfg, tmp_path / f"run-{aux_weight}", pool_cache=tmp_path / "pool")
    before = [p.detach().clone() for p in trainer.heads.parameters()]
    for _ in range(steps):
        trainer.train_step()
    return before, [p.detach() for p in trainer.heads.parameters()]


def test_aux_heads_train_beside_infonce_only_when_weighted(tmp_path):
    before, after = _heads_after_steps(tmp_path, aux_weight=0.5)
    assert any(not torch.equal(a, b) for a, b in zip(before, after))
    before, after = _heads_after_steps(tmp_path, aux_weight=0.0)
    assert all(torch.equal(a, b) for a, b in zip(before, after))
