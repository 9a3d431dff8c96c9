"""Sharded precomputed embeddings: a folder, a glob or a list of ``.npy`` shards, paired up,
checked, and read one shard at a time (memory-mapped; nothing is loaded whole).

Two layouts:

* clip-retrieval's (LAION and the like): ``DIR/img_emb/img_emb_0000.npy`` ... and
  ``DIR/text_emb/text_emb_0000.npy`` ..., (n_k, d) each, paired by number; a ``DIR/metadata/``
  folder of ``metadata_0000.parquet`` ..., when present, must hold one file per shard number;
* pair shards: ``(2, n_k, d)`` ``.npy`` files ([0] images, [1] texts), in name order. One such
  file, or an image file and a text file, is the one-shard case.

Shard numbers (the digits ending a file name) must run without gaps, image and text shards must
pair up with equal row counts, and every shard must have the same d. Each error names the shard.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import GapkitError
from .embeddings import _npy

NUMBER = re.compile(r"(\d+)$")
ROLES = {"img_emb": 0, "text_emb": 1}  # clip-retrieval's file prefixes: modality


@dataclass(frozen=True)
class Shard:
    """Pairs [start, stop) of the whole set: rows of ``image`` (and ``text``, or [1] of a pair file).
    ``label`` names the image file in errors, ``text_label`` the text file (None: the same file)."""

    label: str
    image: str
    text: str | None
    start: int
    stop: int
    text_label: str | None = None

    def open(self) -> tuple[np.ndarray, np.ndarray]:
        """(image rows, text rows) of this shard, memory-mapped, (stop - start, d) each (fewer
        than the file holds when ``--limit`` cut the shard short)."""
        n = self.stop - self.start
        if self.text is None:
            a = np.load(self.image, mmap_mode="r")
            return a[0, :n], a[1, :n]
        return np.load(self.image, mmap_mode="r")[:n], np.load(self.text, mmap_mode="r")[:n]


class StackedRows:
    """One modality across all shards as a read-only (n, d) array for random access: a slice or
    integer index array reads its rows from the shards that hold them. For samples and small
    inputs; passes read shard by shard (``Shard.open``)."""

    ndim = 2

    def __init__(self, shards: list[Shard], which: int, d: int, dtype) -> None:
        self.shards, self.which, self.dtype = shards, which, np.dtype(dtype)
        self.starts = np.array([s.start for s in shards] + [shards[-1].stop])
        self.shape = (int(self.starts[-1]), d)
        self._open: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.shape[0]

    def _rows(self, k: int) -> np.ndarray:
        if k not in self._open:
            self._open[k] = self.shards[k].open()[self.which]
        return self._open[k]

    def __getitem__(self, idx) -> np.ndarray:
        if isinstance(idx, slice):
            idx = np.arange(*idx.indices(len(self)))
        idx = np.asarray(idx)
        if idx.ndim == 0:
            return self[idx[None]][0]
        if len(idx) and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexError(f"row index out of range for {len(self)} rows")
        idx = np.where(idx < 0, idx + len(self), idx)
        out = np.empty((len(idx), self.shape[1]), self.dtype)
        shard = np.searchsorted(self.starts, idx, side="right") - 1
        for k in np.unique(shard):
            sel = np.flatnonzero(shard == k)
            out[sel] = self._rows(int(k))[idx[sel] - self.starts[k]]
        return out


@dataclass
class ShardSet:
    """Paired shards, checked; ``image_emb`` / ``text_emb`` give random access across them."""

    shards: list[Shard]
    d: int
    dtype: np.dtype
    layout: str
    inputs: list[str]

    @property
    def n(self) -> int:
        return self.shards[-1].stop

    @property
    def image_emb(self) -> StackedRows:
        return StackedRows(self.shards, 0, self.d, self.dtype)

    @property
    def text_emb(self) -> StackedRows:
        return StackedRows(self.shards, 1, self.d, self.dtype)

    def first(self, n: int) -> ShardSet:
        """The first ``n`` pairs (``--limit``): whole shards, then part of one."""
        kept = [s for s in self.shards if s.start < n]
        kept[-1] = dataclasses.replace(kept[-1], stop=min(kept[-1].stop, n))
        return ShardSet(kept, self.d, self.dtype, self.layout, self.inputs)

    def source(self) -> dict:
        """Provenance: what was read. Shard contents are not hashed (that would be another read
        of every byte); the listing (names, sizes, modification times) is."""
        files = [p for s in self.shards for p in (s.image, s.text) if p]
        listing = "\n".join(
            f"{Path(p).name} {Path(p).stat().st_size} {Path(p).stat().st_mtime_ns}" for p in files
        )
        return {
            "embeddings": self.inputs,
            "layout": self.layout,
            "shards": len(self.shards),
            "first_shard": self.shards[0].label,
            "last_shard": self.shards[-1].label,
            "bytes": sum(Path(p).stat().st_size for p in files),
            "listing_sha256": hashlib.sha256(listing.encode()).hexdigest(),
        }


def is_sharded(paths: list[str]) -> bool:
    """Whether ``--embeddings`` names .npy shards (a folder, a glob, one or more .npy files)
    rather than .npz / .safetensors."""
    return all(Path(p).is_dir() or _has_glob(p) or p.lower().endswith(".npy") for p in paths)


def _has_glob(p: str) -> bool:
    return any(ch in p for ch in "*?[")


def load_shards(paths: list[str]) -> ShardSet:
    """Find, pair and check the shards named by ``paths`` (folders, globs or .npy files)."""
    files = _expand(paths)
    if len(paths) == 2 and len(files) == 2 and all(_ndim(f) == 2 for f in files):
        entry = (Path(files[0]).name, files[0], files[1], Path(files[1]).name)
        return _check([entry], "image and text files", paths)
    roles = {f: _role(f) for f in files}
    if all(r is None for r in roles.values()):
        return _check([(Path(f).name, f, None) for f in _in_order(files)], "pair shards (2, n, d)", paths)
    if any(r is None for r in roles.values()):
        odd = next(f for f, r in roles.items() if r is None)
        raise GapkitError(
            f"{odd} is neither an img_emb_N.npy nor a text_emb_N.npy shard, but others are; "
            "pass one layout at a time."
        )
    return _check(_clip_retrieval_pairs(files, roles), "clip-retrieval img_emb/text_emb", paths)


def _expand(paths: list[str]) -> list[str]:
    """Folders -> their shards (img_emb/ + text_emb/ when present, else *.npy), globs -> matches."""
    files: list[str] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = _folder_shards(path)
            if not found:
                raise GapkitError(
                    f"{p} holds no .npy embedding shards (neither img_emb/ + text_emb/ nor *.npy)."
                )
            files += found
        elif _has_glob(p):
            matches = sorted(glob.glob(p))
            if not matches:
                raise GapkitError(f"No embedding shards match {p}.")
            files += matches
        elif not path.is_file():
            raise GapkitError(f"Embedding file not found: {p}")
        else:
            files.append(p)
    return files


def _folder_shards(path: Path) -> list[str]:
    sub = [path / "img_emb", path / "text_emb"]
    if not all(d.is_dir() for d in sub):
        return sorted(glob.glob(str(path / "*.npy")))
    files = sorted(glob.glob(str(sub[0] / "*.npy"))) + sorted(glob.glob(str(sub[1] / "*.npy")))
    _check_metadata(path, files)
    return files


def _role(f: str) -> int | None:
    stem = Path(f).stem
    return next((r for prefix, r in ROLES.items() if stem.startswith(prefix + "_")), None)


def _number(f: str) -> int | None:
    m = NUMBER.search(Path(f).stem)
    return int(m.group(1)) if m else None


def _in_order(files: list[str]) -> list[str]:
    """Pair shards sorted by their number (by name when they have none); numbers without gaps."""
    nums = [_number(f) for f in files]
    if any(n is None for n in nums):
        return sorted(files)
    files = [f for _, f in sorted(zip(nums, files))]
    _no_gaps(sorted(nums), lambda n: f"shard {n}", files)
    return files


def _no_gaps(nums: list[int], name, files: list[str]) -> None:
    if len(set(nums)) != len(nums):
        dup = next(n for n in nums if nums.count(n) > 1)
        raise GapkitError(
            f"Two shards are numbered {dup}: {', '.join(f for f in files if _number(f) == dup)}."
        )
    for a, b in zip(nums, nums[1:]):
        if b != a + 1:
            raise GapkitError(f"{name(a + 1)} is missing: shard numbers jump from {a} to {b}.")


def _clip_retrieval_pairs(files: list[str], roles: dict) -> list[tuple]:
    """(label, image file, text file, text label) per shard number, in order; every number in both
    folders. A label is ``img_emb/img_emb_0002.npy``: errors name the file that holds the row."""
    by_role: list[dict[int, str]] = [{}, {}]
    for f in files:
        n = _number(f)
        if n in by_role[roles[f]]:
            raise GapkitError(
                f"Two {['img_emb', 'text_emb'][roles[f]]} shards are numbered {n}: "
                f"{by_role[roles[f]][n]} and {f}."
            )
        by_role[roles[f]][n] = f
    img, txt = by_role
    for n in sorted(set(img) ^ set(txt)):
        have, lacks = (img, "text_emb") if n in img else (txt, "img_emb")
        raise GapkitError(f"{have[n]} has no matching {lacks} shard ({lacks}_{n:04d}.npy is missing).")
    nums = sorted(img)
    _no_gaps(nums, lambda n: f"Shard {n:04d} (img_emb_{n:04d}.npy and text_emb_{n:04d}.npy)", files)
    label = lambda f: f"{Path(f).parent.name}/{Path(f).name}"
    return [(label(img[n]), img[n], txt[n], label(txt[n])) for n in nums]


def _check_metadata(folder: Path, files: list[str]) -> None:
    """clip-retrieval's metadata/ folder, when present: one metadata_N.parquet per shard number."""
    meta = folder / "metadata"
    if not meta.is_dir():
        return
    have = {_number(f) for f in glob.glob(str(meta / "*.parquet"))}
    for f in files:
        n = _number(f)
        if _role(f) == 0 and n not in have:
            raise GapkitError(
                f"{meta / f'metadata_{n:04d}.parquet'} is missing (shard {Path(f).name} has no metadata)."
            )


def _ndim(f: str) -> int:
    return _npy(Path(f)).ndim


def _check(entries: list[tuple], layout: str, inputs: list[str]) -> ShardSet:
    """Open each shard's header; rows pair up, one d and one dtype kind; offsets in order."""
    shards, start, d, dtype = [], 0, None, None
    for label, image, text, *text_label in entries:
        rows, shard_d, kind = _shard_shape(label, image, text)
        if d is not None and shard_d != d:
            raise GapkitError(f"{label} has d={shard_d}, the shards before it d={d}.")
        d, dtype = shard_d, np.result_type(dtype, kind) if dtype is not None else kind
        shards.append(Shard(label, image, text, start, start + rows, *text_label))
        start += rows
    return ShardSet(shards, d, dtype, layout, [str(p) for p in inputs])


def _shard_shape(label: str, image: str, text: str | None) -> tuple[int, int, np.dtype]:
    a = _npy(Path(image))
    if text is None:
        if a.ndim != 3 or a.shape[0] != 2:
            raise GapkitError(
                f"{image} has shape {a.shape}; a .npy of pairs must be (2, n, d): "
                "[0] image embeddings, [1] text embeddings."
            )
        return a.shape[1], a.shape[2], a.dtype
    b = _npy(Path(text))
    for f, arr in ((image, a), (text, b)):
        if arr.ndim != 2:
            raise GapkitError(f"{f} has shape {arr.shape}; an img_emb / text_emb shard must be (n, d).")
    if a.shape[0] != b.shape[0]:
        raise GapkitError(
            f"{image} has {a.shape[0]} rows but {text} has {b.shape[0]}; shard pairs must match row for row."
        )
    if a.shape[1] != b.shape[1]:
        raise GapkitError(f"{image} has d={a.shape[1]} but {text} has d={b.shape[1]}.")
    return a.shape[0], a.shape[1], np.result_type(a.dtype, b.dtype)
