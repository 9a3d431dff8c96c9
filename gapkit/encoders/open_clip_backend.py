"""open_clip models by open_clip's own names, read from local disk only.

``ARCH:TAG`` looks the tag's weights up in the Hugging Face cache (or open_clip's URL cache,
``~/.cache/clip``) and loads that file with the tag's preprocessing and QuickGELU setting;
``ARCH:PATH`` loads a local checkpoint; ``ARCH:random-init`` is an explicit untrained model;
``hf-hub:org/repo`` and ``local-dir:PATH`` load an open_clip config + weights folder.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from ..errors import GapkitError
from .base import ENCODERS, Encoder
from .weights import cached_sha256, find_in_hf_cache, missing_weights

RANDOM_INIT_SEED = 0
_WEIGHT_FILES = ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
_HINT = (
    "Copy the weights into the Hugging Face cache on a machine with internet "
    "(e.g. `huggingface-cli download REPO`), or pass ARCH:/path/to/checkpoint."
)


def _is_path(tag: str) -> bool:
    return os.sep in tag or tag.endswith((".pt", ".pth", ".bin", ".safetensors", ".npz"))


def _arch_names() -> list[str]:
    import open_clip

    return open_clip.list_models()


def _did_you_mean(given: str, names: list[str]) -> str:
    close = difflib.get_close_matches(given, names, n=3, cutoff=0.6)
    return f" Did you mean: {', '.join(close)}?" if close else ""


# Specs of the other backends, offered as suggestions too ("gapkit-shape" -> gapkit-shapes).
OTHER_SPECS = ["gapkit-shapes"]


def _check_arch(arch: str) -> None:
    names = _arch_names()
    if arch not in names:
        raise GapkitError(
            f"Unknown encoder {arch!r}.{_did_you_mean(arch, names + OTHER_SPECS)} Encoders are "
            "gapkit-shapes, ARCH:TAG or ARCH:CHECKPOINT (open_clip), hf-hub:REPO, "
            "local-dir:PATH or hf:PATH; see `gapkit ls encoders`."
        )


def _tag_weights(arch: str, tag: str) -> tuple[Path, dict]:
    """Local weights file for a pretrained tag, plus the tag's config (preprocessing, QuickGELU)."""
    import open_clip
    from open_clip.pretrained import get_pretrained_cfg

    cfg = get_pretrained_cfg(arch, tag)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(arch)
        raise GapkitError(
            f"Unknown pretrained tag {tag!r} for {arch}.{_did_you_mean(tag, tags)} "
            f"Tags: {', '.join(tags) or '(none)'}; or pass a checkpoint path or random-init."
        )
    looked: list[str] = []
    hub = cfg.get("hf_hub", "")
    if hub:
        repo, filename = hub.rstrip("/"), ""
        if not hub.endswith("/"):
            repo, filename = os.path.split(hub)
        names = [filename] if filename else _WEIGHT_FILES
        hit = find_in_hf_cache(repo, names, looked)
        if hit:
            return hit, cfg
    if cfg.get("url"):
        local = Path(os.path.expanduser("~/.cache/clip")) / os.path.basename(cfg["url"])
        looked.append(str(local))
        if local.is_file():
            return local, cfg
    raise missing_weights(f"{arch}:{tag}", looked, _HINT)


def _hf_hub_dir(repo: str) -> Path:
    looked: list[str] = []
    cfg = find_in_hf_cache(repo, ["open_clip_config.json"], looked)
    weights = find_in_hf_cache(repo, _WEIGHT_FILES, looked)
    if cfg is None or weights is None or cfg.parent != weights.parent:
        raise missing_weights(f"hf-hub:{repo}", looked, _HINT)
    return cfg.parent


@ENCODERS.register("open-clip")
class OpenClipEncoder(Encoder):
    """open_clip models (built-in architectures with tags or checkpoints, hf-hub, local-dir)."""

    backend = "open-clip"

    @staticmethod
    def claims(spec: str) -> bool:
        return spec.startswith(("hf-hub:", "local-dir:"))

    def __init__(self, spec: str, device: str | None = None) -> None:
        super().__init__(spec, device)
        import open_clip

        self._open_clip = open_clip
        self._dim: int | None = None
        self.model, self._transform, self._sha, self._tok_name = self._load(spec)
        self.model.eval().to(self.device)
        try:
            self.tokenizer = open_clip.get_tokenizer(self._tok_name)
        except Exception as e:  # tokenizers named by a Hugging Face repo need the local cache
            raise GapkitError(f"Tokenizer for {spec!r} could not be loaded offline: {e}") from None

    def _load(self, spec: str):
        oc = self._open_clip
        if spec.startswith(("hf-hub:", "local-dir:")):
            scheme, ident = spec.split(":", 1)
            folder = _hf_hub_dir(ident) if scheme == "hf-hub" else Path(ident)
            if not (folder / "open_clip_config.json").is_file():
                raise GapkitError(f"No open_clip_config.json in {folder} (for {spec!r}).")
            weights = next((folder / n for n in _WEIGHT_FILES if (folder / n).is_file()), None)
            if weights is None:
                raise missing_weights(spec, [str(folder / n) for n in _WEIGHT_FILES], _HINT)
            model, _, pre = oc.create_model_and_transforms(f"local-dir:{folder}", pretrained_text=False)
            return model, pre, cached_sha256(weights), f"local-dir:{folder}"
        arch, _, tag = spec.partition(":")
        _check_arch(arch)
        if not tag:
            raise GapkitError(
                f"Encoder {spec!r} names an architecture but no weights. Use {arch}:TAG "
                f"(e.g. {arch}:openai), {arch}:/path/to/checkpoint, or {arch}:random-init."
            )
        if tag == "random-init":
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(RANDOM_INIT_SEED)
                model, _, pre = oc.create_model_and_transforms(arch, pretrained=None, pretrained_text=False)
            return model, pre, f"random-init:seed={RANDOM_INIT_SEED}", arch
        if _is_path(tag):
            path = Path(tag).expanduser()
            if not path.is_file():
                raise GapkitError(f"Checkpoint not found: {path} (from encoder {spec!r}).")
            return self._from_file(arch, path, {})
        path, tag_cfg = _tag_weights(arch, tag)
        return self._from_file(arch, path, tag_cfg)

    def _from_file(self, arch: str, path: Path, tag_cfg: dict):
        kwargs = {
            k2: tag_cfg[k1]
            for k1, k2 in (
                ("mean", "image_mean"),
                ("std", "image_std"),
                ("interpolation", "image_interpolation"),
                ("resize_mode", "image_resize_mode"),
            )
            if k1 in tag_cfg
        }
        try:
            model, _, pre = self._open_clip.create_model_and_transforms(
                arch,
                pretrained=str(path),
                force_quick_gelu=bool(tag_cfg.get("quick_gelu", False)),
                pretrained_text=False,
                **kwargs,
            )
        except (RuntimeError, KeyError, ValueError) as e:
            raise GapkitError(f"Could not load {path} into open_clip {arch}: {str(e)[:300]}") from None
        return model, pre, cached_sha256(path), arch

    @property
    def embed_dim(self) -> int:
        if self._dim is None:  # architectures differ in where they keep it: ask the model
            self._dim = int(self.text_features(["a"]).shape[1])
        return self._dim

    def _image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(pixels)

    def _text_features(self, texts: Sequence[str]) -> torch.Tensor:
        return self.model.encode_text(self.tokenizer(list(texts)).to(self.device))
