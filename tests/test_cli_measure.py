import json
import os

import numpy as np
import pytest

from gapkit.cli.main import main
from gapkit.worlds.shapes.export import export_world
from gapkit.worlds.shapes.world import ShapesWorld

from .conftest import REAL_CLIP

FIXTURE = os.path.join(REAL_CLIP, "features_clip.npy")
RANDOM = os.path.join(REAL_CLIP, "features_clip_random.npy")
# The fixture README's reference values (float64 after re-normalising).
REFERENCE = {
    FIXTURE: {
        "paired_cosine": 0.3099,
        "paired_cosine_sd": 0.0324,
        "unpaired_cosine": 0.1616,
        "image_image_cosine": 0.5315,
        "text_text_cosine": 0.5152,
        "l2m": 0.8514,
        "centroid_cosine": 0.3088,
        "i2t_r1": 0.552,
        "t2i_r1": 0.506,
    },
    RANDOM: {
        "paired_cosine": 0.0285,
        "unpaired_cosine": 0.0278,
        "image_image_cosine": 0.6814,
        "text_text_cosine": 0.6635,
        "l2m": 1.1361,
        "centroid_cosine": 0.0413,
        "i2t_r1": 0.002,
        "t2i_r1": 0.002,
    },
}


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    w = ShapesWorld(seed=2, sizes={"train": 10, "test": 10}, n_minimal_pairs=1).generate()
    return export_world(w, tmp_path_factory.mktemp("w") / "world")


@pytest.mark.parametrize("path", [FIXTURE, RANDOM])
def test_real_clip_fixture_reproduces_reference(path, tmp_path, capsys):
    if not os.path.exists(path):
        pytest.skip("../shared/fixtures/real-clip is absent")
    out = tmp_path / "gap.json"
    assert main(["measure", "--embeddings", path, "--json", str(out), "--bootstrap", "20"]) == 0
    report = json.loads(out.read_text())
    for k, v in REFERENCE[path].items():
        assert report["stats"][k]["value"] == pytest.approx(v, abs=6e-4), k
    prov = report["provenance"]
    assert prov["source"]["embeddings"] == [path] and prov["seed"] == 0 and "git" in prov
    assert "centroid distance" in capsys.readouterr().out


def test_same_seed_same_numbers_bit_for_bit(tmp_path, rng):
    np.save(tmp_path / "e.npy", rng.standard_normal((2, 60, 8)).astype(np.float32))
    for name in ("a", "b"):
        assert (
            main(
                [
                    "measure",
                    "--embeddings",
                    str(tmp_path / "e.npy"),
                    "--json",
                    str(tmp_path / f"{name}.json"),
                    "--bootstrap",
                    "30",
                ]
            )
            == 0
        )
    a, b = (json.loads((tmp_path / f"{n}.json").read_text())["stats"] for n in "ab")
    assert a == b


def test_measure_encoder_on_karpathy_folder_and_pairs_file(world_dir, tmp_path):
    common = ["--encoder", "gapkit-shapes:random-init", "--bootstrap", "10", "--workers", "0"]
    assert (
        main(
            [
                "measure",
                "--dataset",
                "coco-karpathy",
                "--data-path",
                str(world_dir / "dataset_coco.json"),
                "--csv",
                str(tmp_path / "k.csv"),
                *common,
            ]
        )
        == 0
    )
    rows = (tmp_path / "k.csv").read_text().splitlines()
    assert rows[0] == "statistic,value,ci_low,ci_high,n" and any(r.startswith("l2m,") for r in rows)
    lines = [f"images/{i:06d}.png,caption number {i}" for i in range(10, 15)]
    (world_dir / "pairs.csv").write_text("image,caption\n" + "\n".join(lines) + "\n")
    assert (
        main(
            [
                "measure",
                "--dataset",
                "pairs",
                "--data-path",
                str(world_dir / "pairs.csv"),
                "--json",
                str(tmp_path / "p.json"),
                *common,
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "p.json").read_text())["info"]["n_images"] == 5


@pytest.mark.parametrize(
    "args, message",
    [
        (["--embeddings", "absent.npy"], "Embedding file not found: absent.npy"),
        (["--encoder", "nosuch-encoder:x"], "Unknown encoder 'nosuch-encoder'"),
        (["--dataset", "coco-karpaty"], "Unknown dataset 'coco-karpaty'. Did you mean: coco-karpathy"),
        (["--dataset", "pairs"], "needs --data-path"),
    ],
)
def test_bad_input_exits_2_without_output(args, message, tmp_path, capsys):
    out = tmp_path / "out.json"
    assert main(["measure", *args, "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_nan_rows_and_missing_images(tmp_path, world_dir, capsys):
    a = np.ones((2, 5, 4), np.float32)
    a[1, 2, 1] = np.nan
    np.save(tmp_path / "nan.npy", a)
    assert main(["measure", "--embeddings", str(tmp_path / "nan.npy"), "--csv", str(tmp_path / "o.csv")]) == 2
    assert "text_emb row 2 holds NaN" in capsys.readouterr().err and not (tmp_path / "o.csv").exists()
    (tmp_path / "p.csv").write_text("image,caption\nmissing1.png,a\nmissing2.png,b\n")
    assert (
        main(
            [
                "measure",
                "--dataset",
                "pairs",
                "--data-path",
                str(tmp_path / "p.csv"),
                "--encoder",
                "gapkit-shapes:random-init",
            ]
        )
        == 2
    )
    assert "2 of 2 image files are missing, e.g." in capsys.readouterr().err


def test_python_api_mirrors_cli(rng):
    import gapkit

    img, txt = rng.standard_normal((2, 30, 6))
    r = gapkit.measure(img, txt, bootstrap=0)
    assert 0 < r["l2m"] < 2 and "paired_cosine" in r.stats


@pytest.mark.slow
def test_default_measure_on_the_embedded_world(shared_cache, capsys):
    assert main(["measure", "--bootstrap", "50"]) == 0
    out = capsys.readouterr().out
    assert "n = 1000 images, 5000 captions, d = 512" in out
    assert "centroid distance" in out and "MG" in out
    assert main(["measure", "--bootstrap", "0", "--no-retrieval"]) == 0
    assert capsys.readouterr().err.count("cache hit") == 2  # images and captions
