"""Where the texts vary (gapkit.stats.textspread): the real-CLIP fixture's numbers from an
independent computation (SVD of the centred rows, not the covariance's eigendecomposition), scale
invariance, degenerate inputs and the jackknife interval."""

import json
import os

import numpy as np
import pytest

from gapkit.stats.textspread import TEXTSPREAD_KEYS, text_spread, text_spread_intervals

from .conftest import REAL_CLIP

FIXTURE = os.path.join(REAL_CLIP, "features_clip.npy")
needs_fixture = pytest.mark.skipif(not os.path.isfile(FIXTURE), reason="real-CLIP fixture not present")


def by_svd(image, text, k=50, mass=0.9):
    """The same five statistics from singular values of the centred unit rows."""
    x = image / np.linalg.norm(image, axis=1, keepdims=True)
    y = text / np.linalg.norm(text, axis=1, keepdims=True)
    yc, xc = y - y.mean(0), x - x.mean(0)
    _, sv, vt = np.linalg.svd(yc, full_matrices=False)
    var = sv**2 / len(y)  # text variance along each right singular vector, descending
    share = var / var.sum()
    m = int(np.argmax(np.cumsum(share) >= mass)) + 1
    proj = xc @ vt[:k].T  # image rows in the top-k text directions
    gap = vt[:m] @ (x.mean(0) - y.mean(0))
    nz = share[share > 1e-300]
    return {
        "text_beyond_k": 1 - share[:k].sum(),
        "image_inside_k": (proj**2).sum() / (xc**2).sum(),
        "text_effective_rank": np.exp(-(nz * np.log(nz)).sum()),
        "text_dims_90": m,
        "gap_in_text_sd": np.linalg.norm(gap / np.sqrt(var[:m])),
    }


@needs_fixture
def test_real_clip_numbers_match_an_independent_computation():
    a = np.load(FIXTURE).astype(np.float64)
    got, ref = text_spread(a[0], a[1]), by_svd(a[0], a[1])
    for key in TEXTSPREAD_KEYS:
        assert got[key] == pytest.approx(ref[key], rel=1e-6), key
    # the values the organism work rests on (issue 23's table, 500 pairs, first caption each)
    assert got["text_beyond_k"] == pytest.approx(0.27, abs=0.005)
    assert got["image_inside_k"] == pytest.approx(0.23, abs=0.005)
    assert got["text_effective_rank"] == pytest.approx(97, abs=0.5)
    assert got["text_dims_90"] == 118
    assert got["gap_in_text_sd"] == pytest.approx(9.8, abs=0.05)


@needs_fixture
@pytest.mark.parametrize("scale", [1e-30, 1e30])
def test_invariant_to_the_rows_scale(scale):
    a = np.load(FIXTURE).astype(np.float64)
    base, scaled = text_spread(a[0], a[1]), text_spread(a[0] * scale, a[1] / scale)
    for key in TEXTSPREAD_KEYS:
        assert scaled[key] == pytest.approx(base[key], rel=1e-6), key


def white(rng, n, k):
    """(n, k) centred rows whose sample covariance is exactly the identity."""
    z = rng.standard_normal((n, k))
    q = np.linalg.qr(z - z.mean(0))[0]
    return q * np.sqrt(n)


def test_a_known_tail(rng):
    """Texts spread equally over 100 directions: 50% of their variance lies beyond the top 50,
    effective rank 100; images that vary in 100 other directions have none inside."""
    d = 256
    basis = np.linalg.qr(rng.standard_normal((d, d)))[0]
    anchor = basis[:, 200]  # every row shares a large common direction (unit rows stay near it)
    text = 50 * anchor + white(rng, 5000, 100) @ basis[:, :100].T
    image = 50 * anchor + white(rng, 5000, 100) @ basis[:, 100:200].T
    got = text_spread(image, text)
    # exact before normalisation; normalising rows of norm 51 +- 0.3% moves the shares slightly
    assert got["text_beyond_k"] == pytest.approx(0.5, abs=0.01)
    assert got["text_effective_rank"] == pytest.approx(100, rel=0.01)
    assert got["image_inside_k"] < 0.01


def test_degenerate_inputs_are_nan_not_errors():
    one = np.ones((1, 8))
    assert all(np.isnan(v) for v in text_spread(one, one).values())
    same = np.ones((10, 8))
    assert all(np.isnan(v) for v in text_spread(same, same).values())  # texts that do not vary
    d1 = text_spread(np.ones((5, 1)), np.ones((5, 1)))
    assert np.isnan(d1["text_beyond_k"])


@needs_fixture
def test_jackknife_interval_holds_the_value():
    a = np.load(FIXTURE).astype(np.float64)
    got = text_spread_intervals(a[0], a[1], groups=10)
    for key, (value, lo, hi) in got.items():
        assert lo < value < hi, key
    no_interval = text_spread_intervals(a[0][:3], a[1][:3])
    assert all(np.isnan(v[1]) for v in no_interval.values())


@needs_fixture
def test_measure_reports_where_the_texts_vary(tmp_path, capsys):
    """`gapkit measure` (table and --json) carries the four rows, equal to the library's numbers."""
    from gapkit.cli.main import main

    out = tmp_path / "gap.json"
    assert main(["measure", "--embeddings", FIXTURE, "--json", str(out), "--bootstrap", "20"]) == 0
    stats = json.loads(out.read_text())["stats"]
    a = np.load(FIXTURE)
    ref = text_spread_intervals(a[0], a[1])
    for key in ("text_beyond_k", "image_inside_k", "text_dims_90", "gap_in_text_sd"):
        assert stats[key]["value"] == pytest.approx(ref[key][0], rel=1e-9), key
        assert stats[key]["lo"] < stats[key]["value"] < stats[key]["hi"], key
    table = capsys.readouterr().out
    assert "where the texts vary" in table and "text variance beyond top k text PCs" in table
