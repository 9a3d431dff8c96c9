"""The CLOSE model: a unit CLIP vector -> linear map to K prefix vectors -> T5, with the task's
extra text (question, hypothesis) as ordinary T5 tokens after the prefix.

Unlike the original code, the attention mask is given to the T5 *encoder* too, so padding of the
extra text is never attended."""

from __future__ import annotations

import torch
from torch import nn


class ClipPrefixT5(nn.Module):
    def __init__(self, t5, clip_dim: int, n_prefix: int = 4) -> None:
        super().__init__()
        self.t5 = t5
        self.n_prefix = n_prefix
        self.d_model = t5.config.d_model
        self.prefix = nn.Linear(clip_dim, n_prefix * self.d_model)

    def encoder_inputs(
        self, clip: torch.Tensor, extra_ids: torch.Tensor | None, extra_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """clip (B, d) unit vectors; extra_ids/mask (B, L) -> embeds (B, K + L, D), mask (B, K + L)."""
        b = clip.shape[0]
        embeds = self.prefix(clip).view(b, self.n_prefix, self.d_model)  # (B, K, D)
        mask = torch.ones(b, self.n_prefix, dtype=torch.long, device=clip.device)
        if extra_ids is not None:
            embeds = torch.cat([embeds, self.t5.get_input_embeddings()(extra_ids)], dim=1)
            mask = torch.cat([mask, extra_mask.long()], dim=1)
        return embeds, mask

    def forward(self, clip, extra_ids, extra_mask, labels) -> torch.Tensor:
        """Mean token cross-entropy over all non-pad target tokens (labels: pad -> -100)."""
        embeds, mask = self.encoder_inputs(clip, extra_ids, extra_mask)
        return self.t5(inputs_embeds=embeds, attention_mask=mask, labels=labels).loss

    @torch.no_grad()
    def generate(
        self, clip, extra_ids, extra_mask, max_len: int, beams: int = 5, early_stopping: bool = False
    ) -> torch.Tensor:
        """Beam search over plain sums of log-probabilities (no length penalty), as CLOSE decodes
        with AllenNLP's BeamSearch: that search ends only when every beam has finished, i.e. when no
        unfinished beam scores above the finished ones. Hugging Face's ``early_stopping=False`` with
        ``length_penalty=0`` stops on the same condition (a sum of log-probabilities can only fall);
        ``early_stopping=True`` stops as soon as ``beams`` hypotheses have finished, which can
        return a lower-scoring one."""
        embeds, mask = self.encoder_inputs(clip, extra_ids, extra_mask)
        beam_args = {"length_penalty": 0.0, "early_stopping": early_stopping} if beams > 1 else {}
        return self.t5.generate(
            inputs_embeds=embeds,
            attention_mask=mask,
            num_beams=beams,
            max_new_tokens=max_len,
            do_sample=False,
            **beam_args,
        )
