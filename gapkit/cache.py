"""Content-addressed embedding cache: ``$GAPKIT_CACHE/embeddings/<k[:2]>/<k>/{emb.npy,meta.json}``.

The key is the sha256 of every input that changes the numbers (encoder identity and weights hash,
preprocessing, data set fingerprint, split, item ids or texts, text template, dtype, cache
version). Entries are written atomically and verified on read (key fields, shape, dtype and a
sha256 of the array bytes); a corrupt or mismatched entry is reported, deleted and rebuilt,
never used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .io import atomic_dir

CACHE_VERSION = 1
log = logging.getLogger("gapkit.cache")


def cache_root() -> Path:
    return Path(os.environ.get("GAPKIT_CACHE", "~/.cache/gapkit")).expanduser()


def digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def items_digest(items: list[str]) -> str:
    h = hashlib.sha256()
    for it in items:
        h.update(it.encode())
        h.update(b"\x00")
    return h.hexdigest()


class EmbeddingCache:
    def __init__(self, root: Path | None = None, enabled: bool = True) -> None:
        self.root = Path(root) if root else cache_root()
        self.enabled = enabled

    def _dir(self, key: str) -> Path:
        return self.root / "embeddings" / key[:2] / key

    def load(self, fields: dict) -> np.ndarray | None:
        """The cached array for ``fields``, or None (missing, or invalid and now removed)."""
        if not self.enabled:
            return None
        key = digest({**fields, "cache_version": CACHE_VERSION})
        d = self._dir(key)
        if not d.exists():
            return None
        try:
            arr = self._verified(d, fields)
        except (OSError, ValueError, KeyError) as e:
            log.warning("cache entry %s is invalid (%s): rebuilding it", key[:12], e)
            shutil.rmtree(d, ignore_errors=True)
            return None
        log.info("cache hit: %s embeddings %s (%s)", fields.get("kind", "?"), key[:12], d)
        return arr

    @staticmethod
    def _verified(d: Path, fields: dict) -> np.ndarray:
        meta = json.loads((d / "meta.json").read_text())
        if meta["fields"] != json.loads(json.dumps(fields)) or meta["cache_version"] != CACHE_VERSION:
            raise ValueError("key fields differ from the request")
        raw = (d / "emb.npy").read_bytes()
        if hashlib.sha256(raw).hexdigest() != meta["sha256"]:
            raise ValueError("checksum mismatch")
        arr = np.load(d / "emb.npy", allow_pickle=False)
        if list(arr.shape) != meta["shape"] or str(arr.dtype) != meta["dtype"]:
            raise ValueError(f"array is {arr.shape} {arr.dtype}, meta says {meta['shape']} {meta['dtype']}")
        if not np.isfinite(arr).all():
            raise ValueError("array holds NaN or Inf")
        return arr

    def store(self, fields: dict, arr: np.ndarray) -> Path | None:
        if not self.enabled:
            return None
        key = digest({**fields, "cache_version": CACHE_VERSION})
        d = self._dir(key)
        if d.exists():
            shutil.rmtree(d, ignore_errors=True)
        with atomic_dir(d) as tmp:
            np.save(tmp / "emb.npy", arr, allow_pickle=False)
            meta = {"fields": fields, "cache_version": CACHE_VERSION, "shape": list(arr.shape),
                    "dtype": str(arr.dtype),
                    "sha256": hashlib.sha256((tmp / "emb.npy").read_bytes()).hexdigest()}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        log.info("cache store: %s embeddings %s (%s)", fields.get("kind", "?"), key[:12], d)
        return d

    def get_or_compute(self, fields: dict, compute: Callable[[], np.ndarray]) -> np.ndarray:
        arr = self.load(fields)
        if arr is None:
            log.info("cache miss: computing %s embeddings", fields.get("kind", "?"))
            arr = compute()
            self.store(fields, arr)
        return arr
