"""COCO Karpathy (``dataset_coco.json``), Flickr30k Karpathy (``dataset_flickr30k.json``) and COCO
captions (``captions_{train,val}{2014,2017}.json``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import GapkitError
from ..io import file_sha256
from ._json import read_json, require, require_list, require_str
from .base import DATASETS, PairedData

KARPATHY_SPLITS = ("train", "restval", "val", "test")


def karpathy_images(path: Path, splits: list[str]):
    """(image id, filepath, filename, captions stripped) of each image of a Karpathy json in
    ``splits``, in file order; every field checked, with its location in any error."""
    data = read_json(path, "Karpathy split")
    for k, img in enumerate(require_list(data, "images", "the top level", path)):
        if require(img, "split", f"images[{k}]", path) not in splits:
            continue
        caps = [
            require_str(s, "raw", f"images[{k}].sentences[{j}]", path).strip()
            for j, s in enumerate(require_list(img, "sentences", f"images[{k}]", path))
        ]
        filename = require_str(img, "filename", f"images[{k}]", path)
        yield str(img.get("cocoid", img.get("imgid", k))), img.get("filepath") or "", filename, caps


def check_karpathy_split(name: str, split: str) -> list[str]:
    """The splits of ``split`` ("train+restval" as in the Karpathy convention); an unknown one is
    an error naming the data set ``name`` and its splits."""
    splits = split.split("+")
    bad = [s for s in splits if s not in KARPATHY_SPLITS]
    if bad:
        raise GapkitError(f"Unknown split {bad[0]!r} for {name}; known: {', '.join(KARPATHY_SPLITS)}.")
    return splits


def _karpathy(name: str, path, split: str, image_root, default_dir: str) -> PairedData:
    if path is None:
        raise GapkitError(f"Data set {name!r} needs --data-path (the Karpathy json file).")
    path = Path(path)
    splits = check_karpathy_split(name, split)
    root = Path(image_root) if image_root else path.parent
    ids, paths, caps, owner = [], [], [], []
    for image_id, filepath, filename, image_caps in karpathy_images(path, splits):
        caps += image_caps
        owner += [len(ids)] * len(image_caps)
        ids.append(image_id)
        paths.append(root / (filepath or default_dir) / filename)
    if not ids:
        raise GapkitError(f"{path} has no images in split {split!r}.")
    return PairedData(
        name, split, ids, paths, caps, np.asarray(owner, np.int64), file_sha256(path), image_root=root
    )


@DATASETS.register("coco-karpathy")
def coco_karpathy(path=None, split="test", image_root=None) -> PairedData:
    """COCO Karpathy split (dataset_coco.json; images under IMAGE_ROOT/filepath/filename)."""
    return _karpathy("coco-karpathy", path, split, image_root, default_dir="")


@DATASETS.register("flickr30k-karpathy")
def flickr30k_karpathy(path=None, split="test", image_root=None) -> PairedData:
    """Flickr30k Karpathy split (dataset_flickr30k.json; images under IMAGE_ROOT/filename)."""
    return _karpathy("flickr30k-karpathy", path, split, image_root, default_dir="")


@DATASETS.register("coco-captions")
def coco_captions(path=None, split="val", image_root=None) -> PairedData:
    """Official COCO captions json (captions_val2017.json etc.); ``split`` is only a label."""
    if path is None:
        raise GapkitError("Data set 'coco-captions' needs --data-path (a captions_*.json file).")
    path = Path(path)
    data = read_json(path, "COCO captions")
    root = Path(image_root) if image_root else path.parent
    index, ids, paths = {}, [], []
    for k, img in enumerate(require_list(data, "images", "the top level", path)):
        index[require(img, "id", f"images[{k}]", path)] = len(ids)
        ids.append(str(img["id"]))
        paths.append(root / require_str(img, "file_name", f"images[{k}]", path))
    caps, owner = [], []
    for k, ann in enumerate(require_list(data, "annotations", "the top level", path)):
        image_id = require(ann, "image_id", f"annotations[{k}]", path)
        if image_id not in index:
            raise GapkitError(f"Malformed {path}: annotations[{k}] refers to unknown image_id {image_id}.")
        caps.append(require_str(ann, "caption", f"annotations[{k}]", path).strip())
        owner.append(index[image_id])
    # Keep images in id order with their captions grouped (annotation order is arbitrary).
    return PairedData(
        "coco-captions",
        split,
        ids,
        paths,
        caps,
        np.asarray(owner, np.int64),
        file_sha256(path),
        image_root=root,
    )
