import logging

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


@pytest.mark.parametrize("damage", ["flip-bytes", "bad-meta", "other-fields"])
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
    else:
        meta = (entry / "meta.json").read_text().replace('"n": 2', '"n": 3')
        (entry / "meta.json").write_text(meta)
    with caplog.at_level(logging.WARNING, logger="gapkit.cache"):
        got = cache.get_or_compute(fields, lambda: np.zeros((2, 3), np.float32))
    assert "invalid" in caplog.text
    assert np.array_equal(got, np.zeros((2, 3)))  # recomputed, never the damaged entry


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
