"""Input contract for the statistics: finite, non-zero, matching shapes, L2-normalised.

Shapes are checked here before any work; rows (finite, non-zero) and their norm range by the
streaming pass that reads them anyway (``stream.py``), so checking costs no pass of its own.

gapkit normalises by default and says so in every report (with the input norm range); with
``normalize=False`` inputs must already be unit-norm (within ``UNIT_TOL``) or it is an error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import GapkitError
from .paired import unit_rows

UNIT_TOL = 1e-3
# Fewer images than this leave the cone, unpaired and retrieval terms resting on one to three
# pairs; statistics needing more (separability, spectrum, intervals) say "n too small" instead.
MIN_PAIRS = 4


@dataclass
class NormInfo:
    min_norm: float
    max_norm: float
    normalized_by_gapkit: bool

    def describe(self) -> str:
        how = "L2-normalised by gapkit" if self.normalized_by_gapkit else "used as given (unit-norm)"
        return f"input norms in [{self.min_norm:.4g}, {self.max_norm:.4g}]; {how}"


def check_shapes(image_emb, text_emb, caption_image) -> None:
    """Everything about the input that needs no pass over its rows (the pass checks the rows)."""
    for name, a in (("image_emb", image_emb), ("text_emb", text_emb)):
        if getattr(a, "ndim", None) != 2:
            raise GapkitError(f"{name} must be a 2-D (n, d) array, got shape {getattr(a, 'shape', None)}.")
    if image_emb.shape[1] != text_emb.shape[1]:
        raise GapkitError(f"image_emb has d={image_emb.shape[1]} but text_emb has d={text_emb.shape[1]}.")
    if caption_image is None and len(image_emb) != len(text_emb):
        raise GapkitError(
            f"image_emb has {len(image_emb)} rows but text_emb has {len(text_emb)}; "
            "pass caption_image (each caption's image index) for 1 image : k captions."
        )
    if caption_image is not None:
        ci = np.asarray(caption_image)
        if ci.dtype.kind not in "iu":
            raise GapkitError(f"caption_image must hold integer image indices, got {ci.dtype}.")
        if ci.shape != (len(text_emb),):
            raise GapkitError(
                f"caption_image must have one entry per caption ({len(text_emb)}), got {ci.shape}."
            )
        if len(ci) and (ci.min() < 0 or ci.max() >= len(image_emb)):
            raise GapkitError(f"caption_image refers to images outside 0..{len(image_emb) - 1}.")
    if len(text_emb) < MIN_PAIRS or len(image_emb) < MIN_PAIRS:
        raise GapkitError(
            f"Need at least {MIN_PAIRS} pairs to measure a gap, got {len(image_emb)} images and "
            f"{len(text_emb)} captions."
        )


def check_norm_range(lo: float, hi: float, normalize: bool) -> NormInfo:
    """The input norm range found by the pass; without normalisation the rows must be unit-norm."""
    if not normalize and (abs(lo - 1) > UNIT_TOL or abs(hi - 1) > UNIT_TOL):
        raise GapkitError(
            f"Inputs are not unit-norm (norms in [{lo:.4g}, {hi:.4g}]) and normalisation is "
            "off; the gap statistics are defined on L2-normalised embeddings. Drop "
            "--no-normalize (normalize=False) to let gapkit normalise them."
        )
    return NormInfo(lo, hi, normalize)


def chunk_rows(c: np.ndarray, normalize: bool) -> np.ndarray:
    """A chunk as float32, L2-normalised when ``normalize`` (sums across chunks are float64;
    the normalisation does not depend on the rows' scale: ``paired.unit_rows``)."""
    return unit_rows(c, np.float32) if normalize else np.asarray(c, dtype=np.float32)
