"""MG / Delta / magnitude of each row's adapter, on the evaluation split's caption pairs.

MG = mean cos(image, a(text)) and Delta = mean cos(text, a(text)), with a the adapter's
deterministic part (no noise), as CLOSE Table 3 defines them; Mag. = the norm of the translation
for the shift adapters."""

from __future__ import annotations

import logging
from collections import defaultdict

import numpy as np

from ..adapters import ADAPTERS, apply_deterministic, unit_inputs
from ..cache import EmbeddingCache
from ..close.prepare import Vectors, build_adapter, data_source
from ..close.tasks import CaptionSingle
from ..encoders import create_encoder
from ..errors import GapkitError
from ..stats.paired import Paired

log = logging.getLogger("gapkit.ablate")


def _pairs(cfg, encoder, cache):
    src = data_source(cfg)
    vec = Vectors(encoder, cache, {"close-data": src.identity}, src.root, cfg.template)
    ex = CaptionSingle().examples(src, cfg.eval_split, train=True)  # one example per caption
    if not ex:
        raise GapkitError(f"no caption pairs in split {cfg.eval_split!r}")
    return src, vec, vec.images(ex), vec.texts(ex)


def adapter_geometry(spec) -> dict:
    """row label -> {"mg": [...], "delta": [...], "magnitude": [...]} over the row's repeats. A row
    whose data or adapter cannot be built (a cell that fails for the same reason) is left out."""
    out: dict = defaultdict(lambda: defaultdict(list))
    cache = EmbeddingCache()
    encoders, pairs = {}, {}
    seen = set()
    for cell in spec.cells():
        cfg = cell.config
        ident = (cell.row, str(cell.params))
        if ident in seen or cfg.train_on == "image":
            continue  # one geometry per row repeat (tasks share it); images are not adapted
        seen.add(ident)
        if (cfg.encoder, cfg.device) not in encoders:  # one encoder per spec, not per row repeat
            encoders[(cfg.encoder, cfg.device)] = create_encoder(cfg.encoder, device=cfg.device)
        enc = encoders[(cfg.encoder, cfg.device)]
        try:
            _row_geometry(out[cell.row], cfg, enc, cache, pairs)
        except GapkitError as e:
            log.warning("no geometry for row %s: %s", cell.row, e)
    return {k: dict(v) for k, v in out.items() if v}


def _row_geometry(row: dict, cfg, enc, cache, pairs: dict) -> None:
    key = (cfg.encoder, cfg.world, cfg.world_seed, cfg.data_root, cfg.eval_split, cfg.template)
    if key not in pairs:
        pairs[key] = _pairs(cfg, enc, cache)
    src, vec, img, txt = pairs[key]  # img, txt: (n, d) vectors of the split's caption pairs
    adapter = build_adapter(cfg, vec, src)
    img, moved = apply_deterministic(adapter, img, txt)
    txt = unit_inputs(txt, "text")  # Delta compares the moved text with the unit text
    p = Paired(img, txt, np.arange(len(txt)))  # one example per caption: row k pairs with row k
    row["mg"].append(p.mg(moved))
    row["delta"].append(p.delta(moved))
    row["l2m"].append(p.centroid_distance(moved))
    shift = getattr(adapter, "shift", None)
    if shift is not None and shift.numel():
        scale = getattr(adapter, "scale", 1.0)
        row["magnitude"].append(float(abs(scale) * shift.norm()))
    elif ADAPTERS.get(cfg.adapter).plain_noise:
        row["magnitude"].append(0.0)
