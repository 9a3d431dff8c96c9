"""Where CLOSE's data files are: an exported world's manifest, or a real data root with the
official file names. Both give the same ``DataSource``: ``file(kind, split)`` and
``image_path(kind, id)``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..cache import digest
from ..errors import GapkitError

# Official names, relative to the data root, for real COCO / SNLI-VE / VQA v2 / VQA-E downloads.
REAL_FILES = {
    "karpathy": "coco/dataset_coco.json",
    "snli_ve_train": "SNLI_VE/snli_ve_train.jsonl",
    "snli_ve_val": "SNLI_VE/snli_ve_dev.jsonl",
    "snli_ve_test": "SNLI_VE/snli_ve_test.jsonl",
    "coco_captions_train": "coco/annotations/captions_train2014.json",
    "coco_captions_val": "coco/annotations/captions_val2014.json",
    "vqa_questions_train": "vqa/v2_OpenEnded_mscoco_train2014_questions.json",
    "vqa_annotations_train": "vqa/v2_mscoco_train2014_annotations.json",
    "vqa_questions_val": "vqa/v2_OpenEnded_mscoco_val2014_questions.json",
    "vqa_annotations_val": "vqa/v2_mscoco_val2014_annotations.json",
    "vqa_e_train": "vqa-e/VQA-E_train_set.json",
    "vqa_e_val": "vqa-e/VQA-E_val_set.json",
    "styles": "styles.json",
}
REAL_PATTERNS = {
    "karpathy": "coco/{filepath}/{filename}",
    "snli_ve": "SNLI_VE/Flickr30K/flickr30k_images/{id}.jpg",
    "vqa": "coco/{subset}2014/COCO_{subset}2014_{image_id:012d}.jpg",
    "vqa_e": "coco/{subset}2014/COCO_{subset}2014_{image_id:012d}.jpg",
}
SPLIT_FILE_KINDS = ("snli_ve_", "coco_captions_", "vqa_questions_", "vqa_annotations_", "vqa_e_")
# The fields each image-path pattern is filled with (example values, used to check a pattern).
PATTERN_FIELDS = {
    "karpathy": {"filepath": "val2014", "filename": "COCO_val2014_000000000042.jpg"},
    "snli_ve": {"id": "1000092795"},
    "vqa": {"image_id": 42, "subset": "val"},
    "vqa_e": {"image_id": 42, "subset": "val"},
}


def check_data_overrides(files, patterns, data_root: str | None, where: str = "config") -> None:
    """data_files / data_patterns: only with data_root; known keys (with a suggestion); file names
    that are strings; patterns that format with their kind's fields."""
    from .._options import check_keys, check_mapping, check_value

    # A file key is a kind ("karpathy", "styles") or KIND_SPLIT for any split name ("vqa_questions_test").
    check_keys(
        {
            k: v
            for k, v in check_mapping(files, f"{where}: data_files").items()
            if not k.startswith(SPLIT_FILE_KINDS) or k in SPLIT_FILE_KINDS
        },
        REAL_FILES,
        f"{where}: data_files",
        "real data",
    )
    check_keys(
        check_mapping(patterns, f"{where}: data_patterns"),
        REAL_PATTERNS,
        f"{where}: data_patterns",
        "real data",
    )
    for name, given in (("data_files", files), ("data_patterns", patterns)):
        if given and not data_root:
            raise GapkitError(
                f"{where}: {name} applies to real data; set data_root too (a world folder and "
                "the embedded world use their own manifest)."
            )
        for key, value in given.items():
            check_value(value, str, None, f"{where}: {name}.{key}")
    for kind, pattern in patterns.items():
        try:
            pattern.format(**PATTERN_FIELDS[kind])
        except (KeyError, IndexError, ValueError) as e:
            raise GapkitError(
                f"{where}: data_patterns.{kind} = {pattern!r} does not format ({type(e).__name__}: "
                f"{e}); its fields: {', '.join(PATTERN_FIELDS[kind])}."
            ) from None


@dataclass
class DataSource:
    root: Path
    files: dict[str, str]
    patterns: dict[str, str]
    identity: dict = field(default_factory=dict)

    @classmethod
    def shapes_world(cls, folder: str | Path | None = None, seed: int = 0) -> DataSource:
        """An exported world folder, else the embedded world of ``seed`` (generated into the cache)."""
        from ..worlds import check_world_manifest, ensure_shapes_world
        from ..worlds.shapes.export import render_pending

        folder = Path(folder) if folder else ensure_shapes_world(seed)
        m = check_world_manifest(folder)
        render_pending(folder)  # a cached world's folder given by path may lack some images
        patterns = {"karpathy": "{filepath}/{filename}", **m["patterns"]}
        ident = {"world": m["world"], "version": m["version"], "seed": m["seed"], "sizes": m["sizes"]}
        return cls(folder, dict(m["files"]), patterns, ident)

    @classmethod
    def real(cls, root: str | Path, files: dict | None = None, patterns: dict | None = None) -> DataSource:
        root = Path(root)
        if not root.is_dir():
            raise GapkitError(f"Data root not found: {root}")
        files = {**REAL_FILES, **(files or {})}
        return cls(
            root, files, {**REAL_PATTERNS, **(patterns or {})}, {"root": str(root.resolve()), "files": files}
        )

    def file(self, kind: str, split: str | None = None) -> Path:
        key = f"{kind}_{split}" if split else kind
        if key not in self.files:
            known = ", ".join(sorted(self.files))
            raise GapkitError(f"No {kind} file for split {split!r} in {self.root}; known files: {known}.")
        path = self.root / self.files[key]
        if not path.is_file():
            raise GapkitError(f"Data file not found: {path}")
        return path

    def image_path(self, kind: str, **fields) -> Path:
        return self.root / self.patterns[kind].format(**fields)

    def fingerprint(self) -> str:
        return digest(self.identity)[:16]
