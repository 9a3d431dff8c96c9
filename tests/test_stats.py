import numpy as np
import pytest

from gapkit.errors import GapkitError
from gapkit.stats import measure
from gapkit.stats.reference import gram_statistics, shift_reference
from gapkit.stats.shift import Shift

from .conftest import clouds

SCALARS = [
    "paired_cosine",
    "paired_cosine_sd",
    "unpaired_cosine",
    "image_image_cosine",
    "text_text_cosine",
    "l2m",
    "centroid_cosine",
    "l2i",
    "rmg",
    "l2m_sq_image_term",
    "l2m_sq_text_term",
    "l2m_sq_cross_term",
    "diff_cov_trace",
    "i2t_r1",
    "i2t_r5",
    "i2t_r10",
    "t2i_r1",
    "t2i_r5",
    "t2i_r10",
]


def _fast(img, txt, ci=None, **kw):
    kw.setdefault("bootstrap", 0)
    return measure(img, txt, ci, spectrum=False, separability=False, shifts=False, **kw)


@pytest.mark.parametrize("chunk", [7, 16384])
def test_matches_brute_force_one_to_one(rng, chunk):
    img, txt = clouds(rng, 300, 24)
    fast = _fast(img, txt, chunk=chunk)
    ref = gram_statistics(img, txt)
    for k in SCALARS:
        assert fast[k] == pytest.approx(ref[k], abs=1e-6), k


def test_matches_brute_force_one_image_many_captions(rng):
    n_img, d = 80, 16
    counts = rng.integers(1, 6, n_img)  # 1..5 captions per image, not all equal
    owner = np.repeat(np.arange(n_img), counts)
    img = rng.standard_normal((n_img, d)).astype(np.float32) + 1.0
    txt = (img[owner] + rng.standard_normal((len(owner), d))).astype(np.float32) - 1.0
    fast = _fast(img, txt, owner, chunk=13)
    ref = gram_statistics(img, txt, owner)
    for k in SCALARS:
        if k in ("l2m", "centroid_cosine", "l2m_sq_image_term", "l2m_sq_cross_term"):
            continue  # image centroid is over unique images in both, checked below
        assert fast[k] == pytest.approx(ref[k], abs=1e-6), k
    x = img / np.linalg.norm(img, axis=1, keepdims=True)
    y = txt / np.linalg.norm(txt, axis=1, keepdims=True)
    assert fast["l2m"] == pytest.approx(np.linalg.norm(x.mean(0) - y.mean(0)), abs=1e-6)


def test_closed_form_gap_of_two_shifted_clouds(rng):
    # x_i = a e0 + c u_i and y_i = -a e0 + c u_i with u_i unit vectors orthogonal to e0:
    # the gap vector is exactly 2a e0, and every paired cosine is exactly 1 - 2a^2.
    n, d, a = 3000, 8, 0.6
    u = rng.standard_normal((n, d))
    u[:, 0] = 0
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    c = np.sqrt(1 - a * a)
    e0 = np.eye(d)[0]
    img, txt = a * e0 + c * u, -a * e0 + c * u
    r = _fast(img, txt, normalize=False)
    assert r["l2m"] == pytest.approx(2 * a, abs=1e-6)
    assert np.allclose(r.gap_vector, 2 * a * e0, atol=1e-6)
    assert r["paired_cosine"] == pytest.approx(1 - 2 * a * a, abs=1e-6)
    assert r["paired_cosine_sd"] == pytest.approx(0, abs=1e-3)
    assert r.top_dims[0]["dim"] == 0
    assert r["top10_dims_gap_share"] == pytest.approx(1.0)
    # the decomposition adds up exactly
    parts = r["l2m_sq_image_term"] + r["l2m_sq_text_term"] + r["l2m_sq_cross_term"]
    assert parts == pytest.approx(r["l2m"] ** 2, abs=1e-6)


def test_shift_mg_delta_match_explicit_translation(rng):
    img, txt = clouds(rng, 200, 12)
    b = rng.standard_normal(12) * 0.3
    r = measure(
        img,
        txt,
        bootstrap=0,
        spectrum=False,
        separability=False,
        retrieval=False,
        shifts=[Shift("custom", float(np.linalg.norm(b)), b)],
    )
    mg, delta = shift_reference(img, txt, b)
    assert r.shifts[0]["mg"]["value"] == pytest.approx(mg, abs=1e-6)
    assert r.shifts[0]["delta"]["value"] == pytest.approx(delta, abs=1e-6)


def test_random_shift_delta_follows_orthogonal_prediction(rng):
    # A random direction is nearly orthogonal to every text vector in high d: Delta ~ 1/sqrt(1 + m^2).
    img, txt = clouds(rng, 500, 512)
    r = measure(img, txt, bootstrap=0, spectrum=False, separability=False, retrieval=False)
    for sh in r.shifts:
        if sh["bias"] == "random":
            assert sh["delta"]["value"] == pytest.approx(1 / np.sqrt(1 + sh["magnitude"] ** 2), abs=0.03)


def test_bootstrap_is_seeded_and_covers_the_value(rng):
    img, txt = clouds(rng, 300, 16)
    a = measure(img, txt, seed=3, bootstrap=50, spectrum=False)
    b = measure(img, txt, seed=3, bootstrap=50, spectrum=False)
    c = measure(img, txt, seed=4, bootstrap=50, spectrum=False)
    for k, s in a.stats.items():
        assert (s.value, s.lo, s.hi) == (b.stats[k].value, b.stats[k].lo, b.stats[k].hi)
    for k in ("paired_cosine", "unpaired_cosine", "l2i", "l2m", "i2t_r5", "separability"):
        s = a.stats[k]  # mean-like statistics: the percentile interval contains the estimate
        assert s.lo <= s.value <= s.hi, k
    assert a.stats["paired_cosine"].lo != c.stats["paired_cosine"].lo


def test_bootstrap_interval_width_is_plausible(rng):
    img, txt = clouds(rng, 2000, 16)
    r = measure(img, txt, bootstrap=200, spectrum=False, separability=False, retrieval=False, shifts=False)
    s = r.stats["paired_cosine"]
    x = img / np.linalg.norm(img, axis=1, keepdims=True)
    y = txt / np.linalg.norm(txt, axis=1, keepdims=True)
    se = (x * y).sum(1).std() / np.sqrt(len(x))
    assert (s.hi - s.lo) == pytest.approx(2 * 1.96 * se, rel=0.3)


def test_subsampled_bootstrap_scales_widths(rng):
    img, txt = clouds(rng, 4000, 8)
    full = measure(img, txt, bootstrap=100, spectrum=False, separability=False, retrieval=False, shifts=False)
    sub = measure(
        img,
        txt,
        bootstrap=100,
        bootstrap_max_images=1000,
        spectrum=False,
        separability=False,
        retrieval=False,
        shifts=False,
    )
    assert sub["paired_cosine"] == pytest.approx(full["paired_cosine"], abs=1e-9)
    w_full = full.stats["paired_cosine"].hi - full.stats["paired_cosine"].lo
    w_sub = sub.stats["paired_cosine"].hi - sub.stats["paired_cosine"].lo
    assert w_sub == pytest.approx(w_full, rel=0.35)
    assert sub.info["bootstrap_images"] == 1000


def test_separability_and_spectrum_on_separated_clouds(rng):
    img, txt = clouds(rng, 400, 16, shift_scale=3.0)
    r = measure(img, txt, bootstrap=10)
    assert r["separability"] > 0.95
    assert 1 <= r["diff_effective_rank"] <= 16
    assert r.eigenvalues == sorted(r.eigenvalues, reverse=True)


def test_normalisation_is_reported_and_never_silent(rng):
    img, txt = clouds(rng, 50, 8)
    r = _fast(img, txt)
    assert r.info["normalized_by_gapkit"] is True
    assert "normalised by gapkit" in r.info["normalization"]
    with pytest.raises(GapkitError, match="not unit-norm"):
        _fast(img, txt, normalize=False)
    unit_i = img / np.linalg.norm(img, axis=1, keepdims=True)
    unit_t = txt / np.linalg.norm(txt, axis=1, keepdims=True)
    assert _fast(unit_i, unit_t, normalize=False).info["normalized_by_gapkit"] is False


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda i, t: (i, t[:-1]), "pass caption_image"),
        (lambda i, t: (i, t[:, :-1]), "d=8 but text_emb has d=7"),
        (lambda i, t: (np.where(np.arange(len(i))[:, None] == 3, np.nan, i), t), "row 3 holds NaN"),
        (lambda i, t: (i, np.where(np.arange(len(t))[:, None] == 5, 0.0, t)), "row 5 is a zero vector"),
        (lambda i, t: (i[:3], t[:3]), "at least 4 pairs to measure a gap, got 3 images"),
        (lambda i, t: (i[:, 0], t), "2-D"),
    ],
)
def test_bad_input_is_a_clear_error(rng, mutate, message):
    img, txt = clouds(rng, 20, 8)
    img, txt = mutate(img.copy(), txt.copy())
    with pytest.raises(GapkitError, match=message):
        _fast(img, txt)


def _sphere_pairs(rng, n, d=16, shift=0.5, noise=0.5):
    base = rng.standard_normal((n, d))
    axis = np.eye(d)[0] * shift
    img = base + axis + noise * rng.standard_normal((n, d))
    txt = base - axis + noise * rng.standard_normal((n, d))
    return img.astype(np.float32), txt.astype(np.float32)


def test_l2m_interval_covers_the_truth(rng):
    """Seeded coverage check with known truth (from a 400,000-pair sample). The plug-in centroid
    distance is biased upward: for these 100 samples of 100 pairs the percentile interval covers
    the truth 73 times, the basic (bias-corrected) interval 92 times (over 400 samples of 40, 100
    and 200 pairs: percentile 0.63 / 0.79 / 0.86, basic 0.91 / 0.94 / 0.95)."""
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)
    big_i, big_t = _sphere_pairs(np.random.default_rng(123), 400_000)
    truth = {
        "l2m": np.linalg.norm(unit(big_i).mean(0) - unit(big_t).mean(0)),
        "paired_cosine": (unit(big_i) * unit(big_t)).sum(1).mean(),
    }
    trials, covered = 100, dict.fromkeys(truth, 0)
    for t in range(trials):
        img, txt = _sphere_pairs(np.random.default_rng([7, t]), 100)
        r = measure(
            img, txt, seed=t, bootstrap=200, retrieval=False, separability=False, shifts=False, spectrum=False
        )
        for k in truth:
            covered[k] += r.stats[k].lo <= truth[k] <= r.stats[k].hi
    assert covered["l2m"] / trials >= 0.88, covered
    assert covered["paired_cosine"] / trials >= 0.88, covered


def test_spectrum_gets_every_replicate_and_stays_in_range(rng):
    img, txt = clouds(rng, 300, 16)
    r = measure(img, txt, bootstrap=60, retrieval=False, separability=False, shifts=False)
    assert r.info["spectrum_bootstrap"].startswith("60 replicates")
    share = r.stats["diff_top_eigenvalue_share"]
    assert 0 <= share.lo <= share.value <= share.hi <= 1
    rank = r.stats["diff_effective_rank"]
    assert 1 <= rank.lo < rank.hi <= 16


def test_batched_spectrum_replicates_match_one_at_a_time(rng):
    from gapkit.stats.spectrum import diff_covariance, spectrum_replicates, spectrum_statistics

    img, txt = clouds(rng, 120, 12)
    rows = np.arange(0, 120, 2)
    w = rng.poisson(1.0, (5, len(rows))).astype(np.float32)
    batched = spectrum_replicates(img, txt, None, True, rows, w)
    for r in range(5):
        one = spectrum_statistics(diff_covariance(img, txt, None, True, rows, w[r].astype(np.float64)))
        for k in ("effective_rank", "top_eigenvalue_share", "dims_99"):
            assert batched[k][r] == pytest.approx(one[k], rel=1e-4), k


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"seed": -1}, "seed must be an integer in 0..4294967295, got -1"),
        ({"bootstrap": -1}, "bootstrap must be an integer >= 0, got -1"),
        ({"top_k": 0}, "top_k must be an integer >= 1, got 0"),
        ({"caption_image": np.arange(20.0)}, "caption_image must hold integer image indices"),
    ],
)
def test_bad_options_are_clear_errors(rng, kw, message):
    img, txt = clouds(rng, 20, 8)
    ci = kw.pop("caption_image", None)
    with pytest.raises(GapkitError, match=message):
        measure(img, txt, ci, **kw)
