"""``measure``: every gap statistic with a seeded bootstrap 95% interval, as a ``GapReport``
(computed by ``engine.py``: one streaming pass, see there)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import ClassVar

import numpy as np

# Retrieval is O(n_img * n_cap * d): above this many images, a seeded sample of queries.
RETRIEVAL_AUTO_MAX = 50000
SPECTRUM_BOOT_ROWS = 2000
# Spectrum replicates cost rows * d^2 each (a d x d covariance and its eigenvalues). They get as
# many replicates as the other statistics while that stays within this many multiply-adds (all
# of them for the shipped 128-d tiny CLIP: 200 x 2000 x 128^2 = 6.6e9), and never fewer than
# SPECTRUM_MIN_REPS (768-d CLIP features: 20 replicates, about what the rest of measure costs).
SPECTRUM_BUDGET = 8e9
SPECTRUM_MIN_REPS = 20
SEED_MAX = 2**32 - 1  # numpy, torch and scikit-learn all accept seeds in 0..2^32-1
# Smallest n at which a statistic means something; below it the report says "n too small".
MIN_IMAGES_INTERVALS = 10  # bootstrap intervals (fewer images: a handful of distinct resamples)
MIN_IMAGES_SEPARABILITY = 25  # the 20% held-out split must hold at least ~10 rows
MIN_PAIRS_SPECTRUM = 10  # covariance of pair differences
# Gap decomposition (stats/decomposition.py): dense, so on a seeded subsample of at most this many
# images, with half-sampling intervals from DECOMPOSITION_REPS replicates (each costs about one
# decomposition: ~0.3 s at 1,000 images x 5 captions, d = 512).
DECOMPOSITION_MAX_IMAGES = 5000
DECOMPOSITION_REPS = 20
MIN_IMAGES_DECOMPOSITION = 40  # the cross-fitted ridge needs 20 images a half
# Norm-type statistics: plug-in |mean|-style estimates are biased (|mean| upward), and the
# percentile interval inherits the bias; the basic interval 2*value - quantiles corrects it to
# first order (a seeded coverage test in tests/test_stats.py checks this).
BASIC_INTERVAL = {
    "l2m",
    "l2m_sq_image_term",
    "l2m_sq_text_term",
    "l2m_sq_cross_term",
    "centroid_cosine",
    "diff_cov_trace",
    "gap_share",
}
# Natural range of each statistic; interval ends are clipped to it.
RANGES = {
    "cosine": (-1.0, 1.0),
    "paired_cosine_sd": (0.0, 1.0),
    "l2m": (0.0, 2.0),
    "l2i": (0.0, 2.0),
    "l2m_sq_image_term": (0.0, 1.0),
    "l2m_sq_text_term": (0.0, 1.0),
    "l2m_sq_cross_term": (-2.0, 2.0),
    "rmg": (0.0, 1.0),
    "separability": (0.0, 1.0),
    "share": (0.0, 1.0),
    "diff_cov_trace": (0.0, 4.0),
    "diff_effective_rank": (0.0, math.inf),
    "diff_dims_99": (1.0, math.inf),
    "r": (0.0, 1.0),
    "text_beyond_k": (0.0, 1.0),
    "image_inside_k": (0.0, 1.0),
    "text_dims_90": (1.0, math.inf),
    "gap_in_text_sd": (0.0, math.inf),
}


def natural_range(name: str) -> tuple[float, float]:
    """(low, high) bounds of statistic ``name`` (for unit vectors)."""
    if name in RANGES:
        return RANGES[name]
    if name.endswith("cosine"):
        return RANGES["cosine"]
    if name.endswith("share"):
        return RANGES["share"]
    if name[:3] in ("i2t", "t2i"):
        return RANGES["r"]
    return -math.inf, math.inf


def interval_kind(name: str) -> str:
    return "basic" if name in BASIC_INTERVAL or name.endswith("gap_share") else "percentile"


@dataclass
class Stat:
    value: float
    lo: float
    hi: float
    n: int

    def fmt(self, digits: int = 4) -> str:
        return f"{self.value:.{digits}f} [{self.lo:.{digits}f}, {self.hi:.{digits}f}]"


@dataclass
class GapReport:
    """Result of ``measure``. ``stats`` maps a name to a value with its 95% interval and n;
    ``info["skipped"]`` names the statistics left out because n is too small, and why."""

    stats: dict[str, Stat]
    info: dict
    gap_vector: np.ndarray
    image_centroid: np.ndarray
    text_centroid: np.ndarray
    top_dims: list[dict]
    eigenvalues: list[float]
    shifts: list[dict] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> float:
        return self.stats[name].value

    # ``gapkit measure --format json``'s schema; version 1 added the stamp and the centroids.
    SCHEMA: ClassVar[str] = "gapkit.measure"
    CURRENT: ClassVar[int] = 1

    def to_dict(self) -> dict:
        return {
            "schema": self.SCHEMA,
            "schema_version": self.CURRENT,
            "info": self.info,
            "stats": {k: asdict(v) for k, v in self.stats.items()},
            "top_dims": self.top_dims,
            "eigenvalues": self.eigenvalues,
            "shifts": self.shifts,
            "gap_vector": self.gap_vector.tolist(),
            "image_centroid": self.image_centroid.tolist(),
            "text_centroid": self.text_centroid.tolist(),
            "provenance": self.provenance,
        }

    @classmethod
    def from_dict(cls, d: dict, where: str = "measure report") -> GapReport:
        """A report from ``to_dict``'s JSON (version 0, unstamped, has no centroids: they come back
        as empty arrays)."""
        from ..errors import GapkitError

        if not isinstance(d, dict):
            raise GapkitError(f"{where}: expected a JSON object, got {type(d).__name__}.")
        schema, version = d.get("schema", cls.SCHEMA), d.get("schema_version", 0)
        if schema != cls.SCHEMA or version not in range(cls.CURRENT + 1):
            raise GapkitError(
                f"{where}: a {schema!r} record of version {version!r}, "
                f"expected {cls.SCHEMA!r} <= {cls.CURRENT}."
            )
        try:
            return cls(
                stats={k: _stat_from_json(v) for k, v in d["stats"].items()},
                info=d["info"],
                gap_vector=np.asarray(d["gap_vector"], np.float64),
                image_centroid=np.asarray(d.get("image_centroid", []), np.float64),
                text_centroid=np.asarray(d.get("text_centroid", []), np.float64),
                top_dims=d["top_dims"],
                eigenvalues=d["eigenvalues"],
                shifts=d.get("shifts", []),
                provenance=d.get("provenance", {}),
            )
        except (KeyError, TypeError) as e:
            raise GapkitError(f"{where}: not a measure report ({type(e).__name__}: {e}).") from None

    def table(self) -> str:
        from .display import render_table

        return render_table(self)


def _stat_from_json(v: dict) -> Stat:
    """A Stat from JSON, where NaN was written as null (an interval-less statistic)."""
    nan = float("nan")
    return Stat(
        *(nan if v[k] is None else float(v[k]) for k in ("value", "lo", "hi")),
        int(v["n"]),
    )


class _Intervals:
    """Turns replicate arrays into Stats: percentile intervals, basic (bias-corrected) intervals
    for norm-type statistics, or, with ``debias``, percentile intervals centred on the replicate
    mean. When the bootstrap ran on a subsample of n_sub of n images, intervals sit around the
    full-data value with widths scaled by sqrt(n_sub / n). Ends are clipped to the statistic's
    natural range."""

    def __init__(self, scale: float, debias: bool = False) -> None:
        self.scale, self.debias = scale, debias

    def stat(self, name: str, point: float, reps: np.ndarray, n: int) -> Stat:
        boot = np.asarray(reps[1:], dtype=np.float64)
        boot = boot[np.isfinite(boot)]
        if len(boot) < 2:
            return Stat(float(point), math.nan, math.nan, n)
        q_lo, q_hi = np.percentile(boot, [2.5, 97.5])
        # Spectrum statistics are biased under resampling (duplicated rows lower the rank), so
        # their intervals are centred on the replicate mean instead of the sample value.
        centre = float(np.mean(boot)) if self.debias else float(reps[0])
        if not self.debias and interval_kind(name) == "basic":
            q_lo, q_hi = 2 * centre - q_hi, 2 * centre - q_lo  # reflect: the basic bootstrap interval
        lo_b, hi_b = natural_range(name)
        lo = min(max(point + (q_lo - centre) * self.scale, lo_b), hi_b)
        hi = max(min(point + (q_hi - centre) * self.scale, hi_b), lo_b)
        return Stat(float(point), float(lo), float(hi), n)


def _weighted_means(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """values (n, k), weights (R, n) -> (R, k), accumulated in float64. A replicate that drew no
    row at all (possible for tiny n) is NaN and left out of the interval."""
    total = weights.sum(1, keepdims=True, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (weights.astype(np.float64) @ values.astype(np.float64)) / total


def _check_options(seed, bootstrap, top_k) -> None:
    from ..errors import GapkitError

    checks = [("seed", seed, 0, SEED_MAX), ("bootstrap", bootstrap, 0, None), ("top_k", top_k, 1, None)]
    for name, v, lo, hi in checks:
        if (
            isinstance(v, bool)
            or not isinstance(v, (int, np.integer))
            or v < lo
            or (hi is not None and v > hi)
        ):
            allowed = f"in {lo}..{hi}" if hi is not None else f">= {lo}"
            raise GapkitError(f"{name} must be an integer {allowed}, got {v!r}.")


def _too_small(n: int, need: int, what: str) -> str:
    return f"n too small ({n} {what} < {need})"
