"""Reading cell result files written by gapkit 0.1 (the committed v1 tables) under the current
config schema.

gapkit 0.1 configs had no ``tuned_noise`` or ``early_stopping`` keys, and several defaults have
since changed to CLOSE's. A v1 config read as it stands would now mean a different run, so the
converter spells out what the v1 run actually did, in today's keys:

- ``tuned_noise: matched-norm`` (v1 scaled the task's tuned w to the embedding size by norm);
- ``early_stopping: true`` (v1 beam search stopped once ``beams`` hypotheses had finished);
- ``adapter_options.renorm_before_noise: true`` for ``mean-shift`` and ``random-shift`` (v1
  renormalised the shifted vector before the noise; ``linear`` did and still does);
- ``adapter_options.cov_scale: 1.0`` for ``cov`` (v1's default; CLOSE's 3 is today's);
- lr, epochs, batch size and weight decay were always written explicitly, so they stand;
- the per-epoch log: v1's ``mg`` / ``centroid_distance`` included the training noise, so they
  become ``mg_noisy`` / ``centroid_distance_noisy`` (today's ``mg`` is the noiseless MG).

The converted result's ``key`` is its cell key under the converted config (``spec.cell_key``),
with the encoder weights the result records in its provenance (or, for a file that records none,
the weights its encoder name resolves to now): results of other weights match no current cell.

One v1 result has no current equivalent: a multi-caption images run (``task: caption-multi``,
``train_on: image``) trained on the multi-caption targets; today's images model of that task is
the single-caption one, so that file converts but matches no cell of a current spec. The
converted result carries ``converted_from`` and the file on disk is never rewritten."""

from __future__ import annotations

import copy

from ..close.config import CloseConfig
from .spec import cell_key, encoder_fingerprint

V1 = "gapkit 0.1 cell result (converted on reading)"
_V1_OPTIONS = {
    "mean-shift": {"renorm_before_noise": True},
    "random-shift": {"renorm_before_noise": True},
    "cov": {"cov_scale": 1.0},
}
_V1_HISTORY = {"mg": "mg_noisy", "centroid_distance": "centroid_distance_noisy"}


def is_v1(result: dict) -> bool:
    """A result whose config predates the keys gapkit 0.2 added."""
    return "tuned_noise" not in result.get("config", {})


def upgrade_config(config: dict) -> dict:
    """A v1 config dict in today's keys, meaning the run it described (see the module docstring)."""
    conf = copy.deepcopy(config)
    conf.setdefault("tuned_noise", "matched-norm")
    conf.setdefault("early_stopping", True)
    conf["adapter_options"] = {
        **_V1_OPTIONS.get(conf.get("adapter"), {}),
        **(conf.get("adapter_options") or {}),
    }
    return CloseConfig.from_dict(conf, "v1 result config").to_dict()


def upgrade_result(result: dict) -> dict:
    """A cell result under the current schema: v1 results converted, current ones as they are."""
    if not is_v1(result):
        return result
    out = copy.deepcopy(result)
    out["config"] = upgrade_config(result["config"])
    out["key"] = cell_key(out["config"], _encoder_weights(result, out["config"]["encoder"]))
    out["history"] = [{_V1_HISTORY.get(k, k): v for k, v in h.items()} for h in result.get("history", [])]
    out["converted_from"] = V1
    return out


def _encoder_weights(result: dict, encoder: str) -> str:
    """The sha256 of the encoder weights a result was made with: as its provenance records it,
    else (a file without provenance) what ``encoder`` resolves to now."""
    recorded = ((result.get("provenance") or {}).get("encoder") or {}).get("weights_sha256")
    return recorded or encoder_fingerprint(encoder)
