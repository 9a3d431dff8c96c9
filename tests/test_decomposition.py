"""Gap decomposition statistics: closed forms, brute force, an independent implementation, and
the real-CLIP fixture's reference values (../shared/docs/gap-geometry.md)."""

from pathlib import Path

import numpy as np
import pytest

from gapkit.stats import decomposition as dec
from gapkit.stats.decomposition import decomposition, decomposition_intervals
from gapkit.stats.paired import Paired

FIXTURE = (
    Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real-clip" / "features_clip.npy"
)


def _unit(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


@pytest.fixture
def one_to_three(rng):
    x = _unit(rng.normal(size=(60, 16)))
    owner = np.repeat(np.arange(60), 3)
    y = _unit(x[owner] + rng.normal(size=(180, 16)) + 0.8)
    return Paired.from_raw(x, y, owner)


def test_shares_add_up_and_match_their_definitions(one_to_three):
    p = one_to_three
    d = decomposition(p)
    delta = p.image[p.caption_image] - p.text
    mean_sq = (delta**2).sum(1).mean()
    assert d["residual_share"] + d["constant_share"] == pytest.approx(
        1.0, abs=1e-12
    )  # equal captions per image
    assert d["constant_share"] == pytest.approx(np.sum(p.gap**2) / mean_sq, abs=1e-12)
    centred = delta - delta.mean(0)
    assert d["residual_text_ratio"] == pytest.approx(
        (centred**2).sum(1).mean() / ((p.text - p.text.mean(0)) ** 2).sum(1).mean(), abs=1e-12
    )


def test_cosines_against_brute_force(one_to_three):
    p = one_to_three
    d = decomposition(p)
    sims = p.text @ p.text.T
    other = p.caption_image[:, None] != p.caption_image[None, :]
    assert d["text_text_unrelated"] == pytest.approx(sims[other].mean(), abs=1e-12)
    isims = p.image @ p.image.T
    assert d["image_cone"] == pytest.approx(isims[~np.eye(60, dtype=bool)].mean(), abs=1e-12)
    moved = _unit(p.text + p.image.mean(0) - p.text.mean(0))
    assert d["shifted_paired_cosine"] == pytest.approx(
        (p.image[p.caption_image] * moved).sum(1).mean(), abs=1e-12
    )


def test_ridge_r2_closed_cases(rng):
    y = _unit(rng.normal(size=(400, 12)))
    q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    assert dec.ridge_r2(Paired.from_raw(y @ q, y)) > 0.99  # the image is a rotation of its caption
    unrelated = Paired.from_raw(_unit(rng.normal(size=(400, 12))), y)
    assert abs(dec.ridge_r2(unrelated)) < 0.05


def test_ridge_path_equals_an_independent_ridge(rng):
    from sklearn.linear_model import Ridge

    y, x = rng.normal(size=(80, 10)), rng.normal(size=(80, 6))
    test = rng.normal(size=(20, 10))
    path = dec._RidgePath(y, x)
    for alpha in dec.RIDGE_ALPHAS:
        ref = Ridge(alpha=alpha).fit(y, x).predict(test)
        assert np.abs(path.predict(test, alpha) - ref).max() < 1e-8


def test_effective_rank_closed_forms(rng):
    k = 7
    onehots = np.eye(16)[rng.integers(k, size=70000)]  # k equiprobable orthonormal directions
    assert dec.effective_rank(onehots) == pytest.approx(k - 1, abs=0.05)  # k - 1 equal eigenvalues
    assert dec.effective_rank(rng.normal(size=(20000, 5)) @ np.eye(5, 16)) == pytest.approx(5, abs=0.05)


def test_top_gap_share():
    gap = np.r_[3.0, 4.0, np.zeros(20)]
    assert dec.top_gap_share(gap, 1) == pytest.approx(16 / 25)
    assert dec.top_gap_share(gap, 10) == pytest.approx(1.0)


def test_intervals_cover_the_value_and_need_no_duplicates(one_to_three):
    out = decomposition_intervals(one_to_three, seed=0, reps=12)
    for name, (value, lo, hi) in out.items():
        assert lo <= value <= hi, name
    again = decomposition_intervals(one_to_three, seed=0, reps=12)
    assert again == out  # seeded


@pytest.mark.skipif(not FIXTURE.is_file(), reason="../shared/fixtures/real-clip is not present")
def test_real_clip_reference_values():
    a = np.load(FIXTURE)
    d = decomposition(Paired.from_raw(a[0], a[1]))
    ref = {
        "paired_cosine": 0.3099,
        "text_text_unrelated": 0.5152,
        "l2m": 0.8514,
        "image_cone": 0.5315,
        "text_cone": 0.5152,
        "shifted_paired_cosine": 0.677,
        "residual_text_ratio": 1.35,
        "residual_share": 0.475,
        "top10_gap_share": 0.80,
    }
    for k, v in ref.items():
        assert d[k] == pytest.approx(v, abs=0.005), k
    assert 0.18 <= d["ridge_r2"] <= 0.24
    assert d["image_effective_rank"] == pytest.approx(105, abs=1) and d[
        "text_effective_rank"
    ] == pytest.approx(97, abs=1)


def test_measure_reports_the_decomposition(one_to_three):
    import gapkit

    p = one_to_three
    report = gapkit.measure(p.image, p.text, p.caption_image, bootstrap=20)
    d = decomposition(p)
    for name in (
        "ridge_r2",
        "residual_text_ratio",
        "residual_share",
        "constant_share",
        "text_text_unrelated",
    ):
        assert report.stats[name].value == pytest.approx(d[name], abs=1e-9)
        assert report.stats[name].lo <= report.stats[name].value <= report.stats[name].hi
    table = report.table()
    assert "gap decomposition" in table and "ridge R^2 text -> image" in table
    small = gapkit.measure(p.image[:20], p.text[:60], p.caption_image[:60], bootstrap=0)
    assert "ridge_r2" not in small.stats and "n too small" in small.info["skipped"]["decomposition"]
