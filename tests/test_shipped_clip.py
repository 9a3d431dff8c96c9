"""The shipped tiny CLIP is a faithful model organism of CLIP's modality gap: its geometry and
probes, recomputed here from the committed weights on held-out test scenes, meet the targets
that the model card reports (tinyclip/card.py's GEOMETRY_ROWS)."""

import json

import numpy as np
import pytest

from gapkit.encoders.shapes import ASSET_DIR
from gapkit.tinyclip.card import GEOMETRY_ROWS, PROBE_TARGET, met

from .conftest import card_metrics

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def metrics():
    """``evaluate_model`` of the shipped weights (seed 0, no bootstrap), computed in a subprocess
    that conftest starts when these tests are collected, beside the rest of the suite."""
    return card_metrics()


@pytest.fixture(scope="module")
def card():
    return json.loads((ASSET_DIR / "metrics.json").read_text())


def test_card_records_these_numbers(metrics, card):
    for key, (value, *_) in metrics["geometry"].items():
        assert card["geometry"][key][0] == pytest.approx(value, abs=1e-6), key
    # Probe accuracies over 1,000 test scenes. Each probe is fitted on one BLAS thread
    # (probes.PROBE_WORKERS), so on one machine they are the same bits whatever the thread count
    # and load (measured: OMP/OPENBLAS threads 1 and 2, and beside a two-job CLOSE sweep: equal to
    # the card). Another CPU's BLAS kernels round differently, and lbfgs stops at max_iter before
    # converging for the weakly encoded factors, which can flip borderline scenes: rounding
    # differences of that size (a 2-thread BLAS before pinning) moved them by up to 0.002, and a
    # busy machine with other kernels by 0.004 (issue 22). Hence 5 scenes in 1,000.
    for kind in ("probes_image", "probes_text"):
        for factor, value in metrics[kind].items():
            assert card[kind][factor] == pytest.approx(value, abs=0.005), (kind, factor)
    assert (ASSET_DIR / "model.safetensors").stat().st_size < 30 * 2**20


def test_geometry_targets(metrics, card):
    """Every target the card marks as met is met; the card's misses are stated in its notes."""
    values = {k: v[0] for k, v in metrics["geometry"].items()}
    missed = [key for key, _, _ in GEOMETRY_ROWS if met(key, values[key], values) is False]
    assert sorted(missed) == sorted(card.get("missed", [])), missed


def test_probe_misses_are_the_cards(metrics, card):
    """Probes below the target are exactly the card's stated misses; the captioned object factors
    (shape, colour, size, position, count) are readable from images and texts."""
    missed = [
        f"{kind}:{f}"
        for kind in ("probes_image", "probes_text")
        for f, v in metrics[kind].items()
        if v < PROBE_TARGET
    ]
    assert sorted(missed) == sorted(card["missed_probes"])
    for factor in ("shape", "colour", "size", "position", "count"):
        assert (
            metrics["probes_image"][factor] >= PROBE_TARGET and metrics["probes_text"][factor] >= PROBE_TARGET
        )


def test_a_clip_sized_gap_that_is_not_a_constant_offset(metrics):
    g = {k: v[0] for k, v in metrics["geometry"].items()}
    assert g["separability"] >= 0.99 and 0.7 <= g["l2m"] <= 1.0
    assert g["residual_share"] >= 0.4 and g["ridge_r2"] <= 0.35
    assert g["text_text_unrelated"] > g["paired_cosine"]
    assert np.isfinite(list(g.values())).all()
