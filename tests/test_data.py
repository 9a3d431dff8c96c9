import json

import numpy as np
import pytest

from gapkit.data import load_dataset
from gapkit.data.embeddings import load_embedding_files
from gapkit.errors import GapkitError, UnknownNameError
from gapkit.worlds.shapes.export import export_world
from gapkit.worlds.shapes.world import ShapesWorld


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    w = ShapesWorld(
        seed=5, sizes={"train": 20, "restval": 6, "val": 6, "test": 8}, n_minimal_pairs=1
    ).generate()
    return export_world(w, tmp_path_factory.mktemp("w") / "world")


def test_karpathy_splits_and_one_to_five(world_dir):
    test = load_dataset("coco-karpathy", world_dir / "dataset_coco.json", "test")
    assert test.n_images == 8 and test.n_captions == 40
    assert np.bincount(test.caption_image).tolist() == [5] * 8
    assert all(p.is_file() for p in test.image_paths)
    both = load_dataset("coco-karpathy", world_dir / "dataset_coco.json", "train+restval")
    assert both.n_images == 26
    with pytest.raises(GapkitError, match="Unknown split 'tset'"):
        load_dataset("coco-karpathy", world_dir / "dataset_coco.json", "tset")


def test_shapes_loader_is_the_karpathy_path(world_dir):
    a = load_dataset("shapes", world_dir, "val")
    b = load_dataset("coco-karpathy", world_dir / "dataset_coco.json", "val", image_root=world_dir)
    assert a.captions == b.captions and a.image_paths == b.image_paths
    assert a.extra["world"]["seed"] == 5


def test_coco_captions_json(world_dir):
    d = load_dataset("coco-captions", world_dir / "captions_test.json", image_root=world_dir / "images")
    assert d.n_images == 8 and d.n_captions == 40 and d.image_paths[0].is_file()


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_pairs_file_groups_captions_by_image(tmp_path, suffix):
    rows = [("a.png", "one"), ("b.png", "two"), ("a.png", "three")]
    p = tmp_path / f"pairs{suffix}"
    if suffix == ".csv":
        p.write_text("image,caption\n" + "".join(f"{i},{c}\n" for i, c in rows))
    else:
        p.write_text("".join(json.dumps({"image": i, "caption": c}) + "\n" for i, c in rows))
    d = load_dataset("pairs", p)
    assert d.image_ids == ["a.png", "b.png"] and d.caption_image.tolist() == [0, 1, 0]
    assert d.image_paths[0] == tmp_path / "a.png"


@pytest.mark.parametrize(
    "content, message",
    [
        ("{bad json", "is not valid JSON"),
        ('{"images": [{"split": "test", "sentences": []}]}', "has no field 'filename'"),
        ('{"nothing": 1}', "the top level has no field 'images'"),
    ],
)
def test_malformed_karpathy_json(tmp_path, content, message):
    p = tmp_path / "dataset_coco.json"
    p.write_text(content)
    with pytest.raises(GapkitError, match=message):
        load_dataset("coco-karpathy", p, "test")


def test_bad_pairs_files(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text("img,text\nx,y\n")
    with pytest.raises(GapkitError, match="needs columns image and caption"):
        load_dataset("pairs", p)
    q = tmp_path / "p.jsonl"
    q.write_text('{"image": "a.png", "caption": "x"}\n{oops\n')
    with pytest.raises(GapkitError, match="line 2: not valid JSON"):
        load_dataset("pairs", q)
    with pytest.raises(GapkitError, match="Pairs file not found"):
        load_dataset("pairs", tmp_path / "absent.csv")


def test_unknown_dataset_suggests():
    with pytest.raises(UnknownNameError, match="Did you mean: coco-karpathy"):
        load_dataset("coco-karpaty")


def test_embedding_file_formats(tmp_path, rng):
    from safetensors.numpy import save_file

    img, txt = rng.standard_normal((2, 6, 4)).astype(np.float32)
    np.save(tmp_path / "both.npy", np.stack([img, txt]))
    np.save(tmp_path / "i.npy", img)
    np.save(tmp_path / "t.npy", txt)
    np.savez(tmp_path / "e.npz", image_emb=img, text_emb=txt, caption_image=np.arange(6))
    save_file({"image_emb": img, "text_emb": txt}, str(tmp_path / "e.safetensors"))
    for files in (["both.npy"], ["i.npy", "t.npy"], ["e.npz"], ["e.safetensors"]):
        f = load_embedding_files([tmp_path / n for n in files])
        assert np.array_equal(f.image_emb, img) and np.array_equal(f.text_emb, txt)
    np.save(tmp_path / "wrong.npy", img)
    with pytest.raises(GapkitError, match=r"must be \(2, n, d\)"):
        load_embedding_files([tmp_path / "wrong.npy"])
    np.savez(tmp_path / "k.npz", images=img)
    with pytest.raises(GapkitError, match="lacks image_emb, text_emb"):
        load_embedding_files([tmp_path / "k.npz"])
