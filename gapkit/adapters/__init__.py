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


__all__ = ["ADAPTERS", "Adapter", "apply_deterministic", "check_adapter_options", "create_adapter"]


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


# Rows within this of unit norm are used as given: CLOSE's vectors are unit by construction
# (float32 rounding leaves them ~1e-7 off), and renormalising them would move their last bits.
UNIT_TOL = 1e-5


def unit_inputs(rows, what: str = "rows"):
    """(n, d) rows as the float32 unit rows every adapter is defined on: L2-normalised (whatever
    their scale), rows already unit (within UNIT_TOL) unchanged. A zero or non-finite row is an
    error: it has no direction."""
    import numpy as np

    from ..errors import GapkitError
    from ..stats.paired import unit_rows

    a = np.asarray(rows, np.float32)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        norm = np.linalg.norm(a.astype(np.float64), axis=1)  # float64: float32 rows cannot overflow it
    bad = ~(np.isfinite(norm) & (norm > 0))
    if bad.any():
        k = int(np.argmax(bad))
        raise GapkitError(f"{what} row {k} is a zero vector or holds NaN/Inf: it has no direction to adapt.")
    near = np.abs(norm - 1) <= UNIT_TOL
    if near.all():
        return a if a.flags.writeable else a.copy()
    return np.where(near[:, None], a, unit_rows(a, np.float64).astype(np.float32))


def fitted_dim(adapter: Adapter) -> int | None:
    """The embedding size the adapter's fitted state is for (None: nothing fitted, or no size)."""
    import torch

    dims = {
        int(v.shape[-1]) for v in adapter.fitted_state().values() if isinstance(v, torch.Tensor) and v.numel()
    }
    return dims.pop() if len(dims) == 1 else None


def apply_deterministic(adapter: Adapter, images=None, texts=None):
    """The adapter's deterministic (test-time) half on unit rows: the one place that applies it
    (``gapkit measure --transform``, CLOSE's decoding inputs and gap log, the ablation geometry,
    the figures). Each row is L2-normalised first (``unit_inputs``), then texts go through the
    training half without noise and images through the test-time half (unchanged, but unit, for
    CLOSE's adapters). Returns (images, texts): (n, d) float32 unit rows each, None where None was
    given. Raises GapkitError when the rows' size is not the one the adapter was fitted on."""
    import numpy as np
    import torch

    from ..errors import GapkitError

    fitted = fitted_dim(adapter)
    for what, rows in (("image", images), ("text", texts)):
        if rows is not None and fitted is not None and np.shape(rows)[-1] != fitted:
            raise GapkitError(
                f"The {adapter.name} adapter was fitted on {fitted}-d embeddings, but the {what} "
                f"rows have d = {np.shape(rows)[-1]}."
            )
    x = None if images is None else unit_inputs(images, "image")
    t = None if texts is None else unit_inputs(texts, "text")
    with torch.no_grad():
        if t is not None:
            t = adapter.deterministic(torch.from_numpy(t)).numpy().astype(np.float32, copy=False)
        if x is not None and adapter.test_time:
            x = adapter.images(torch.from_numpy(x)).numpy().astype(np.float32, copy=False)
    return x, t
