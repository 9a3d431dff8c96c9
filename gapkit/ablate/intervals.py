"""A grid cell's number: the mean over its runs, with a 95% interval that combines the spread
between training seeds and the sampling of evaluation items.

A cell has R runs (training seeds; for the RNG rows, 3 directions each with its own seed), each
scored on n items; x[r, i] is run r's score on item i (x100). The metrics tabulated are means over
items (CIDEr-D, with the IDF of the whole scored set held fixed; VE and VQA accuracies), so run r's
metric is xbar[r] = mean_i x[r, i] and the cell's number is

    m = (1/R) sum_r xbar[r].

Its variance has two parts, taken as independent and added:

- seeds: V_seed = s^2 / R, with s^2 = sum_r (xbar[r] - m)^2 / (R - 1) the sample variance of the
  runs' metrics (the runs share their items, so this is the training spread alone);
- items: the bootstrap variance of m under resampling the n items with replacement, the same
  resample for every run (paired). For a mean it has a closed form, used here instead of Monte
  Carlo draws (no resampling noise): with a[i] = (1/R) sum_r x[r, i],
  V_item = (1/n^2) sum_i (a[i] - abar)^2.
  Runs scored on different items (older result files) are independent instead:
  V_item = (1/R^2) sum_r (1/n_r^2) sum_i (x[r, i] - xbar[r])^2.

The interval is m +- t * sqrt(V_seed + V_item), t the 0.975 quantile of Student's t with the
Welch-Satterthwaite degrees of freedom nu = (V_seed + V_item)^2 / (V_seed^2 / (R - 1) + V_item^2 / (n - 1)),
so with 3 seeds and a small item variance it is close to the t interval of 3 values (t = 4.30),
and with one seed it is the item bootstrap's (nu = n - 1). Parts that cannot be estimated are
left out and the interval says so in ``method``: one run gives no seed part; results without
per-item scores give no item part; one run without per-item scores gives no interval."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95


@dataclass
class Interval:
    """``mean`` with its 95% interval [``lo``, ``hi``] (None when it cannot be estimated)."""

    mean: float
    lo: float | None
    hi: float | None
    runs: int
    items: int | None  # items per run (the smallest), None without per-item scores
    seed_var: float | None  # V_seed, None with one run
    item_var: float | None  # V_item, None without per-item scores
    df: float | None
    method: str

    def text(self, digits: int = 1) -> str:
        """``mean [lo, hi]``, or the mean alone when there is no interval."""
        if math.isnan(self.mean):
            return "–"
        if self.lo is None:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} [{self.lo:.{digits}f}, {self.hi:.{digits}f}]"


def t_quantile(df: float, level: float = LEVEL) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2, df))


def item_variance(per_item: list[np.ndarray], paired: bool) -> float:
    """V_item: the exact bootstrap variance of the mean over runs of each run's item mean."""
    if paired:
        a = np.mean(np.stack(per_item), axis=0)  # (n,) item scores averaged over runs
        return float(np.sum((a - a.mean()) ** 2) / len(a) ** 2)
    return float(sum(np.sum((x - x.mean()) ** 2) / len(x) ** 2 for x in per_item) / len(per_item) ** 2)


def combine(values: list[float], per_item: list | None = None, items: list | None = None) -> Interval:
    """Mean and 95% interval of one cell.

    Parameters
    ----------
    values : list of float
        Each finished run's metric (xbar[r]).
    per_item : list of array-like or None
        Each run's per-item scores (None, or any run lacking them: no item part).
    items : list of str or None
        Each run's ``items`` digest: runs with equal digests were scored on the same items (paired).
    """
    vals = np.asarray(values, dtype=float)
    if not len(vals) or np.isnan(vals).any():
        return Interval(float("nan"), None, None, 0, None, None, None, None, "no result")
    r, m = len(vals), float(vals.mean())
    seed_var = float(vals.var(ddof=1) / r) if r > 1 else None
    item_var, n = None, None
    if per_item is not None and len(per_item) == r and all(p is not None and len(p) > 1 for p in per_item):
        arrays = [np.asarray(p, dtype=float) for p in per_item]
        paired = items is not None and len(set(items)) == 1 and len({len(a) for a in arrays}) == 1
        item_var, n = item_variance(arrays, paired), min(len(a) for a in arrays)
    parts = [(v, d) for v, d in ((seed_var, r - 1), (item_var, (n or 0) - 1)) if v is not None]
    total = sum(v for v, _ in parts)
    if not parts:
        return Interval(
            m, None, None, r, n, seed_var, item_var, None, "one run without per-item scores: no interval"
        )
    if total == 0:
        df = float("inf")
    else:
        df = total**2 / sum(v**2 / d for v, d in parts if v > 0)
    half = t_quantile(df) * math.sqrt(total)
    method = {
        2: f"{r} runs x {n} items (seeds + item bootstrap)",
        1: f"{r} runs, seeds only (no per-item scores)"
        if item_var is None
        else f"1 run x {n} items, item bootstrap only",
    }
    return Interval(m, m - half, m + half, r, n, seed_var, item_var, df, method[len(parts)])
