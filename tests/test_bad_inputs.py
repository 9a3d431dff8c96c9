"""The bad-input catalogue of issue 10, driven through ``gapkit.cli.main.main``: each case exits
with code 2 and one line on stderr naming the input and what is wrong, leaves no output file
behind and does not touch the embedding cache. Then the inputs that used to be silently wrong."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from gapkit.cli.main import main
from gapkit.worlds.shapes.export import export_world
from gapkit.worlds.shapes.world import ShapesWorld

SMALL = {"train": 30, "restval": 8, "val": 6, "test": 8}


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    w = ShapesWorld(seed=7, sizes=SMALL, n_minimal_pairs=1).generate()
    return export_world(w, tmp_path_factory.mktemp("w") / "world")


def _snapshot(root) -> dict:
    """Every path under the cache with its size and mtime: any write shows up."""
    root = str(root)
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def fails(capsys, tmp_path):
    """fails(argv, message, *outputs): exit 2, exactly one stderr line containing ``message``,
    none of ``outputs`` exists afterwards, and $GAPKIT_CACHE is unchanged."""

    def check(argv, message, *outputs):
        cache = os.environ["GAPKIT_CACHE"]
        before = _snapshot(cache)
        rc = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        assert rc == 2, err
        assert err.count("\n") == 1 and err.startswith("gapkit: error: "), err
        assert message in err, err
        for o in outputs:
            assert not os.path.exists(o), o
        assert _snapshot(cache) == before
        return err

    return check


@pytest.fixture
def emb(tmp_path, rng):
    """A valid (2, 20, 8) embeddings file."""
    path = tmp_path / "e.npy"
    np.save(path, rng.standard_normal((2, 20, 8)).astype(np.float32))
    return path


def _pairs(world_dir, tmp_path, n=4):
    path = tmp_path / "pairs.csv"
    rows = [f"{world_dir}/images/{i:06d}.png,caption {i}" for i in range(n)]
    path.write_text("image,caption\n" + "\n".join(rows) + "\n")
    return path


ENC = ["--encoder", "gapkit-shapes:random-init", "--workers", "0"]


# --- annotation files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, content, message",
    [
        (
            "p.json",
            '[{"image": "a.png", "caption": "x"}]\n',
            "line 1: expected one JSON object per line, got a JSON array",
        ),
        (
            "p.jsonl",
            '{"image": "a.png", "caption": "x"}\n"just a string"\n',
            "line 2: expected one JSON object per line, got a string",
        ),
    ],
)
def test_pairs_rows_that_are_not_objects(tmp_path, fails, name, content, message):
    (tmp_path / name).write_text(content)
    out = tmp_path / "out.json"
    err = fails(
        ["measure", "--dataset", "pairs", "--data-path", tmp_path / name, *ENC, "--json", out], message, out
    )
    assert str(tmp_path / name) in err


@pytest.mark.parametrize(
    "images, message",
    [
        (
            [{"split": "test", "filename": "a.png", "sentences": None}],
            "images[0].sentences is null, not a list",
        ),
        (
            [{"split": "test", "filename": "a.png", "sentences": [{"raw": None}]}],
            "images[0].sentences[0].raw is null, not a string",
        ),
    ],
)
def test_null_sentences_in_karpathy_json(tmp_path, fails, images, message):
    path = tmp_path / "dataset_coco.json"
    path.write_text(json.dumps({"images": images}))
    out = tmp_path / "out.csv"
    fails(["measure", "--dataset", "coco-karpathy", "--data-path", path, *ENC, "--csv", out], message, out)


# --- embeddings files -------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3])
def test_two_or_three_pairs(tmp_path, rng, fails, n):
    np.save(tmp_path / "e.npy", rng.standard_normal((2, n, 8)).astype(np.float32))
    out = tmp_path / "out.json"
    fails(
        ["measure", "--embeddings", tmp_path / "e.npy", "--json", out],
        f"Need at least 4 pairs to measure a gap, got {n} images",
        out,
    )


@pytest.mark.parametrize(
    "write, message",
    [
        (lambda p: p.write_bytes(b""), "is empty (0 bytes), not a .npy file"),
        (lambda p: np.save(p, np.zeros((2, 0, 8), np.float32)), "holds no values with shape (2, 0, 8)"),
        (lambda p: p.write_text("image,caption\na.png,x\n"), "is not a .npy file (it starts with b'image,"),
    ],
)
def test_empty_or_not_npy(tmp_path, fails, write, message):
    path = tmp_path / "e.npy"
    write(path)
    out = tmp_path / "out.json"
    err = fails(["measure", "--embeddings", path, "--json", out], message, out)
    assert "pickled" not in err


def test_float_caption_image_in_npz(tmp_path, rng, fails):
    img, txt = rng.standard_normal((2, 6, 4)).astype(np.float32)
    np.savez(tmp_path / "e.npz", image_emb=img, text_emb=txt, caption_image=np.arange(6, dtype=np.float64))
    fails(["measure", "--embeddings", tmp_path / "e.npz"], "caption_image must be a 1-D integer array")


# --- flags ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--seed", "-1", "argument --seed: must be an integer in 0..4294967295, got -1"),
        ("--seed", str(2**32), "argument --seed: must be an integer in 0..4294967295, got 4294967296"),
        ("--bootstrap", "-1", "argument --bootstrap: must be an integer >= 0, got -1"),
        ("--limit", "-1", "argument --limit: must be a positive integer, got -1"),
        ("--limit", "0", "argument --limit: must be a positive integer, got 0"),
        ("--top-k", "-3", "argument --top-k: must be a positive integer, got -3"),
        ("--seed", "x", "argument --seed: expected an integer, got 'x'"),
    ],
)
def test_measure_flag_ranges(emb, tmp_path, fails, flag, value, message):
    out = tmp_path / "out.json"
    err = fails(["measure", "--embeddings", emb, flag, value, "--json", out], message, out)
    assert "(see `gapkit measure --help`)" in err


def test_unknown_flag_is_one_line(fails):
    fails(["measure", "--bootstrp", "3"], "unrecognized arguments: --bootstrp 3")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--max-train-examples", "-5"], "argument --max-train-examples: must be a positive integer, got -5"),
        (["--eval-split", "bogus"], "has no examples in split 'bogus'"),
        (["--set", "seed=-1"], "seed must be an integer in 0..4294967295, got -1"),
        (["--set", "max_eval_examples=0"], "max_eval_examples must be a positive integer"),
        (["--set", "epochs=[1"], "--set epochs=[1: the value is not valid YAML"),
    ],
)
def test_train_flags(world_dir, tmp_path, fails, argv, message):
    out = tmp_path / "run"
    fails(
        ["train", "--world", world_dir, "--encoder", "gapkit-shapes:random-init", *argv, "--out", out],
        message,
        out,
    )


def test_jobs_zero(tmp_path, fails):
    (tmp_path / "s.yaml").write_text("name: x\n")
    fails(
        ["ablate", tmp_path / "s.yaml", "--jobs", "0", "--out", tmp_path / "res"],
        "argument --jobs: must be a positive integer, got 0",
        tmp_path / "res",
    )


# --- YAML -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("verb", ["train", "ablate"])
def test_yaml_syntax_error_is_file_line_column(tmp_path, fails, verb):
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: ve\nepochs: [1, 2\nseed: 0\n")
    argv = ["train", "--config", bad, "--out", tmp_path / "run"] if verb == "train" else ["ablate", bad]
    err = fails(argv, f"{bad}:3:5: invalid YAML: while parsing a flow sequence: expected", tmp_path / "run")
    assert "expected ',' or ']'" in err


# --- the cache folder -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "where, message",
    [
        ("proc", "cannot create files in /proc"),
        ("file", "is a file, not a folder"),
        ("under-file", "is a file, not a folder"),
    ],
)
def test_unusable_cache_folder(world_dir, tmp_path, capsys, monkeypatch, where, message):
    (tmp_path / "f").write_text("")
    cache = {"proc": "/proc/gapkit-cache", "file": tmp_path / "f", "under-file": tmp_path / "f" / "cache"}[
        where
    ]
    monkeypatch.setenv("GAPKIT_CACHE", str(cache))
    out = tmp_path / "out.json"
    rc = main(
        [
            "measure",
            "--dataset",
            "pairs",
            "--data-path",
            str(_pairs(world_dir, tmp_path)),
            *ENC,
            "--json",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert (
        rc == 2 and err.count("\n") == 1 and message in err and "GAPKIT_CACHE" in err and "--no-cache" in err
    )
    assert not out.exists() and not os.path.exists("/proc/gapkit-cache")
    # --no-cache needs no cache folder (the data set here is not the generated world)
    assert (
        main(
            [
                "measure",
                "--dataset",
                "pairs",
                "--data-path",
                str(_pairs(world_dir, tmp_path)),
                *ENC,
                "--no-cache",
                "--bootstrap",
                "0",
            ]
        )
        == 0
    )


@pytest.mark.skipif(
    os.geteuid() == 0,
    reason="a folder's permission bits do not stop root; the /proc, "
    "is-a-file and parent-is-a-file cases cover root",
)
def test_cache_folder_without_write_permission(world_dir, tmp_path, capsys, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    monkeypatch.setenv("GAPKIT_CACHE", str(ro / "cache"))
    assert main(["measure", "--dataset", "pairs", "--data-path", str(_pairs(world_dir, tmp_path)), *ENC]) == 2
    assert "cannot create files in" in capsys.readouterr().err


# --- output paths -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target, message",
    [
        ("/proc/x.json", "--json /proc/x.json: cannot create files in /proc"),
        ("{tmp}", "is a folder; give a file name"),
        ("{tmp}/f/x.json", "is a file, not a folder"),
    ],
)
def test_output_paths(emb, tmp_path, fails, target, message):
    (tmp_path / "f").write_text("")
    target = target.format(tmp=tmp_path)
    fails(["measure", "--embeddings", emb, "--json", target], message)


@pytest.mark.skipif(
    os.geteuid() == 0, reason="a folder's permission bits do not stop root; /proc covers root"
)
def test_output_in_unwritable_folder(emb, tmp_path, fails):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    fails(["measure", "--embeddings", emb, "--json", ro / "x.json"], "cannot create files in")


def test_no_partial_outputs(emb, tmp_path, fails):
    ok = tmp_path / "ok.json"
    fails(["measure", "--embeddings", emb, "--json", ok, "--csv", "/proc/x.csv"], "--csv /proc/x.csv", ok)
    (tmp_path / "f").write_text("")
    fails(
        ["encode", "--out", tmp_path / "f" / "e.npz"],
        f"--out {tmp_path / 'f' / 'e.npz'}: {tmp_path / 'f'} is a file",
    )


@pytest.mark.parametrize("verb", ["tsne", "sensitivity", "figures", "train", "ablate", "world-export"])
def test_every_verb_checks_its_output_before_work(tmp_path, fails, verb):
    (tmp_path / "f").write_text("")
    bad = tmp_path / "f" / "out"
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"table": "bias", "tasks": ["ve"], "rows": [{"label": "a"}]}))
    argv = {
        "tsne": ["tsne", "--out", bad],
        "sensitivity": ["sensitivity", "--out", bad],
        "figures": ["figures", "--out", bad],
        "train": ["train", "--task", "ve", "--out", bad],
        "ablate": ["ablate", spec, "--out", bad],
        "world-export": ["world", "export", "--out", bad],
    }[verb]
    fails(argv, f"{tmp_path / 'f'} is a file, not a folder")


# --- names and quiet --------------------------------------------------------------------------------


def test_gapkit_shape_suggests_gapkit_shapes(emb, fails, tmp_path):
    fails(
        ["measure", "--dataset", "pairs", "--data-path", tmp_path / "p.csv", "--encoder", "gapkit-shape"],
        "Unknown encoder 'gapkit-shape'. Did you mean: gapkit-shapes",
    )


def _cli(*argv, env=None):
    return subprocess.run(
        [sys.executable, "-m", "gapkit.cli.main", *map(str, argv)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.slow
def test_quiet_silences_open_clips_random_weights_warning(tmp_path):
    # The encoder is built (open_clip warns on the root logger), then the missing pairs file stops the run.
    args = [
        "measure",
        "--encoder",
        "ViT-S-32-alt:random-init",
        "--dataset",
        "pairs",
        "--data-path",
        tmp_path / "p.csv",
    ]
    loud = _cli(*args)
    assert loud.returncode == 2 and "initialized randomly" in loud.stderr
    quiet = _cli("--quiet", *args)
    assert (
        quiet.returncode == 2
        and quiet.stderr == f"gapkit: error: Pairs file not found: {tmp_path / 'p.csv'}\n"
    )


def test_quiet_silences_numpy_runtime_warnings(emb, monkeypatch):
    import warnings

    from gapkit.stats import engine

    real = engine.measure_source  # what `gapkit measure` calls

    def measure_that_divides_by_zero(*a, **k):
        np.zeros(1) / np.zeros(1)  # what a degenerate bootstrap replicate used to do
        return real(*a, **k)

    monkeypatch.setattr(engine, "measure_source", measure_that_divides_by_zero)
    for quiet, expected in (([], 1), (["--quiet"], 0)):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            assert main([*quiet, "measure", "--embeddings", str(emb), "--bootstrap", "0"]) == 0
        assert sum(issubclass(w.category, RuntimeWarning) for w in seen) == expected, quiet


# --- silently wrong before --------------------------------------------------------------------------


def test_limit_applies_to_embeddings(tmp_path, rng):
    img, txt = rng.standard_normal((2, 30, 6)).astype(np.float32)
    np.savez(tmp_path / "e.npz", image_emb=img[:10], text_emb=txt, caption_image=np.repeat(np.arange(10), 3))
    assert (
        main(
            [
                "measure",
                "--embeddings",
                str(tmp_path / "e.npz"),
                "--limit",
                "5",
                "--json",
                str(tmp_path / "o.json"),
                "--bootstrap",
                "0",
            ]
        )
        == 0
    )
    info = json.loads((tmp_path / "o.json").read_text())["info"]
    assert (info["n_images"], info["n_captions"]) == (5, 15)


def test_bootstrap_zero_prints_no_interval_column(emb, tmp_path, capsys):
    assert (
        main(
            [
                "measure",
                "--embeddings",
                str(emb),
                "--bootstrap",
                "0",
                "--json",
                str(tmp_path / "o.json"),
                "--csv",
                str(tmp_path / "o.csv"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "nan" not in out and "95% interval" not in out.splitlines()[3] and "none (--bootstrap 0)" in out
    stats = json.loads((tmp_path / "o.json").read_text())["stats"]  # strict JSON: null, never NaN
    assert stats["l2m"]["lo"] is None and stats["l2m"]["hi"] is None
    rows = [r.split(",") for r in (tmp_path / "o.csv").read_text().splitlines() if not r.startswith("#")]
    assert rows[0] == ["statistic", "value", "ci_low", "ci_high", "n"]
    assert all(r[2] == r[3] == "" for r in rows[1:])


def test_four_pairs_report_n_too_small(tmp_path, rng, capsys):
    np.save(tmp_path / "e.npy", rng.standard_normal((2, 4, 8)).astype(np.float32))
    assert main(["measure", "--embeddings", str(tmp_path / "e.npy"), "--json", str(tmp_path / "o.json")]) == 0
    out, err = capsys.readouterr()
    assert "RuntimeWarning" not in err
    report = json.loads((tmp_path / "o.json").read_text())
    skipped = report["info"]["skipped"]
    for name in ("separability", "diff_top_eigenvalue_share", "i2t_r5", "t2i_r10", "intervals"):
        assert skipped[name].startswith("n too small"), name
        assert name == "intervals" or name not in report["stats"]
    assert "n too small (4 images < 25)" in out and "[0.0000, 0.0000]" not in out


def test_image_without_captions_is_left_out_of_recall(tmp_path, rng, capsys):
    img = rng.standard_normal((12, 8)).astype(np.float32)
    owner = np.repeat(np.arange(10), 2)  # images 10 and 11 have no caption
    txt = (img[owner] + 0.1 * rng.standard_normal((20, 8))).astype(np.float32)
    np.savez(tmp_path / "e.npz", image_emb=img, text_emb=txt, caption_image=owner)
    assert (
        main(
            [
                "measure",
                "--embeddings",
                str(tmp_path / "e.npz"),
                "--json",
                str(tmp_path / "o.json"),
                "--bootstrap",
                "0",
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "o.json").read_text())
    assert report["stats"]["i2t_r1"]["n"] == 10 and report["stats"]["i2t_r1"]["value"] == 1.0
    assert report["info"]["images_without_captions"] == 2
    assert "2 of 12 images have no caption: left out of image->text recall" in capsys.readouterr().err


def test_eval_refuses_a_partial_run_unless_allowed(world_dir, tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--world",
                str(world_dir),
                "--encoder",
                "gapkit-shapes:random-init",
                "--task",
                "ve",
                "--epochs",
                "1",
                "--batch-size",
                "32",
                "--max-train-examples",
                "40",
                "--max-eval-examples",
                "4",
                "--set",
                "beams=1",
                "--set",
                "decoder_options={d_model: 32, d_ff: 64, num_heads: 2}",
                "--out",
                str(run),
            ]
        )
        == 0
    )
    # The state a run killed after epoch 1 of 3 leaves: checkpoint of epoch 1, no metrics.json.
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump({**cfg, "epochs": 3}, sort_keys=False))
    (run / "metrics.json").unlink()
    capsys.readouterr()
    assert main(["eval", str(run), "--split", "test"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "stopped after epoch 1 of 3" in err and "--allow-partial" in err
    assert not (run / "metrics-test.json").exists()
    assert main(["eval", str(run), "--split", "test", "--allow-partial"]) == 0
    metrics = json.loads((run / "metrics-test.json").read_text())["metrics"]
    assert metrics["partial"] is True and (metrics["epochs_done"], metrics["epochs"]) == (1, 3)
    # a config that leaves epochs to the decoder is measured against the decoder's (shapes-t5: 4)
    (run / "config.yaml").write_text(yaml.safe_dump({**cfg, "epochs": None}, sort_keys=False))
    capsys.readouterr()
    assert main(["eval", str(run), "--split", "test"]) == 2
    assert "stopped after epoch 1 of 4" in capsys.readouterr().err
