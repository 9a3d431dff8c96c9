"""Sharded embeddings: discovery and pairing checks, exact merges of the streaming pass (shards vs
one file vs Ray), sampled retrieval against brute force, and the merge arithmetic itself."""

import json

import numpy as np
import pytest

from gapkit.cli.main import main
from gapkit.data.shards import load_shards
from gapkit.errors import GapkitError
from gapkit.stats import engine, measure
from gapkit.stats.bootstrap import BootstrapSet
from gapkit.stats.engine import Source, measure_source
from gapkit.stats.retrieval import retrieval_hits
from gapkit.stats.stream import Moment, TopK

ROWS = [137, 90, 211, 64, 150, 99, 180, 45, 120]  # 9 shards of unequal size: 1,096 pairs


def _pairs(seed=0, n=sum(ROWS), d=16):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, d))
    img = base + 0.8 + 0.5 * rng.standard_normal((n, d))
    txt = base - 0.8 + 0.5 * rng.standard_normal((n, d))
    return img.astype(np.float16), txt.astype(np.float16)


def _clip_retrieval_dir(root, img, txt, rows=ROWS, metadata=True):
    """clip-retrieval's layout: img_emb/img_emb_0000.npy ..., text_emb/..., metadata/..."""
    for sub in ("img_emb", "text_emb", "metadata"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    start = 0
    for k, n in enumerate(rows):
        np.save(root / "img_emb" / f"img_emb_{k:04d}.npy", img[start : start + n])
        np.save(root / "text_emb" / f"text_emb_{k:04d}.npy", txt[start : start + n])
        if metadata:
            (root / "metadata" / f"metadata_{k:04d}.parquet").write_bytes(b"PAR1")
        start += n
    return root


def _pair_shards(root, img, txt, rows=ROWS):
    root.mkdir(parents=True, exist_ok=True)
    start = 0
    for k, n in enumerate(rows):
        np.save(root / f"part-{k:03d}.npy", np.stack([img[start : start + n], txt[start : start + n]]))
        start += n
    return root


def _close(a: dict, b: dict, tol=1e-6):
    """Every statistic, interval end, shift and eigenvalue of two report dicts within ``tol``."""
    assert a["stats"].keys() == b["stats"].keys()
    for k in a["stats"]:
        for f in ("value", "lo", "hi"):
            assert a["stats"][k][f] == pytest.approx(b["stats"][k][f], abs=tol, nan_ok=True), (k, f)
    for sa, sb in zip(a["shifts"], b["shifts"], strict=True):
        for m in ("mg", "delta"):
            for f in ("value", "lo", "hi"):
                assert sa[m][f] == pytest.approx(sb[m][f], abs=tol), (sa["bias"], m, f)
    assert np.allclose(a["eigenvalues"], b["eigenvalues"], atol=tol)
    assert np.allclose(a["gap_vector"], b["gap_vector"], atol=tol)


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    img, txt = _pairs()
    np.save(root / "one.npy", np.stack([img, txt]))
    return {
        "dir": _clip_retrieval_dir(root / "laion", img, txt),
        "pairs": _pair_shards(root / "pairs", img, txt),
        "one": root / "one.npy",
        "img": img,
        "txt": txt,
    }


def _cli_json(tmp_path, name, *args):
    out = tmp_path / f"{name}.json"
    assert main(["measure", "--bootstrap", "40", "--json", str(out), *map(str, args)]) == 0
    return json.loads(out.read_text())


def test_shards_equal_one_file_through_the_cli(sharded, tmp_path):
    one = _cli_json(tmp_path, "one", "--embeddings", sharded["one"])
    laion = _cli_json(tmp_path, "laion", "--embeddings", sharded["dir"])
    pairs = _cli_json(tmp_path, "pairs", "--embeddings", sharded["pairs"])
    glob = _cli_json(tmp_path, "glob", "--embeddings", sharded["pairs"] / "part-*.npy")
    for other in (laion, pairs, glob):
        _close(one, other)
    assert laion["provenance"]["source"]["shards"] == 9
    assert laion["provenance"]["source"]["layout"] == "clip-retrieval img_emb/text_emb"
    assert "9 parts" in laion["info"]["passes"]


def test_shards_equal_arrays_with_a_subsampled_bootstrap_and_sampled_retrieval(sharded, monkeypatch):
    """The bootstrap subsample and the retrieval queries are drawn over the whole input, so both
    come out the same however the rows are split."""
    monkeypatch.setattr(engine, "RETRIEVAL_AUTO_MAX", 500)
    shards = load_shards([str(sharded["dir"])])
    kw = {"bootstrap": 30, "bootstrap_max_images": 400, "seed": 3}
    split = measure_source(Source(shards.image_emb, shards.text_emb, None, shards.shards), **kw).to_dict()
    whole = measure(sharded["img"], sharded["txt"], **kw).to_dict()
    _close(split, whole)
    assert split["info"]["retrieval"].startswith("sampled: 400 image and 400 caption queries")
    assert split["info"]["bootstrap_images"] == 400


def test_sampled_retrieval_matches_brute_force_on_its_queries(monkeypatch, rng):
    from gapkit.stats.sampled import sample_queries

    monkeypatch.setattr(engine, "RETRIEVAL_AUTO_MAX", 100)
    monkeypatch.setattr("gapkit.stats.sampled.RETRIEVAL_QUERIES", 150)
    n_img, d = 400, 12
    owner = np.repeat(np.arange(n_img), rng.integers(1, 4, n_img))  # 1 image : 1-3 captions
    img = rng.standard_normal((n_img, d)).astype(np.float32)
    txt = (img[owner] + 1.5 * rng.standard_normal((len(owner), d))).astype(np.float32)
    r = measure(
        img, txt, owner, bootstrap=0, seed=5, separability=False, spectrum=False, shifts=False, chunk=37
    )
    q = sample_queries(Source(img, txt, owner), owner, BootstrapSet(5, 0, n_img, 10**9), 5, True)
    i2t, t2i = retrieval_hits(img, txt, owner, True)
    for j, k in enumerate((1, 5, 10)):
        assert r[f"i2t_r{k}"] == pytest.approx(i2t[q.image_ids, j].mean(), abs=1e-12)
        assert r[f"t2i_r{k}"] == pytest.approx(t2i[q.caption_ids, j].mean(), abs=1e-12)
    assert r.stats["i2t_r1"].n == 150 and r.info["retrieval"].startswith("sampled: 150 image")


@pytest.mark.ray
@pytest.mark.slow
def test_ray_executor_equals_local(sharded, tmp_path):
    pytest.importorskip("ray")
    import ray

    try:
        by_ray = _cli_json(tmp_path, "ray", "--embeddings", sharded["dir"], "--executor", "ray")
    finally:
        ray.shutdown()
    local = _cli_json(tmp_path, "local", "--embeddings", sharded["dir"])
    _close(local, by_ray)
    assert "(ray executor)" in by_ray["info"]["passes"]


def _fails(capsys, args, message, out):
    assert main(["measure", "--embeddings", *map(str, args), "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not out.exists()


def test_missing_and_mismatched_shards_are_one_line_errors(tmp_path, capsys):
    img, txt = _pairs(n=400)
    rows = [100, 100, 100, 100]
    out = tmp_path / "o.json"
    d = _clip_retrieval_dir(tmp_path / "a", img, txt, rows)
    (d / "text_emb" / "text_emb_0002.npy").unlink()
    _fails(capsys, [d], "img_emb_0002.npy has no matching text_emb shard (text_emb_0002.npy is missing)", out)
    d = _clip_retrieval_dir(tmp_path / "b", img, txt, rows)
    for sub in ("img_emb", "text_emb"):
        (d / sub / f"{sub}_0001.npy").unlink()
    _fails(
        capsys,
        [d],
        "Shard 0001 (img_emb_0001.npy and text_emb_0001.npy) is missing: shard numbers jump from 0 to 2",
        out,
    )
    d = _clip_retrieval_dir(tmp_path / "c", img, txt, rows)
    np.save(d / "text_emb" / "text_emb_0003.npy", txt[:99])
    _fails(capsys, [d], "img_emb_0003.npy has 100 rows but", out)
    d = _clip_retrieval_dir(tmp_path / "e", img, txt, rows)
    (d / "metadata" / "metadata_0001.parquet").unlink()
    _fails(capsys, [d], "metadata_0001.parquet is missing (shard img_emb_0001.npy has no metadata)", out)
    p = _pair_shards(tmp_path / "f", img, txt, rows)
    np.save(p / "part-002.npy", np.zeros((2, 100, 8), np.float16))
    _fails(capsys, [p], "part-002.npy has d=8, the shards before it d=16", out)
    (p / "part-002.npy").unlink()
    _fails(capsys, [p], "shard 2 is missing: shard numbers jump from 1 to 3", out)
    _fails(capsys, [tmp_path / "f" / "nothing-*.npy"], "No embedding shards match", out)


def test_a_bad_row_names_its_shard(tmp_path, capsys):
    img, txt = _pairs(n=400)
    txt[250, 3] = np.nan  # shard 2 (rows 200..299), its row 50
    d = _clip_retrieval_dir(tmp_path / "a", img, txt, [100, 100, 100, 100])
    _fails(capsys, [d], "text_emb row 250 holds NaN or Inf (1 such rows in rows", tmp_path / "o.json")
    _fails(capsys, [d], "(in text_emb/text_emb_0002.npy, its row 50)", tmp_path / "o.json")


def test_limit_cuts_the_shard_set(sharded, tmp_path):
    part = _cli_json(tmp_path, "part", "--embeddings", sharded["dir"], "--limit", "300")
    whole = measure(sharded["img"][:300], sharded["txt"][:300], bootstrap=40).to_dict()
    _close(part, whole)


def test_stacked_rows_read_across_shards(sharded):
    shards = load_shards([str(sharded["pairs"])])
    idx = np.array([1095, 0, 137, 136, 500, 500, -1])
    assert np.array_equal(shards.image_emb[idx], sharded["img"][idx])
    assert np.array_equal(shards.text_emb[130:300], sharded["txt"][130:300])
    with pytest.raises(IndexError):
        shards.text_emb[np.array([1096])]


# --- the merge arithmetic ----------------------------------------------------------------------


def test_moments_about_different_centres_merge_exactly(rng):
    delta = (rng.standard_normal((300, 5)) * [1, 2, 3, 4, 5] + 7).astype(np.float32)
    parts = [Moment.zeros(5) for _ in range(3)]
    for m, rows in zip(parts, (delta[:40], delta[40:41], delta[41:])):
        m.add(rows)
    parts[0].merge(parts[1])
    parts[0].merge(parts[2])
    assert np.allclose(parts[0].covariance(), np.cov(delta.astype(np.float64).T, bias=True), atol=1e-6)


def test_top_k_merge_equals_one_ranking(rng):
    sims = rng.standard_normal((50, 4)).astype(np.float32)
    whole, split = TopK.empty(4), TopK.empty(4)
    whole.add(sims, 0)
    for s in (0, 7, 30):
        part = TopK.empty(4)
        part.add(sims[s : {0: 7, 7: 30, 30: 50}[s]], s)
        split.merge(part)
    assert np.array_equal(whole.ids, split.ids)
    assert np.array_equal(whole.ids, np.argsort(-sims, axis=0, kind="stable")[:10].T)


def test_bootstrap_weights_do_not_depend_on_how_rows_are_split():
    for max_images in (10**6, 3000):
        b = BootstrapSet(seed=4, reps=7, n_img=10_000, max_images=max_images)
        whole = b.weights(np.arange(10_000))
        pieces = []
        for lo, hi in ((0, 4095), (4095, 4097), (4097, 10_000)):
            offs, w = b.in_range(lo, hi)
            block = np.zeros((8, hi - lo), np.float32)
            block[:, offs] = w
            pieces.append(block)
        assert np.array_equal(np.concatenate(pieces, 1)[1:], whole[1:])
        assert int(whole[0].sum()) == min(max_images, 10_000)


def test_ray_needs_shard_files(rng):
    img, txt = rng.standard_normal((2, 30, 4))
    with pytest.raises(GapkitError, match="--executor ray reads .npy shard files"):
        measure_source(Source(img, txt), executor="ray")
    with pytest.raises(GapkitError, match="Unknown measure executor 'rey'. Did you mean: ray"):
        measure_source(Source(img, txt), executor="rey")
