"""Visual-entailment accuracy: exact match of the generated label with the gold label."""

from __future__ import annotations

import numpy as np


def ve_accuracy(preds: list[str], labels: list[str]) -> dict:
    per = np.array([p.strip().lower() == g.strip().lower() for p, g in zip(preds, labels)], dtype=float)
    return {
        "accuracy": 100 * float(per.mean()) if len(per) else float("nan"),
        "n": len(per),
        "per_item_accuracy": 100 * per,
    }
