"""Language adapters: applied to L2-normalised *text* embeddings during training only, to bridge
the gap to the image embeddings seen at test time (CLOSE section 3). One interface, a registry.

All adapters: ``forward`` in training mode returns adapted unit vectors; in eval mode it is the
identity (images are never adapted). Noise comes from the adapter's own seeded generator.
Paired-data adapters (``mean-shift``, ``linear``, ``cov``) are fitted with ``fit(image_emb,
text_emb)`` and save/load their fitted state.
"""

from __future__ import annotations

from .._registry import Registry

ADAPTERS: Registry = Registry("adapter", ls_hint="adapters")

from . import library  # noqa: E402,F401  (registration)
from .base import Adapter  # noqa: E402


def create_adapter(name: str, **params) -> Adapter:
    """Build a registered adapter: ``create_adapter("noise", noise=0.08, seed=0)``."""
    from ..errors import GapkitError

    cls = ADAPTERS.get(name)
    try:
        return cls(**params)
    except TypeError as e:
        raise GapkitError(f"Bad parameters for adapter {name!r}: {e}. "
                          f"Accepted: {', '.join(cls.PARAMS)}.") from None


__all__ = ["ADAPTERS", "Adapter", "create_adapter"]
