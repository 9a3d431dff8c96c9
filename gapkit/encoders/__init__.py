"""Encoders behind one interface. Spec strings follow open_clip's naming:

- ``gapkit-shapes``: the embedded tiny CLIP shipped with gapkit (``gapkit-shapes:random-init`` for the
  untrained control, ``gapkit-shapes:PATH`` for retrained weights);
- ``ViT-B-32:openai``, ``ViT-L-14:laion2b_s32b_b82k``: open_clip architecture + pretrained tag, read
  from the local caches (never downloaded here; never silently random);
- ``ViT-B-32:/path/to/checkpoint.pt``: architecture + local checkpoint; ``ViT-B-32:random-init``
  for an explicit untrained model;
- ``hf-hub:org/repo``: an open_clip model from the Hugging Face cache;
- ``hf:PATH_OR_REPO``: a transformers ``CLIPModel`` folder or cached repo id.
"""

from __future__ import annotations

from .base import ENCODERS, Encoder, l2_normalize, resolve_device


def create_encoder(spec: str, device: str | None = None) -> Encoder:
    """Build the encoder named by ``spec`` (see the module docstring)."""
    from . import hf_clip, open_clip_backend, shapes  # noqa: F401  (registration)

    for name in ENCODERS.names():
        backend = ENCODERS.get(name)
        if backend.claims(spec):
            return backend(spec, device=device)
    return ENCODERS.get("open-clip")(spec, device=device)


__all__ = ["ENCODERS", "Encoder", "create_encoder", "l2_normalize", "resolve_device"]
