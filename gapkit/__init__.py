"""gapkit: measure the modality gap of CLIP-family models and rerun CLOSE end to end.

The public API is flat; heavy modules (torch, transformers) are imported on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "measure": ("gapkit.stats", "measure"),
    "GapReport": ("gapkit.stats", "GapReport"),
    "create_encoder": ("gapkit.encoders", "create_encoder"),
    "load_dataset": ("gapkit.data", "load_dataset"),
    "embed_paired": ("gapkit.embed", "embed_paired"),
    "EmbeddingCache": ("gapkit.cache", "EmbeddingCache"),
    "GapkitError": ("gapkit.errors", "GapkitError"),
    "create_adapter": ("gapkit.adapters", "create_adapter"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'gapkit' has no attribute {name!r}")


__all__ = sorted(_LAZY)
