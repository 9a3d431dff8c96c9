"""The embedded shapes world through the COCO Karpathy loader (one code path with real data)."""

from __future__ import annotations

from pathlib import Path

from ..worlds import check_world_manifest, ensure_shapes_world
from ..worlds.shapes.export import render_pending
from .base import DATASETS, PairedData
from .coco import check_karpathy_split, coco_karpathy


@DATASETS.register("shapes")
def shapes(path=None, split="test", image_root=None) -> PairedData:
    """The procedural shapes world (default: generated into the cache on first use)."""
    groups = tuple(check_karpathy_split("shapes", split))  # "train+restval" reads both splits' images
    folder = Path(path) if path else ensure_shapes_world(images=groups)
    render_pending(folder, groups)  # a cached world's folder given by path may lack this split's images
    manifest = check_world_manifest(folder)
    data = coco_karpathy(folder / manifest["files"]["karpathy"], split, image_root or folder)
    data.name = "shapes"
    data.extra["world"] = {k: manifest[k] for k in ("world", "version", "seed", "sizes")}
    return data
