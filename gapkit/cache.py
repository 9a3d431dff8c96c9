"""Content-addressed embedding cache: ``$GAPKIT_CACHE/embeddings/<k[:2]>/<k>/{emb.npy,meta.json}``.

An entry's key ``k`` is the sha256 of every input that changes the numbers except the image
files themselves: encoder identity and weights hash, preprocessing, data set fingerprint, split,
item ids or texts, text template, dtype, cache version, and for images the resolved image root
and how image files are identified (below).

Image files are keyed one row at a time. Each image has a *row key*: the sha256 of its resolved
path with its size, modification time (ns) and inode, or, with ``--verify-images``, of its
resolved path with the sha256 of its bytes. An image entry stores its rows' keys beside the array
(``rows.json``, checked against ``meta.json``). A request whose row keys all match is a hit; when
some differ (an image rewritten, two files swapped), only those rows are re-encoded, the others
are kept, and the entry is replaced. Another image root is another key, so nothing is shared
between roots. Stat-based keys miss an in-place rewrite that keeps the size and restores the
modification time; ``--verify-images`` reads and hashes every image to catch that too.

Entries are written atomically and verified on read (key fields, shape, dtype, a sha256 of the
array bytes, finiteness); a corrupt or mismatched entry is reported, deleted and rebuilt, never
used. The cache folder is checked before any work: an unusable ``$GAPKIT_CACHE`` (a file, or a
folder that does not exist and cannot be made) is a one-line error (``--no-cache`` skips the
cache). An existing folder gapkit cannot write (a shared, pre-filled cache mounted read-only) is
read: hits are served, and a request it cannot answer is a one-line error before any encoding.
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

from .errors import GapkitError
from .io import atomic_dir, check_output_dir

CACHE_VERSION = 2
log = logging.getLogger("gapkit.cache")


def cache_root() -> Path:
    return Path(os.environ.get("GAPKIT_CACHE") or "~/.cache/gapkit").expanduser()


def check_cache_root(root: Path | None = None, for_reading: bool = False) -> Path:
    """The cache folder, after checking that gapkit can write there (one-line error if not).

    With ``for_reading`` an existing folder that cannot be written is accepted: a shared, pre-filled
    cache (read-only on a cluster) is read, and a write is refused only when one is needed
    (``EmbeddingCache`` checks before computing what the cache lacks)."""
    root = Path(root) if root else cache_root()
    if for_reading and root.is_dir():
        return root
    env = root == cache_root()
    try:
        check_output_dir(root, "GAPKIT_CACHE" if env else "cache folder")
    except GapkitError as e:
        hint = " Point GAPKIT_CACHE at a writable folder, or pass --no-cache." if env else ""
        raise GapkitError(f"{e}{hint}") from None
    return root


def digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def items_digest(items: list[str]) -> str:
    h = hashlib.sha256()
    for it in items:
        h.update(it.encode())
        h.update(b"\x00")
    return h.hexdigest()


class EmbeddingCache:
    """Entries under ``root`` (default ``$GAPKIT_CACHE``). A folder gapkit cannot write is read:
    hits are served from it, and a miss is refused before anything is computed."""

    def __init__(self, root: Path | None = None, enabled: bool = True) -> None:
        self.enabled = enabled
        self.root = (
            check_cache_root(root, for_reading=True) if enabled else (Path(root) if root else cache_root())
        )
        self._writable = False  # proven by a write probe when a write is first needed

    def _write_problem(self) -> str | None:
        """None when gapkit can create files in the cache folder (a real probe, remembered once it
        succeeds), else why it cannot."""
        if not self._writable:
            try:
                check_cache_root(self.root)
            except GapkitError as e:
                return str(e)
            self._writable = True
        return None

    def _require_writable(self, fields: dict) -> None:
        """Called before computing what the cache lacks: a cache that cannot take the result is
        refused now, not after the work."""
        problem = self._write_problem() if self.enabled else None
        if problem:
            raise GapkitError(
                f"The cache does not hold the {fields.get('kind', '?')} embeddings this run needs "
                f"(entry {_short(fields)}) and cannot store them: {problem}"
            )

    def _dir(self, key: str) -> Path:
        return self.root / "embeddings" / key[:2] / key

    def _read(self, fields: dict, rows_sha: str | None, stale_ok: bool):
        """(array, meta) of the entry for ``fields``, or None (missing, or invalid and now removed).
        With ``stale_ok`` an entry whose rows differ is returned too (its rows can be reused)."""
        key = digest({**fields, "cache_version": CACHE_VERSION})
        d = self._dir(key)
        if not self.enabled or not d.exists():
            return None
        try:
            arr, meta = _verified(d, fields)
            if meta.get("rows_sha256") != rows_sha and not stale_ok:
                raise ValueError("rows differ from the request")
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("cache entry %s is invalid (%s): rebuilding it", key[:12], e)
            if self._write_problem() is None:  # a read-only cache is left as it is
                shutil.rmtree(d, ignore_errors=True)
            return None
        return arr, meta

    def load(self, fields: dict) -> np.ndarray | None:
        """The cached array for ``fields``, or None (missing, or invalid and now removed)."""
        got = self._read(fields, None, stale_ok=False)
        if got is None:
            return None
        log.info("cache hit: %s embeddings %s", fields.get("kind", "?"), _short(fields))
        return got[0]

    def store(self, fields: dict, arr: np.ndarray, rows: list[str] | None = None) -> Path | None:
        if not self.enabled:
            return None
        self._require_writable(fields)
        key = digest({**fields, "cache_version": CACHE_VERSION})
        d = self._dir(key)
        if d.exists():
            shutil.rmtree(d, ignore_errors=True)
        with atomic_dir(d) as tmp:
            np.save(tmp / "emb.npy", arr, allow_pickle=False)
            meta = {
                "fields": fields,
                "cache_version": CACHE_VERSION,
                "shape": list(arr.shape),
                "dtype": str(arr.dtype),
                "sha256": hashlib.sha256((tmp / "emb.npy").read_bytes()).hexdigest(),
                "rows_sha256": None if rows is None else items_digest(rows),
            }
            if rows is not None:
                (tmp / "rows.json").write_text(json.dumps(rows))
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        log.info("cache store: %s embeddings %s (%s)", fields.get("kind", "?"), key[:12], d)
        return d

    def get_or_compute(self, fields: dict, compute: Callable[[], np.ndarray]) -> np.ndarray:
        arr = self.load(fields)
        if arr is None:
            self._require_writable(fields)
            log.info("cache miss: computing %s embeddings", fields.get("kind", "?"))
            arr = compute()
            self.store(fields, arr)
        return arr

    def get_rows(
        self, fields: dict, rows: list[str], compute: Callable[[list[int]], np.ndarray]
    ) -> np.ndarray:
        """(n, D) array whose row i belongs to row key ``rows[i]``: rows the entry for ``fields``
        already holds under the same key are reused, ``compute(indices)`` encodes the others."""
        rows_sha = items_digest(rows)
        got = self._read(fields, rows_sha, stale_ok=True)
        if got is not None and got[1].get("rows_sha256") == rows_sha:
            log.info("cache hit: %s embeddings %s", fields.get("kind", "?"), _short(fields))
            return got[0]
        self._require_writable(fields)
        old = self._stored_rows(fields, got)
        todo = [i for i, r in enumerate(rows) if r not in old]
        if got is None:
            log.info("cache miss: computing %s embeddings", fields.get("kind", "?"))
        else:
            log.info(
                "cache: %d of %d %s rows changed; re-encoding only those",
                len(todo),
                len(rows),
                fields.get("kind", "?"),
            )
        fresh = compute(todo) if todo else None
        arr = _assemble(rows, old, got[0] if got else None, todo, fresh)
        self.store(fields, arr, rows)
        return arr

    def _stored_rows(self, fields: dict, got) -> dict[str, int]:
        """Row key -> row index of a stale entry (empty when there is none or it is unreadable)."""
        if got is None:
            return {}
        d = self._dir(digest({**fields, "cache_version": CACHE_VERSION}))
        try:
            raw = (d / "rows.json").read_text()
            keys = json.loads(raw)
            if items_digest(keys) != got[1]["rows_sha256"] or len(keys) != len(got[0]):
                raise ValueError("rows.json does not match meta.json")
        except (OSError, ValueError, TypeError) as e:
            log.warning("cache entry %s has unusable row keys (%s): re-encoding all rows", d.name[:12], e)
            return {}
        return {k: i for i, k in enumerate(keys)}


def _assemble(rows, old: dict[str, int], old_arr, todo: list[int], fresh) -> np.ndarray:
    """Reused rows from ``old_arr`` and freshly encoded rows ``fresh`` (for ``todo``), in order."""
    ref = fresh if fresh is not None else old_arr
    out = np.empty((len(rows), ref.shape[1]), ref.dtype)
    keep = [i for i, r in enumerate(rows) if r in old]
    if keep:
        out[keep] = old_arr[[old[rows[i]] for i in keep]]
    if todo:
        out[todo] = fresh
    return out


def _verified(d: Path, fields: dict) -> tuple[np.ndarray, dict]:
    meta = json.loads((d / "meta.json").read_text())
    if not isinstance(meta, dict):
        raise ValueError(f"meta.json holds {type(meta).__name__}, not an object")
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
    return arr, meta


def _short(fields: dict) -> str:
    return digest({**fields, "cache_version": CACHE_VERSION})[:12]
