import json
import logging
import os
import shutil

import numpy as np
import pytest

from gapkit.cache import EmbeddingCache
from gapkit.data import load_dataset
from gapkit.embed import embed_paired, extract_image_features
from gapkit.encoders import create_encoder
from gapkit.errors import GapkitError
from gapkit.worlds.shapes.export import export_world
from gapkit.worlds.shapes.world import ShapesWorld


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory):
    w = ShapesWorld(seed=3, sizes={"train": 30, "test": 12}, n_minimal_pairs=1).generate()
    return export_world(w, tmp_path_factory.mktemp("w") / "world")


def test_round_trip_and_second_run_hits(tmp_path, caplog):
    cache = EmbeddingCache(tmp_path)
    fields = {"kind": "image", "x": 1}
    calls = []
    compute = lambda: calls.append(1) or np.arange(6, dtype=np.float32).reshape(2, 3)
    with caplog.at_level(logging.INFO, logger="gapkit.cache"):
        a = cache.get_or_compute(fields, compute)
        b = cache.get_or_compute(fields, compute)
    assert np.array_equal(a, b) and len(calls) == 1
    assert "cache hit" in caplog.text
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize("damage", ["flip-bytes", "bad-meta", "other-fields", "meta-list", "meta-null"])
def test_corrupt_or_mismatched_entries_are_rebuilt(tmp_path, caplog, damage):
    cache = EmbeddingCache(tmp_path)
    fields = {"kind": "text", "n": 2}
    cache.store(fields, np.ones((2, 3), np.float32))
    entry = next(tmp_path.rglob("emb.npy")).parent
    if damage == "flip-bytes":
        raw = bytearray((entry / "emb.npy").read_bytes())
        raw[-1] ^= 0xFF
        (entry / "emb.npy").write_bytes(bytes(raw))
    elif damage == "bad-meta":
        (entry / "meta.json").write_text("{not json")
    elif damage in ("meta-list", "meta-null"):
        (entry / "meta.json").write_text("[]" if damage == "meta-list" else "null")
    else:
        meta = (entry / "meta.json").read_text().replace('"n": 2', '"n": 3')
        (entry / "meta.json").write_text(meta)
    with caplog.at_level(logging.WARNING, logger="gapkit.cache"):
        got = cache.get_or_compute(fields, lambda: np.zeros((2, 3), np.float32))
    assert "invalid" in caplog.text
    assert np.array_equal(got, np.zeros((2, 3)))  # recomputed, never the damaged entry
    assert np.array_equal(cache.load(fields), got)  # and the rebuilt entry is good again


def test_cache_key_covers_encoder_data_and_template(tiny_world, tmp_path, caplog):
    data = load_dataset("shapes", tiny_world, "test")
    enc = create_encoder("gapkit-shapes:random-init")
    cache = EmbeddingCache(tmp_path)
    e1 = embed_paired(enc, data, cache=cache, num_workers=0)
    assert e1.image.shape == (12, enc.embed_dim) and len(e1.text) == len(data.captions)
    assert e1.caption_image.max() == 11
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="gapkit.cache"):
        embed_paired(enc, data, template="a photo of {}", cache=cache, num_workers=0)
    assert caplog.text.count("cache hit") == 1 and caplog.text.count("cache miss") == 1
    assert len(list(tmp_path.rglob("emb.npy"))) == 3
    meta = json.loads(next(p for p in tmp_path.rglob("meta.json") if "image" in p.read_text()).read_text())
    assert meta["fields"]["image_root"] == str(tiny_world.resolve())


def test_unreadable_and_missing_images_are_named(tmp_path):
    enc = create_encoder("gapkit-shapes:random-init")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(GapkitError, match="1 images could not be read: .*bad.png"):
        extract_image_features(enc, [bad], num_workers=0)
    with pytest.raises(GapkitError, match="1 of 1 image files are missing, e.g. .*nope.png"):
        extract_image_features(enc, [tmp_path / "nope.png"], num_workers=0)


def test_dataloader_workers_give_the_same_features(tiny_world):
    data = load_dataset("shapes", tiny_world, "test")
    enc = create_encoder("gapkit-shapes:random-init")
    a = extract_image_features(enc, data.image_paths, batch_size=5, num_workers=0)
    b = extract_image_features(enc, data.image_paths, batch_size=5, num_workers=2)
    assert np.array_equal(a, b)


# --- the image files are part of the key ------------------------------------------------------------


@pytest.fixture
def encoded(monkeypatch):
    """The file names of every batch of images actually encoded (not read from the cache)."""
    import gapkit.embed as embed_mod

    seen: list[list[str]] = []
    real = embed_mod.extract_image_features

    def spy(encoder, paths, *a, **k):
        seen.append([os.path.basename(p) for p in paths])
        return real(encoder, paths, *a, **k)

    monkeypatch.setattr(embed_mod, "extract_image_features", spy)
    return seen


@pytest.fixture
def pictures(tiny_world, tmp_path):
    """A pairs file over a private copy of the world's 12 test images, as BMP files (equal sizes,
    so a content change can keep the size)."""
    from PIL import Image

    data = load_dataset("shapes", tiny_world, "test")
    root = tmp_path / "pictures"
    root.mkdir()
    lines = []
    for i, (src, cap) in enumerate(zip(data.image_paths, data.captions[::5])):
        Image.open(src).save(root / f"{i:02d}.bmp")
        lines.append(f"{i:02d}.bmp,{cap}")
    (root / "pairs.csv").write_text("image,caption\n" + "\n".join(lines) + "\n")
    return root


def _embed(root, verify=False, image_root=None):
    data = load_dataset("pairs", root / "pairs.csv", image_root=image_root)
    enc = create_encoder("gapkit-shapes:random-init")
    return embed_paired(enc, data, cache=EmbeddingCache(), num_workers=0, verify_images=verify).image


def _fresh(root, name):
    return extract_image_features(create_encoder("gapkit-shapes:random-init"), [root / name], num_workers=0)[
        0
    ]


def test_one_changed_image_is_the_only_row_encoded_again(pictures, encoded):
    first = _embed(pictures)
    assert encoded == [[f"{i:02d}.bmp" for i in range(12)]]
    assert np.array_equal(_embed(pictures), first) and len(encoded) == 1  # a hit
    shutil.copy(pictures / "07.bmp", pictures / "03.bmp")  # new bytes (and mtime) behind 03.bmp
    again = _embed(pictures)
    assert encoded[1:] == [["03.bmp"]]
    # re-encoded alone: equal to a batch of 12 up to float rounding (batch size changes summation order)
    assert np.array_equal(again[3], _fresh(pictures, "03.bmp")) and np.allclose(again[3], first[7], atol=1e-5)
    keep = [i for i in range(12) if i != 3]
    assert np.array_equal(again[keep], first[keep])


def test_two_swapped_files_are_the_only_rows_encoded_again(pictures, encoded):
    first = _embed(pictures)
    os.rename(pictures / "02.bmp", pictures / "tmp.bmp")
    os.rename(pictures / "05.bmp", pictures / "02.bmp")
    os.rename(pictures / "tmp.bmp", pictures / "05.bmp")
    again = _embed(pictures)
    assert sorted(encoded[1]) == ["02.bmp", "05.bmp"] and len(encoded) == 2
    assert np.allclose(again[2], first[5], atol=1e-5) and np.allclose(again[5], first[2], atol=1e-5)


def test_another_image_root_is_another_entry(pictures, tmp_path, encoded):
    first = _embed(pictures)
    other = tmp_path / "other"
    shutil.copytree(pictures, other)
    shutil.copy(other / "00.bmp", other / "01.bmp")
    moved = _embed(pictures, image_root=other)  # same pairs.csv, the other folder's pictures
    assert len(encoded) == 2 and len(encoded[1]) == 12
    assert np.allclose(moved[1], first[0], atol=1e-5) and not np.allclose(moved[1], first[1], atol=1e-5)
    assert np.array_equal(_embed(pictures), first) and len(encoded) == 2  # the first root is still a hit


def test_verify_images_catches_a_same_size_same_mtime_rewrite(pictures, encoded):
    stale = _embed(pictures)
    checked = _embed(pictures, verify=True)
    assert len(encoded) == 2 and np.array_equal(stale, checked)
    target = pictures / "04.bmp"
    st = os.stat(target)
    target.write_bytes((pictures / "09.bmp").read_bytes())  # in place: same inode, same size
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(target).st_size == st.st_size and os.stat(target).st_mtime_ns == st.st_mtime_ns
    assert np.array_equal(_embed(pictures)[4], stale[4]) and len(encoded) == 2  # stat keys cannot see it
    verified = _embed(pictures, verify=True)
    assert encoded[2:] == [["04.bmp"]] and np.allclose(verified[4], stale[9], atol=1e-5)


def test_missing_or_corrupt_images_are_not_served_from_the_cache(pictures, encoded):
    _embed(pictures)
    (pictures / "06.bmp").write_bytes(b"not a picture")
    with pytest.raises(GapkitError, match="1 images could not be read: .*06.bmp"):
        _embed(pictures)
    (pictures / "06.bmp").unlink()
    with pytest.raises(GapkitError, match="1 of 12 image files are missing, e.g. .*06.bmp"):
        _embed(pictures)


def test_shuffled_images_give_the_numbers_of_an_uncached_run(tiny_world, tmp_path, capsys):
    """The report of issue 10: the same pairs file over shuffled pictures was a cache hit with the
    first folder's numbers."""
    from gapkit.cli.main import main

    root = tmp_path / "shuffled"
    shutil.copytree(tiny_world / "images", root / "images")
    data = load_dataset("shapes", tiny_world, "test")
    lines = [f"{p.relative_to(tiny_world)},{c}" for p, c in zip(data.image_paths, data.captions[::5])]
    (root / "pairs.csv").write_text("image,caption\n" + "\n".join(lines) + "\n")
    args = [
        "measure",
        "--dataset",
        "pairs",
        "--data-path",
        str(root / "pairs.csv"),
        "--encoder",
        "gapkit-shapes:random-init",
        "--workers",
        "0",
        "--bootstrap",
        "20",
    ]
    stats = lambda name: json.loads((tmp_path / name).read_text())["stats"]
    assert main([*args, "--json", str(tmp_path / "before.json")]) == 0
    names = [p.name for p in data.image_paths]
    for a, b in zip(names, names[1:] + names[:1]):  # rotate the pictures one place
        os.rename(root / "images" / a, root / "images" / f"{b}.new")
    for b in names:
        os.rename(root / "images" / f"{b}.new", root / "images" / b)
    assert main([*args, "--json", str(tmp_path / "cached.json")]) == 0
    assert main([*args, "--no-cache", "--json", str(tmp_path / "uncached.json")]) == 0
    assert stats("cached.json") == stats("uncached.json") != stats("before.json")
    prov = json.loads((tmp_path / "cached.json").read_text())["provenance"]["source"]
    assert prov["image_root"] == str(root.resolve()) and prov["image_identity"] == "path+size+mtime+inode"


def test_close_image_vectors_use_the_same_key(tmp_path, encoded):
    """CLOSE (and VQA / SNLI-VE through it) reads image vectors through the same per-file key."""
    from gapkit.close.data import DataSource
    from gapkit.close.prepare import Vectors
    from gapkit.close.tasks import CaptionSingle

    w = ShapesWorld(seed=8, sizes={"train": 4, "test": 6}, n_minimal_pairs=1).generate()
    src = DataSource.shapes_world(export_world(w, tmp_path / "world"))
    ex = CaptionSingle().examples(src, "test", train=False)
    vec = Vectors(
        create_encoder("gapkit-shapes:random-init"),
        EmbeddingCache(),
        {"close-data": src.identity},
        src.root,
        "{}",
    )
    first = vec.images(ex)
    changed = ex[2].image_path
    shutil.copy(ex[0].image_path, changed)
    again = vec.images(ex)
    assert encoded[1:] == [[changed.name]]
    assert np.allclose(again[2], first[0], atol=1e-5) and np.array_equal(again[3:], first[3:])
