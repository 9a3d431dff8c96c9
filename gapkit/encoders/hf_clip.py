"""transformers ``CLIPModel`` from a local folder or the Hugging Face cache (``hf:PATH_OR_REPO``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import GapkitError
from .base import ENCODERS, Encoder
from .weights import cached_sha256, find_in_hf_cache, missing_weights

_WEIGHT_FILES = ["model.safetensors", "pytorch_model.bin"]
_MIN_VOCAB = 100  # an offline "tokenizer" smaller than this is a dummy, not a real vocabulary


class HFImageTransform:
    """PIL image -> (3, H, W) tensor through a CLIPImageProcessor (picklable for workers)."""

    def __init__(self, processor) -> None:
        self.processor = processor

    def __call__(self, image: Image.Image) -> torch.Tensor:
        pixels = self.processor(images=image.convert("RGB"), return_tensors="np")["pixel_values"][0]
        return torch.from_numpy(np.ascontiguousarray(pixels))

    def __repr__(self) -> str:
        return f"HFImageTransform({self.processor.to_json_string()})"


def _resolve_folder(ident: str) -> tuple[Path, Path]:
    folder = Path(ident).expanduser()
    looked: list[str] = []
    if folder.is_dir():
        weights = next((folder / n for n in _WEIGHT_FILES if (folder / n).is_file()), None)
        looked += [str(folder / n) for n in _WEIGHT_FILES]
    else:
        cfg = find_in_hf_cache(ident, ["config.json"], looked)
        weights = find_in_hf_cache(ident, _WEIGHT_FILES, looked) if cfg else None
        folder = cfg.parent if cfg else folder
    if weights is None:
        raise missing_weights(
            f"hf:{ident}",
            looked,
            "Pass a folder saved with CLIPModel.save_pretrained "
            "or a repo id present in the Hugging Face cache.",
        )
    return folder, weights


@ENCODERS.register("hf-clip")
class HFClipEncoder(Encoder):
    """transformers CLIPModel (folder saved with save_pretrained, or a cached repo id)."""

    backend = "hf-clip"

    @staticmethod
    def claims(spec: str) -> bool:
        return spec.startswith("hf:")

    def __init__(self, spec: str, device: str | None = None) -> None:
        super().__init__(spec, device)
        from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

        folder, weights = _resolve_folder(spec[3:])
        try:
            self.model = CLIPModel.from_pretrained(folder, local_files_only=True)
            self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            processor = CLIPImageProcessor.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as e:
            raise GapkitError(f"Could not load a CLIPModel from {folder}: {str(e)[:300]}") from None
        if len(self.tokenizer) < _MIN_VOCAB:
            raise GapkitError(
                f"The tokenizer in {folder} has only {len(self.tokenizer)} entries: "
                "not a usable CLIP vocabulary."
            )
        self.model.eval().to(self.device)
        self._transform = HFImageTransform(processor)
        self._sha = cached_sha256(weights)
        self._max_len = int(self.model.config.text_config.max_position_embeddings)

    @property
    def embed_dim(self) -> int:
        return int(self.model.config.projection_dim)

    @staticmethod
    def _pooled(out) -> torch.Tensor:
        # transformers 4.x returns the projected tensor; 5.x an output object whose pooler_output
        # holds the projection.
        return out if isinstance(out, torch.Tensor) else out.pooler_output

    def _image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        return self._pooled(self.model.get_image_features(pixel_values=pixels))

    def _text_features(self, texts: Sequence[str]) -> torch.Tensor:
        batch = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self._max_len, return_tensors="pt"
        ).to(self.device)
        return self._pooled(
            self.model.get_text_features(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        )
