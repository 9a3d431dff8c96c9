"""Reliability drills on inputs, driven in-process like ``test_bad_inputs.py``: text encodings and
nulls in pairs and prediction files, the file a bad shard row is reported against, Ray failing to
start, and a read-only, pre-filled embedding cache. Each case first reproduced the defect."""

import json
import os
import stat

import numpy as np
import pytest

from gapkit.cli.main import main
from gapkit.data import load_dataset
from gapkit.errors import GapkitError

from .test_bad_inputs import _snapshot

ENC = ["--encoder", "gapkit-shapes:random-init", "--workers", "0"]


def _one_line_error(capsys, argv, message, *outputs) -> str:
    """``main(argv)`` exits 2 with one stderr line holding ``message``; no ``outputs`` are left."""
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and err.startswith("gapkit: error: "), err
    assert message in err, err
    for o in outputs:
        assert not os.path.exists(o), o
    return err


@pytest.fixture
def pictures(tmp_path):
    """Four small PNG files and a pairs CSV over them."""
    from PIL import Image

    root = tmp_path / "pictures"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(root / f"{i}.png")
    rows = "".join(f"{i}.png,a shape number {i}\n" for i in range(4))
    (root / "pairs.csv").write_text("image,caption\n" + rows)
    return root


# --- 1. encodings and nulls in pairs files --------------------------------------------------------------


def test_latin1_pairs_csv_is_one_line_naming_the_file(tmp_path, capsys):
    # before: UnicodeDecodeError, a traceback and exit 1
    path = tmp_path / "pairs.csv"
    path.write_bytes("image,caption\na.png,un café crème\n".encode("latin-1"))
    out = tmp_path / "out.json"
    err = _one_line_error(
        capsys,
        ["measure", "--dataset", "pairs", "--data-path", path, *ENC, "--json", out],
        "is not UTF-8 text: byte 0xe9 on line 2",
        out,
    )
    assert str(path) in err and "save it as UTF-8" in err


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_utf8_with_a_byte_order_mark_is_read(tmp_path, suffix):
    # before (CSV): the header's first column read as "\ufeffimage": "missing image"
    rows = [("a.png", "un café"), ("b.png", "two"), ("a.png", "three")]
    if suffix == ".csv":
        text = "image,caption\r\n" + "".join(f"{i},{c}\r\n" for i, c in rows)  # as Excel writes it
    else:
        text = "".join(json.dumps({"image": i, "caption": c}, ensure_ascii=False) + "\n" for i, c in rows)
    path = tmp_path / f"pairs{suffix}"
    path.write_bytes(text.encode("utf-8-sig"))
    d = load_dataset("pairs", path)
    assert d.image_ids == ["a.png", "b.png"] and d.caption_image.tolist() == [0, 1, 0]
    assert d.captions == ["un café", "two", "three"]


def test_a_caption_may_hold_a_line_separator_inside_its_json_string(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"image": "a.png", "caption": "one\u2028two"}, ensure_ascii=False) + "\n")
    assert load_dataset("pairs", path).captions == ["one\u2028two"]


@pytest.mark.parametrize(
    "row, message",
    [
        (
            {"image": "a.png", "caption": ["a", "b"]},
            "line 2: caption is a JSON array, not a string; give one row per caption",
        ),
        ({"image": "a.png", "caption": {"en": "a"}}, "line 2: caption is a JSON object, not a string"),
        ({"image": "a.png", "caption": 7}, "line 2: caption is a number, not a string"),
        ({"image": 3, "caption": "a"}, "line 2: image is a number, not a string"),
        ({"image": "a.png", "caption": None}, "line 2: needs a non-empty image and caption"),
    ],
)
def test_jsonl_values_that_are_not_strings(tmp_path, capsys, row, message):
    # before: ["a", "b"] was embedded as the text "['a', 'b']" with exit 0; an image number crashed
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"image": "b.png", "caption": "fine"}) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(GapkitError, match=message.replace("(", r"\(")):
        load_dataset("pairs", path)
    out = tmp_path / "out.json"
    err = _one_line_error(
        capsys, ["measure", "--dataset", "pairs", "--data-path", path, *ENC, "--json", out], message, out
    )
    assert str(path) in err


def test_latin1_minimal_pairs_csv_is_one_line(tmp_path):
    from gapkit.data.minimal_pairs import load_minimal_pairs

    path = tmp_path / "mp.csv"
    path.write_bytes("image_a,image_b,caption_a,caption_b,attribute\na,b,café,thé,drink\n".encode("latin-1"))
    with pytest.raises(GapkitError, match="mp.csv is not UTF-8 text: byte 0xe9 on line 2"):
        load_minimal_pairs(path)


# --- 1. nulls in prediction files -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "files, argv, message",
    [
        *[
            (
                {"p.json": [{"prediction": "two", "refs": ["2"]}, {"prediction": None, "refs": ["2"]}]},
                ["--kind", kind],
                "p.json: item 1: 'prediction' is null, not a string",
            )
            for kind in ("caption", "vqa", "ve")
        ],
        (
            {"p.json": [{"id": 7, "prediction": ["a"]}], "r.json": [{"id": 7, "refs": ["a"]}]},
            ["--refs", "r.json", "--kind", "vqa"],
            "p.json: item 0 (id 7): 'prediction' is a JSON array, not a string",
        ),
        (
            {"p.json": [{"prediction": "x", "refs": "abc"}]},
            ["--kind", "vqa"],
            "p.json: item 0 needs 'refs', a non-empty list of strings",
        ),
        (
            {"p.json": [{"prediction": "x", "refs": ["a"]}, {"refs": ["a"]}]},
            ["--kind", "vqa"],
            "p.json: item 1 has no field 'prediction'",
        ),
        (
            {
                "p.json": [{"image_id": 1, "caption": None}],
                "r.json": {"annotations": [{"image_id": 1, "caption": "y"}]},
            },
            ["--refs", "r.json"],
            "p.json: item 0 (image_id 1): 'caption' is null, not a string",
        ),
        (
            {
                "p.json": [{"question_id": 5, "answer": None}],
                "a.json": {"annotations": [{"question_id": 5, "answers": [{"answer": "x"}]}]},
            },
            ["--annotations", "a.json"],
            "p.json: item 0 (question_id 5): 'answer' is null, not a string",
        ),
    ],
)
def test_score_refuses_null_predictions_naming_the_item(tmp_path, capsys, monkeypatch, files, argv, message):
    # before: "prediction": null raised AttributeError ('NoneType' object has no attribute ...)
    monkeypatch.chdir(tmp_path)
    for name, obj in files.items():
        (tmp_path / name).write_text(json.dumps(obj))
    _one_line_error(capsys, ["score", "p.json", *argv], message)


def test_score_reads_a_vqa_answer_given_as_a_number(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.json").write_text(json.dumps([{"question_id": 1, "answer": 2}]))
    anns = {"annotations": [{"question_id": 1, "answers": [{"answer": "2"}] * 10}]}
    (tmp_path / "a.json").write_text(json.dumps(anns))
    assert main(["score", "p.json", "--annotations", "a.json"]) == 0
    assert json.loads(capsys.readouterr().out)["vqa_acc_official"] == pytest.approx(100.0)


def test_score_predictions_file_in_latin1(tmp_path, capsys):
    path = tmp_path / "p.json"
    path.write_bytes('[{"prediction": "café", "refs": ["thé"]}]'.encode("latin-1"))
    _one_line_error(capsys, ["score", path, "--kind", "vqa"], f"{path} is not UTF-8 text")


# --- 2. a bad row in a shard set names the file that holds it -------------------------------------------


def _clip_retrieval_dir(root, img, txt, rows):
    for sub in ("img_emb", "text_emb"):
        (root / sub).mkdir(parents=True)
    start = 0
    for k, n in enumerate(rows):
        np.save(root / "img_emb" / f"img_emb_{k:04d}.npy", img[start : start + n])
        np.save(root / "text_emb" / f"text_emb_{k:04d}.npy", txt[start : start + n])
        start += n
    return root


@pytest.mark.parametrize(
    "modality, where",
    [("text", "(in text_emb/text_emb_0002.npy, its row 50)"), ("image", "(in img_emb/img_emb_0002.npy")],
)
def test_nan_in_a_shard_names_its_own_file(tmp_path, capsys, rng, modality, where):
    # before: a NaN in text_emb_0002.npy was reported "in img_emb/img_emb_0002.npy"
    img, txt = rng.standard_normal((2, 400, 8)).astype(np.float32)
    (txt if modality == "text" else img)[250, 3] = np.nan
    d = _clip_retrieval_dir(tmp_path / "laion", img, txt, [100, 100, 100, 100])
    out = tmp_path / "o.json"
    name = "text_emb" if modality == "text" else "image_emb"
    err = _one_line_error(capsys, ["measure", "--embeddings", d, "--json", out], where, out)
    assert f"{name} row 250 holds NaN or Inf" in err
    other = "img_emb/" if modality == "text" else "text_emb/"
    assert other not in err


def test_nan_in_a_separate_text_file_names_the_text_file(tmp_path, capsys, rng):
    img, txt = rng.standard_normal((2, 30, 8)).astype(np.float32)
    txt[4, 0] = np.inf
    np.save(tmp_path / "images.npy", img)
    np.save(tmp_path / "texts.npy", txt)
    out = tmp_path / "o.json"
    argv = ["measure", "--embeddings", tmp_path / "images.npy", tmp_path / "texts.npy", "--json", out]
    _one_line_error(
        capsys, argv, "text_emb row 4 holds NaN or Inf (1 such rows in rows 0..29) (in texts.npy", out
    )


# --- 3. Ray failing to start ----------------------------------------------------------------------------


@pytest.fixture
def failing_ray(monkeypatch):
    """Ray whose ``init`` fails as a broken local start does: a multi-line message (no instance is
    ever started: the test is fast and needs no free ports)."""
    ray = pytest.importorskip("ray")
    calls = []

    def init(*args, **kwargs):
        calls.append(kwargs)
        raise RuntimeError("Failed to start the GCS server.\n  File gcs.out: address already in use\n...")

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "shutdown", lambda *a, **k: calls.append("shutdown"))
    return calls


@pytest.fixture
def shard_dir(tmp_path, rng):
    img, txt = rng.standard_normal((2, 40, 8)).astype(np.float32)
    return _clip_retrieval_dir(tmp_path / "laion", img, txt, [20, 20])


def test_ray_failing_to_start_is_one_line(shard_dir, tmp_path, capsys, failing_ray):
    # before: Ray's RuntimeError traceback, exit 1
    out = tmp_path / "o.json"
    argv = ["measure", "--embeddings", shard_dir, "--executor", "ray", "--json", out]
    err = _one_line_error(capsys, argv, "Ray could not start a local instance", out)
    assert "RuntimeError: Failed to start the GCS server." in err and "--executor local" in err
    assert "address already in use" not in err  # the first line of Ray's message only
    assert failing_ray[-1] == "shutdown"  # a half-started instance is not left behind
    err = _one_line_error(
        capsys,
        [*argv, "--address", "ray://head:10001"],
        "connect to the cluster at --address ray://head:10001",
    )
    assert failing_ray[-2]["address"] == "ray://head:10001"


def test_ray_failing_to_start_shows_its_traceback_with_debug(shard_dir, failing_ray):
    with pytest.raises(GapkitError, match="Ray could not start a local instance") as info:
        main(["--debug", "measure", "--embeddings", str(shard_dir), "--executor", "ray"])
    assert isinstance(info.value.__cause__, RuntimeError)


def test_ablate_ray_executor_start_failure_is_one_line(failing_ray):
    from gapkit.ablate.executors import RayExecutor

    with pytest.raises(GapkitError, match="Ray could not start a local instance \\(2 CPUs\\): RuntimeError"):
        RayExecutor(jobs=2)._run([], lambda job, result: False)


# --- 4. a read-only, pre-filled embedding cache ---------------------------------------------------------


def _read_only(root) -> None:
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o444)
        os.chmod(dirpath, 0o555)


def _writable_again(root) -> None:
    for dirpath, _, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)


@pytest.fixture
def read_only_cache(tmp_path, pictures, monkeypatch, capsys):
    """$GAPKIT_CACHE filled by a first ``gapkit encode`` of ``pictures``, then made read-only.

    Tests run as root, where permission bits do not stop writes, so the cache's write probe
    (``check_output_dir``, which creates a probe file) is made to fail as it does on a read-only
    mount: that is the only thing gapkit consults to decide whether it may write. The snapshot
    comparison then proves nothing was written anyway."""
    from gapkit import cache as cache_mod

    root = tmp_path / "cache"
    monkeypatch.setenv("GAPKIT_CACHE", str(root))
    pairs = pictures / "pairs.csv"
    assert main(["encode", "--dataset", "pairs", "--data-path", str(pairs), *ENC]) == 0
    assert (root / "embeddings").is_dir()
    capsys.readouterr()
    real_probe = cache_mod.check_output_dir

    def probe(path, flag):
        if os.path.realpath(path).startswith(os.path.realpath(root)):
            raise GapkitError(f"{flag} {path}: cannot create files in {path} (Read-only file system).")
        return real_probe(path, flag)

    monkeypatch.setattr(cache_mod, "check_output_dir", probe)
    _read_only(root)
    yield root, pairs
    _writable_again(root)


def test_read_only_complete_cache_is_read(read_only_cache, tmp_path, capsys):
    # before: "GAPKIT_CACHE ...: cannot create files in ..." exit 2 before any work
    root, pairs = read_only_cache
    before = _snapshot(root)
    out = tmp_path / "gap.json"
    argv = ["measure", "--dataset", "pairs", "--data-path", pairs, *ENC, "--bootstrap", "0", "--json", out]
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert err.count("cache hit") == 2 and "cache miss" not in err
    assert out.is_file() and _snapshot(root) == before
    assert main(["encode", "--dataset", "pairs", "--data-path", str(pairs), *ENC]) == 0


def test_read_only_cache_refuses_only_what_it_would_have_to_write(read_only_cache, tmp_path, capsys):
    root, pairs = read_only_cache
    before = _snapshot(root)
    out = tmp_path / "gap.json"
    argv = ["measure", "--dataset", "pairs", "--data-path", pairs, *ENC, "--template", "a photo of {}"]
    err = _one_line_error(
        capsys,
        ["--quiet", *argv, "--json", out],  # --quiet: the image embeddings' "cache hit" is not logged
        "The cache does not hold the text embeddings this run needs",
        out,
    )
    assert "cannot create files in" in err and "GAPKIT_CACHE" in err and "--no-cache" in err
    assert _snapshot(root) == before
    assert main([str(a) for a in [*argv, "--no-cache", "--bootstrap", "0"]]) == 0


def test_read_only_cache_keeps_an_entry_it_cannot_rebuild(read_only_cache, capsys):
    root, pairs = read_only_cache
    _writable_again(root)
    meta = next(root.glob("embeddings/*/*/meta.json"))
    meta.write_text("[]")  # a damaged entry: rebuilding it would mean deleting and writing
    _read_only(root)
    before = _snapshot(root)
    rc = main(["--quiet", "measure", "--dataset", "pairs", "--data-path", str(pairs), *ENC])
    lines = capsys.readouterr().err.splitlines()
    assert rc == 2 and "is invalid" in lines[0] and len(lines) == 2  # the warning, then the error
    assert lines[1].startswith("gapkit: error: ") and "and cannot store them" in lines[1]
    assert _snapshot(root) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="permission bits do not stop root; covered by the probe above")
def test_read_only_cache_by_permissions(tmp_path, pictures, monkeypatch, capsys):
    root = tmp_path / "cache"
    monkeypatch.setenv("GAPKIT_CACHE", str(root))
    argv = ["encode", "--dataset", "pairs", "--data-path", str(pictures / "pairs.csv"), *ENC]
    assert main(argv) == 0
    _read_only(root)
    try:
        assert main(argv) == 0
        assert os.stat(root).st_mode & stat.S_IWUSR == 0
    finally:
        _writable_again(root)
