"""Reliability drills for ``gapkit measure`` and the adapters' deterministic half: transforms on
unit rows (checked against a by-hand computation), statistics invariant to the input's scale,
degenerate inputs to the gap decomposition, and the transform flags' user errors."""

import json
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from gapkit.cli.main import main

from .conftest import REAL_CLIP

FIXTURE = os.path.join(REAL_CLIP, "features_clip.npy")
needs_fixture = pytest.mark.skipif(
    not os.path.exists(FIXTURE), reason="../shared/fixtures/real-clip is absent"
)
FAST = ["--bootstrap", "0", "--no-retrieval"]


def _unit(a):
    a = np.asarray(a, np.float64)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _raw_pairs(rng, n=60, d=16):
    """Paired rows with a gap, at scales far from 1 and unequal: images x 0.5-2 per row, texts x
    30-80 per row (a CLIP-like raw output)."""
    base = rng.standard_normal((n, d))
    img = base + 1.5 * np.eye(d)[0] + 0.4 * rng.standard_normal((n, d))
    txt = base - 1.5 * np.eye(d)[0] + 0.4 * rng.standard_normal((n, d))
    img = _unit(img) * rng.uniform(0.5, 2.0, (n, 1))
    txt = _unit(txt) * rng.uniform(30.0, 80.0, (n, 1))
    return img.astype(np.float32), txt.astype(np.float32)


def _c3_by_hand(img, txt):
    """C3 with its means fitted on the same rows: normalise, subtract the modality mean, normalise."""
    x, y = _unit(img), _unit(txt)
    return _unit(x - x.mean(0)), _unit(y - y.mean(0))


def _measure_json(tmp_path, argv, name="gap.json"):
    out = tmp_path / name
    assert main(["measure", *map(str, argv), "--json", str(out)]) == 0
    return json.loads(out.read_text())


# -- 1. the adapter's deterministic half works on unit rows --------------------------------------
def test_measure_transform_normalises_before_the_adapter(tmp_path, rng, capsys):
    img, txt = _raw_pairs(rng)
    np.save(tmp_path / "e.npy", np.stack([img, txt]))
    report = _measure_json(tmp_path, ["--embeddings", tmp_path / "e.npy", "--transform", "c3", *FAST])
    x, y = _c3_by_hand(img, txt)
    stats = {k: v["value"] for k, v in report["stats"].items()}
    assert stats["l2m"] == pytest.approx(np.linalg.norm(x.mean(0) - y.mean(0)), abs=2e-6)
    assert stats["paired_cosine"] == pytest.approx((x * y).sum(1).mean(), abs=2e-6)
    # the table and the JSON say which transform was applied and what it was fitted on
    table = capsys.readouterr().out
    assert "transform: c3" in table and "fitted on the measured pairs themselves" in table
    assert "raw input norms in [0.5" in table
    assert report["info"]["transform"].startswith("c3")
    assert report["provenance"]["source"]["transform"]["fitted_on"] == "the measured pairs themselves"


def test_measure_transform_mean_shift_by_hand(tmp_path, rng):
    img, txt = _raw_pairs(rng)
    np.save(tmp_path / "e.npy", np.stack([img, txt]))
    report = _measure_json(tmp_path, ["--embeddings", tmp_path / "e.npy", "--transform", "mean-shift", *FAST])
    x, y = _unit(img), _unit(txt)
    moved = _unit(y + x.mean(0) - y.mean(0))
    stats = {k: v["value"] for k, v in report["stats"].items()}
    assert stats["paired_cosine"] == pytest.approx((x * moved).sum(1).mean(), abs=2e-6)
    assert stats["l2m"] == pytest.approx(np.linalg.norm(x.mean(0) - moved.mean(0)), abs=2e-6)


@needs_fixture
def test_measure_transform_does_not_depend_on_the_rows_scale(tmp_path):
    """The issue's case: real CLIP with image rows scaled by 0.5-2 gave C3 L2M 0.092 (0.028 unscaled)."""
    a = np.load(FIXTURE)
    scale = np.random.default_rng(1).uniform(0.5, 2.0, (a.shape[1], 1)).astype(np.float32)
    np.save(tmp_path / "scaled.npy", np.stack([a[0] * scale, a[1]]))
    plain = _measure_json(tmp_path, ["--embeddings", FIXTURE, "--transform", "c3", *FAST], "a.json")
    scaled = _measure_json(
        tmp_path, ["--embeddings", tmp_path / "scaled.npy", "--transform", "c3", *FAST], "b.json"
    )
    for k in ("l2m", "paired_cosine", "image_image_cosine"):
        assert scaled["stats"][k]["value"] == pytest.approx(plain["stats"][k]["value"], abs=1e-5), k
    assert plain["stats"]["l2m"]["value"] < 0.05


def test_one_helper_normalises_then_applies(rng):
    """apply_deterministic on raw rows equals the by-hand computation; unit float32 rows (CLOSE's
    vectors) give exactly the bits the adapter gives them directly."""
    from gapkit.adapters import apply_deterministic, fitted_adapter

    img, txt = _raw_pairs(rng)
    c3 = fitted_adapter("c3", img, txt)
    x, y = apply_deterministic(c3, img, txt)
    hx, hy = _c3_by_hand(img, txt)
    assert x.dtype == y.dtype == np.float32
    assert np.abs(x - hx).max() < 1e-5 and np.abs(y - hy).max() < 1e-5
    unit_img, unit_txt = _unit(img).astype(np.float32), _unit(txt).astype(np.float32)
    x, y = apply_deterministic(c3, unit_img, unit_txt)
    with torch.no_grad():
        assert np.array_equal(y, c3.deterministic(torch.from_numpy(unit_txt)).numpy())
        assert np.array_equal(x, c3.images(torch.from_numpy(unit_img)).numpy())
    only_x, none_t = apply_deterministic(c3, images=img)
    assert none_t is None and np.abs(only_x - hx).max() < 1e-5


@pytest.mark.parametrize(
    "name", ["none", "noise", "mean-shift", "random-shift", "linear", "cov", "c3", "decap"]
)
def test_unit_rows_keep_their_bits_through_the_helper(rng, name):
    """CLOSE's vectors are unit already (float32 after normalising): through the helper they give
    bit for bit what the adapter gave them directly, so committed CLOSE results do not move."""
    from gapkit.adapters import apply_deterministic, fitted_adapter
    from gapkit.stats.paired import unit_rows

    img, txt = _raw_pairs(rng)
    img, txt = unit_rows(img, None).astype(np.float32), unit_rows(txt, None).astype(np.float32)
    ad = fitted_adapter(name, img, txt)
    x, t = apply_deterministic(ad, img, txt)
    with torch.no_grad():
        assert np.array_equal(t, ad.deterministic(torch.from_numpy(txt)).numpy())
        assert np.array_equal(x, ad.images(torch.from_numpy(img)).numpy() if ad.test_time else img)


def test_close_eval_and_gap_log_adapt_unit_rows(rng):
    """CLOSE's decoding inputs and its gap log go through the same helper: raw rows give the
    numbers of their unit rows."""
    from gapkit.adapters import fitted_adapter
    from gapkit.close.decode import gap_log, image_inputs, text_inputs
    from gapkit.close.prepare import Split

    img, txt = _raw_pairs(rng)
    c3 = fitted_adapter("c3", img, txt)
    hx, hy = _c3_by_hand(img, txt)
    prep = SimpleNamespace(
        cfg=SimpleNamespace(train_on="text"),
        adapter=c3,
        evals={"val": Split(list(range(len(img))), img, txt, img)},
    )
    assert np.abs(image_inputs(prep, img) - hx).max() < 1e-5
    assert np.abs(text_inputs(prep, txt) - hy).max() < 1e-5
    log = gap_log(prep)
    assert log["mg"] == pytest.approx((hx * hy).sum(1).mean(), abs=1e-5)
    assert log["centroid_distance"] == pytest.approx(np.linalg.norm(hx.mean(0) - hy.mean(0)), abs=1e-5)


def test_ablation_geometry_adapts_unit_rows(rng, monkeypatch):
    from gapkit.ablate import geometry
    from gapkit.adapters import fitted_adapter

    img, txt = _raw_pairs(rng)
    c3 = fitted_adapter("c3", img, txt)
    monkeypatch.setattr(geometry, "_pairs", lambda cfg, enc, cache: (None, None, img, txt))
    monkeypatch.setattr(geometry, "build_adapter", lambda cfg, vec, src: c3)
    cfg = SimpleNamespace(
        encoder="e", world=None, world_seed=0, data_root=None, eval_split="val", template="{}", adapter="c3"
    )
    row = {"mg": [], "delta": [], "l2m": [], "magnitude": []}
    geometry._row_geometry(row, cfg, None, None, {})
    hx, hy = _c3_by_hand(img, txt)
    assert row["mg"][0] == pytest.approx((hx * hy).sum(1).mean(), abs=1e-5)
    assert row["delta"][0] == pytest.approx((_unit(txt) * hy).sum(1).mean(), abs=1e-5)
    assert row["l2m"][0] == pytest.approx(np.linalg.norm(hx.mean(0) - hy.mean(0)), abs=1e-5)


def test_figure_panels_adapt_unit_rows(rng):
    from gapkit.plots.panels import adapt_panels

    img, txt = _raw_pairs(rng)
    panels = adapt_panels(img, txt, img, txt, panels=("c3",))
    hx, hy = _c3_by_hand(img, txt)
    x, y = panels["c3"]
    assert np.abs(x - hx).max() < 1e-5 and np.abs(y - hy).max() < 1e-5


# -- 2. statistics do not depend on the input's scale --------------------------------------------
@needs_fixture
@pytest.mark.parametrize("scale", [1e-30, 1e30])
def test_statistics_are_invariant_to_the_inputs_scale(tmp_path, scale):
    a = np.load(FIXTURE)
    np.save(tmp_path / "s.npy", a * np.float32(scale))
    ref = _measure_json(tmp_path, ["--embeddings", FIXTURE, "--bootstrap", "0"], "ref.json")
    got = _measure_json(tmp_path, ["--embeddings", tmp_path / "s.npy", "--bootstrap", "0"], "got.json")
    assert got["stats"]["i2t_r1"]["value"] == pytest.approx(0.552, abs=1e-9)
    assert set(got["stats"]) == set(ref["stats"])
    for k, s in ref["stats"].items():
        assert got["stats"][k]["value"] == pytest.approx(s["value"], abs=1e-6, rel=1e-6), k
    assert got["info"]["input_norm_min"] == pytest.approx(ref["info"]["input_norm_min"] * scale, rel=1e-5)


@needs_fixture
def test_one_huge_shard_in_a_clip_retrieval_set(tmp_path):
    a = np.load(FIXTURE)
    for sub in ("img_emb", "text_emb"):
        (tmp_path / "set" / sub).mkdir(parents=True)
    for k, (lo, hi, scale) in enumerate(((0, 250, 1.0), (250, 500, 1e30))):
        np.save(tmp_path / "set" / "img_emb" / f"img_emb_{k:04d}.npy", a[0, lo:hi] * np.float32(scale))
        np.save(tmp_path / "set" / "text_emb" / f"text_emb_{k:04d}.npy", a[1, lo:hi] * np.float32(scale))
    got = _measure_json(tmp_path, ["--embeddings", tmp_path / "set", "--bootstrap", "0"])
    stats = {k: v["value"] for k, v in got["stats"].items()}
    assert stats["i2t_r1"] == pytest.approx(0.552, abs=1e-9) and stats["t2i_r1"] == pytest.approx(
        0.506, abs=1e-9
    )
    assert stats["l2m"] == pytest.approx(0.8514, abs=6e-4)


def test_unit_rows_is_bit_identical_in_range_and_scale_free_outside(rng):
    from gapkit.stats.paired import unit_rows
    from gapkit.stats.validate import chunk_rows

    a = rng.standard_normal((50, 32)).astype(np.float32) * 40
    for dtype in (np.float32, np.float64):
        plain = np.asarray(a, dtype) / np.linalg.norm(np.asarray(a, dtype), axis=1, keepdims=True)
        assert np.array_equal(unit_rows(a, dtype), plain)
        for scale in (1e-30, 1e30):
            assert np.abs(unit_rows(a * np.float32(scale), dtype) - plain).max() < 1e-6
    assert np.array_equal(chunk_rows(a, True), unit_rows(a, np.float32))
    assert np.abs(chunk_rows(a * np.float32(1e30), True) - unit_rows(a, np.float32)).max() < 1e-6


# -- 3. degenerate inputs to the gap decomposition -----------------------------------------------
@pytest.mark.parametrize("shape", [(2, 50, 8), (2, 50, 1), (2, 5, 1)])
def test_identical_rows_and_one_dimension_give_numbers_or_nan(shape, capsys):
    import gapkit

    a = np.ones(shape, np.float32)
    report = gapkit.measure(a[0], a[1], bootstrap=20)
    table = report.table()
    assert "()" not in table
    if shape[1] >= 40:
        assert np.isnan(report["residual_share"]) and np.isnan(report["constant_share"])
        assert np.isnan(report["ridge_r2"])
        assert report.stats["residual_share"].lo != report.stats["residual_share"].lo  # NaN interval
    else:
        assert "gap decomposition" in table and "n too small" in table.split("gap decomposition")[1]


def test_decomposition_with_one_dimension_matches_by_hand(rng):
    from gapkit.stats.decomposition import decomposition
    from gapkit.stats.paired import Paired

    x = rng.standard_normal((60, 1))
    y = np.where(rng.random((60, 1)) < 0.8, x, -x)  # unit rows in d = 1 are +-1
    p = Paired.from_raw(x, y)
    d = decomposition(p)
    delta = p.image - p.text
    mean_sq = (delta**2).sum(1).mean()
    assert d["residual_share"] == pytest.approx(delta.var() / mean_sq, abs=1e-12)
    assert d["residual_text_ratio"] == pytest.approx(delta.var() / p.text.var(), abs=1e-12)
    assert d["image_effective_rank"] == pytest.approx(1.0) and d["text_effective_rank"] == pytest.approx(1.0)
    assert np.isfinite(d["ridge_r2"])


def test_decomposition_header_when_n_is_too_small(rng, capsys):
    import gapkit

    img, txt = _raw_pairs(rng, n=12, d=8)
    table = gapkit.measure(img, txt, bootstrap=0).table()
    part = table.split("gap decomposition")[1].splitlines()[0]
    assert "()" not in part and "n too small (12 images < 40)" in part


# -- 4.-6. the transform flags' user errors -----------------------------------------------------
@pytest.fixture
def fails(capsys):
    def check(argv, message):
        cache = os.environ["GAPKIT_CACHE"]
        before = sorted(os.walk(cache))
        rc = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        assert rc == 2, err
        assert err.count("\n") == 1 and err.startswith("gapkit: error: "), err
        assert message in err, err
        assert sorted(os.walk(cache)) == before  # nothing was encoded
        return err

    return check


def test_transform_from_a_run_of_another_dimension(tmp_path, rng, fails):
    from gapkit.adapters import fitted_adapter

    run = tmp_path / "run"
    run.mkdir()
    small = rng.standard_normal((20, 256)).astype(np.float32)
    fitted_adapter("c3", small, small).save(run / "adapter.pt")
    np.save(tmp_path / "e.npy", rng.standard_normal((2, 20, 512)).astype(np.float32))
    err = fails(["measure", "--embeddings", tmp_path / "e.npy", "--transform-from", run], "256")
    assert "512" in err and "--transform-from" in err


def test_fit_split_with_embeddings_is_an_error(tmp_path, rng, fails):
    np.save(tmp_path / "e.npy", rng.standard_normal((2, 20, 8)).astype(np.float32))
    emb = tmp_path / "e.npy"
    fails(["measure", "--embeddings", emb, "--fit-split", "bogus"], "--fit-split")
    fails(["measure", "--embeddings", emb, "--transform", "c3", "--fit-split", "restval"], "--fit-split")


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    from gapkit.worlds.shapes.export import export_world
    from gapkit.worlds.shapes.world import ShapesWorld

    w = ShapesWorld(seed=7, sizes={"train": 10, "restval": 6, "val": 6, "test": 6}, n_minimal_pairs=1)
    return export_world(w.generate(), tmp_path_factory.mktemp("w") / "world")


def test_bad_fit_split_is_reported_before_encoding(world_dir, fails):
    err = fails(
        ["measure", "--data-path", world_dir, "--transform", "c3", "--fit-split", "bogus", *FAST],
        "Unknown split 'bogus' for shapes",
    )
    assert "coco-karpathy" not in err


def test_bad_split_names_the_shapes_data_set(world_dir, fails):
    err = fails(["measure", "--data-path", world_dir, "--split", "bogus"], "Unknown split 'bogus' for shapes")
    assert "coco-karpathy" not in err and "train, restval, val, test" in err
