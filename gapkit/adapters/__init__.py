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
    return ADAPTERS.create(name, **params)


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


# -- a method's deterministic transforms, outside training (gapkit measure --transform) ----------
def fitted_adapter(name: str, images, texts, caption_image=None, seed: int = 0, **options) -> Adapter:
    """``name`` fitted on what it needs from (images, texts): paired rows (caption k belongs to
    image ``caption_image[k]``) for the paired-data adapters, the two sets as unpaired samples for
    C3 / DeCap / nearest caption, the embedding size for a random shift."""
    import numpy as np

    params = {"seed": seed, **options}
    if "noise" in ADAPTERS.get(name).PARAMS:
        params.setdefault("noise", 0.0)  # the transforms are deterministic: no noise is drawn
    adapter = create_adapter(name, **params)
    images, texts = np.asarray(images), np.asarray(texts)
    owner = np.arange(len(texts)) if caption_image is None else np.asarray(caption_image)
    if adapter.needs_fit:
        adapter.fit(images[owner], texts)
    elif adapter.needs_unpaired:
        adapter.fit_unpaired(images, texts)
    elif adapter.needs_dim:
        adapter.set_dim(texts.shape[1])
    return adapter


def saved_adapter(path) -> Adapter:
    """The adapter a CLOSE run saved (``RUN/adapter.pt``): its parameters and fitted state."""
    import torch

    from ..errors import GapkitError

    try:
        saved = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError) as e:
        raise GapkitError(f"Cannot read the saved adapter {path}: {e}") from None
    params = dict(saved["describe"])
    adapter = create_adapter(params.pop("adapter"), **params)
    adapter.load_fitted_state(saved["fitted"])
    return adapter


def transform_pairs(adapter: Adapter, images, texts):
    """(images, texts) after the adapter's deterministic parts: texts through the training half
    without noise, images through the test-time half (unchanged for CLOSE's adapters); (n, d)
    float32 unit rows each."""
    import numpy as np
    import torch

    with torch.no_grad():
        t = adapter.deterministic(torch.as_tensor(np.asarray(texts, np.float32))).numpy()
        x = torch.as_tensor(np.asarray(images, np.float32))
        x = (adapter.images(x) if adapter.test_time else x).numpy()
    return x, t
