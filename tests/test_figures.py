import json
import os

import numpy as np
import pytest

from gapkit.cli.main import main
from gapkit.stats.sensitivity import dimension_ablation, direction_consistency, sensitivity
from gapkit.worlds.shapes import catalog
from gapkit.worlds.shapes.export import export_world
from gapkit.worlds.shapes.world import ShapesWorld

from .conftest import REAL_CLIP, clouds


def test_direction_consistency_closed_forms(rng):
    same = np.tile(rng.standard_normal(16), (20, 1))
    assert direction_consistency(same) == pytest.approx(1.0)
    random = rng.standard_normal((4000, 64))
    assert abs(direction_consistency(random)) < 0.01
    # two groups, each internally consistent but opposite: within-group consistency is 1
    v = rng.standard_normal(16)
    both = np.r_[np.tile(v, (5, 1)), np.tile(-v, (5, 1))]
    assert direction_consistency(both) < 0.0
    assert direction_consistency(both, [0] * 5 + [1] * 5) == pytest.approx(1.0)


def test_sensitivity_finds_the_moved_dimension(rng):
    n, d = 50, 12
    img_a, txt_a = rng.standard_normal((2, n, d))
    txt_b = txt_a.copy()
    txt_b[:, 3] += 5.0  # text changes along one dimension, consistently
    img_b = img_a + rng.standard_normal((n, d))  # images change erratically
    s = sensitivity(img_a, img_b, txt_a, txt_b, ["colour"] * n, top_k=1)["colour"]
    assert s["text_top_dims"] == [3]
    assert s["text_direction_consistency"] > 0.5 > 0.2 > s["image_direction_consistency"]


def test_dimension_ablation_removes_gap_dimensions_first(rng):
    img, txt = clouds(rng, 200, 16, shift_scale=3.0)
    rows = dimension_ablation(img, txt, max_k=3)
    assert rows[0]["k"] == 0 and rows[1]["removed_dim"] == 0  # clouds are pushed apart along dim 0
    assert rows[1]["centroid_distance"] < rows[0]["centroid_distance"]
    assert rows[1]["paired_cosine"] > rows[0]["paired_cosine"]


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    w = ShapesWorld(seed=8, sizes={"train": 30, "restval": 30, "test": 40}, n_minimal_pairs=6).generate()
    return export_world(w, tmp_path_factory.mktemp("w") / "world")


def test_tsne_cli_writes_figures_and_numbers(world_dir, tmp_path):
    out = tmp_path / "tsne"
    assert (
        main(
            [
                "tsne",
                "--encoder",
                "gapkit-shapes:random-init",
                "--data-path",
                str(world_dir),
                "--n",
                "30",
                "--panels",
                "none",
                "noise",
                "mean-shift",
                "--workers",
                "0",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    numbers = json.loads(out.with_suffix(".json").read_text())
    assert set(numbers["panels"]) == {"none", "noise", "mean-shift"} and numbers["n"] == 30
    p = numbers["panels"]
    assert p["mean-shift"]["centroid_distance"] < p["none"]["centroid_distance"]
    assert out.with_suffix(".png").stat().st_size > 1000 and out.with_suffix(".pdf").is_file()


def test_sensitivity_cli(world_dir, tmp_path, capsys):
    out = tmp_path / "sens"
    assert (
        main(
            [
                "sensitivity",
                "--pairs",
                str(world_dir / "minimal_pairs.jsonl"),
                "--encoder",
                "gapkit-shapes:random-init",
                "--workers",
                "0",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    sens = json.loads(out.with_suffix(".json").read_text())
    pairs = [json.loads(line) for line in (world_dir / "minimal_pairs.jsonl").read_text().splitlines()]
    per_factor = {f: sum(p["attribute"] == f for p in pairs) for f in {p["attribute"] for p in pairs}}
    assert (
        set(sens) == set(per_factor)
        and set(sens) <= set(catalog.FACTORS)
        and {"shape", "colour"} <= set(sens)
    )
    assert all(sens[f]["n"] == n for f, n in per_factor.items())
    pairs = [json.loads(line) for line in (world_dir / "minimal_pairs.jsonl").read_text().splitlines()]
    assert all("->" in p["change"] for p in pairs)
    assert "| attribute |" in capsys.readouterr().out and out.with_suffix(".png").is_file()


@pytest.mark.skipif(not os.path.exists(os.path.join(REAL_CLIP, "features_clip.npy")), reason="fixture absent")
def test_tsne_on_real_clip_fixture_shows_the_gap(tmp_path):
    out = tmp_path / "real"
    assert (
        main(
            [
                "tsne",
                "--embeddings",
                os.path.join(REAL_CLIP, "features_clip.npy"),
                "--method",
                "pca",
                "--n",
                "200",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    p = json.loads(out.with_suffix(".json").read_text())["panels"]
    assert p["none"]["mixing_2d"] < 0.1  # two separate clouds
    assert p["mean-shift+noise"]["mixing_2d"] > p["none"]["mixing_2d"]
    assert p["none"]["paired_cosine"] == pytest.approx(0.31, abs=0.02)


def test_plots_leave_matplotlib_global_state_alone():
    import matplotlib

    before = dict(matplotlib.rcParams)
    import gapkit.plots.geometry  # noqa: F401
    import gapkit.plots.tsne  # noqa: F401

    assert dict(matplotlib.rcParams) == before


def test_unknown_projection(tmp_path, capsys):
    assert main(["tsne", "--method", "umapp", "--out", str(tmp_path / "x")]) == 2
    assert "Unknown projection 'umapp'" in capsys.readouterr().err


def test_sensitivity_on_precomputed_embeddings(tmp_path, rng, capsys):
    n, d = 12, 8
    ia, ta = rng.standard_normal((2, n, d))
    np.savez(
        tmp_path / "p.npz",
        image_a=ia,
        image_b=ia + rng.standard_normal((n, d)),
        text_a=ta,
        text_b=ta + 1.0,
        attribute=np.array(["colour"] * 6 + ["shape"] * 6),
    )
    assert main(["sensitivity", "--embeddings", str(tmp_path / "p.npz"), "--out", str(tmp_path / "s")]) == 0
    sens = json.loads((tmp_path / "s.json").read_text())
    assert sens["colour"]["text_direction_consistency"] > sens["colour"]["image_direction_consistency"]
    np.savez(tmp_path / "bad.npz", image_a=ia)
    assert main(["sensitivity", "--embeddings", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "b")]) == 2
    assert "lacks image_b" in capsys.readouterr().err


def test_regenerate_all_writes_every_figure_from_the_inputs_it_is_given(tmp_path, rng, monkeypatch):
    """`gapkit figures` is regenerate_all(out_dir, real_clip): the shapes inputs come from the
    library's loaders (stubbed here with clouds, so the test does not encode the world), the real-CLIP
    figures only when a file is given."""
    import gapkit.figures as figs

    img, txt = clouds(rng, 60, 16)
    monkeypatch.setattr(figs, "encoded_pairs", lambda opts: (img, txt, None, img, txt, "clouds"))
    attrs = ["colour"] * 20
    monkeypatch.setattr(
        figs,
        "minimal_pair_embeddings",
        lambda opts: (img[:20], img[20:40], txt[:20], txt[20:40], attrs, attrs),
    )
    real = tmp_path / "real.npy"
    np.save(real, np.stack([img, txt]))
    numbers = figs.regenerate_all(tmp_path / "figs", real_clip=real, seed=0, method="pca")
    assert set(numbers) == {
        "tsne-shapes",
        "tsne-methods-shapes",
        "shapes",
        "sensitivity-shapes",
        "tsne-real-clip",
        "real-clip",
    }
    methods = numbers["tsne-methods-shapes"]
    assert set(methods) == {"none", "noise", "c3", "decap", "nearest-caption"}
    # C3's collapse centres both modalities: the centroid distance all but vanishes
    assert methods["c3"]["centroid_distance"] < 0.5 * methods["none"]["centroid_distance"]
    for name in (
        "tsne-shapes.png",
        "tsne-real-clip.png",
        "shapes-cosines.png",
        "real-clip-geometry.json",
        "sensitivity-shapes.json",
    ):
        assert (tmp_path / "figs" / name).is_file(), name
    assert set(figs.regenerate_all(tmp_path / "only", seed=0, method="pca")) == {
        "tsne-shapes",
        "tsne-methods-shapes",
        "shapes",
        "sensitivity-shapes",
    }
