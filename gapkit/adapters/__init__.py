"""Language adapters: applied to L2-normalised *text* embeddings during training only, to bridge
the gap to the image embeddings seen at test time (CLOSE section 3). One interface, a registry.

All adapters: ``forward`` in training mode returns adapted unit vectors; in eval mode it is the
identity (images are never adapted). Noise comes from the adapter's own seeded generator.
Paired-data adapters (``mean-shift``, ``linear``, ``cov``) are fitted with ``fit(image_emb,
text_emb)`` and save/load their fitted state.
"""

from __future__ import annotations

from . import library  # noqa: F401  (registers the adapters)
from .base import ADAPTERS, Adapter

IDENTITY = "none"  # the adapter that leaves vectors as they are (an images model's)


def create_adapter(name: str, **params) -> Adapter:
    """Build a registered adapter: ``create_adapter("noise", noise=0.08, seed=0)``."""
    from ..errors import GapkitError

    cls = ADAPTERS.get(name)
    try:
        return cls(**params)
    except TypeError as e:
        raise GapkitError(
            f"Bad parameters for adapter {name!r}: {e}. Accepted: {', '.join(cls.PARAMS)}."
        ) from None


def check_adapter_options(name: str, options, where: str = "config") -> None:
    """Refuse unknown option names (with a suggestion) and values of the wrong type for ``name``."""
    from .._options import check_mapping, check_options
    from ..errors import GapkitError

    cls = ADAPTERS.get(name)
    for key in ("noise", "seed"):
        if key in check_mapping(options, f"{where}: adapter_options"):
            raise GapkitError(
                f"{where}: adapter_options.{key}: set {key} at the top level of the config, "
                "not in adapter_options."
            )
    check_options(options, cls.OPTIONS, f"{where}: adapter_options", f"adapter {name!r}")


__all__ = ["ADAPTERS", "Adapter", "check_adapter_options", "create_adapter"]
