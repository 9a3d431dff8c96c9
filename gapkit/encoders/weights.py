"""Finding weights on local disk (never downloading) and hashing them once.

Looked-for locations are collected so that a miss can name every place that was searched.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import GapkitError
from ..io import file_sha256


def hf_cache_dir() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def find_in_hf_cache(repo_id: str, filenames: list[str], looked: list[str]) -> Path | None:
    """First of ``filenames`` present in the local Hugging Face cache for ``repo_id``."""
    from huggingface_hub import try_to_load_from_cache

    for name in filenames:
        hit = try_to_load_from_cache(repo_id=repo_id, filename=name, cache_dir=hf_cache_dir())
        looked.append(f"{hf_cache_dir()}/models--{repo_id.replace('/', '--')}/snapshots/*/{name}")
        if isinstance(hit, str) and os.path.isfile(hit):
            return Path(hit)
    return None


def missing_weights(what: str, looked: list[str], hint: str) -> GapkitError:
    places = "; ".join(looked) if looked else "(nowhere)"
    return GapkitError(f"Weights for {what} are not on this machine: looked in {places}. {hint}")


def _hash_index() -> Path:
    from ..cache import cache_root

    return cache_root() / "file-hashes.json"


def cached_sha256(path: Path) -> str:
    """sha256 of a (large) weights file, memoised by (real path, size, mtime)."""
    path = Path(path).resolve()
    st = path.stat()
    key = f"{path}|{st.st_size}|{st.st_mtime_ns}"
    index = _hash_index()
    try:
        table = json.loads(index.read_text())
    except (OSError, ValueError):
        table = {}
    if key not in table:
        table[key] = file_sha256(path)
        from ..io import write_json

        try:
            write_json(index, table)
        except OSError:  # a read-only cache still works, just without memoising
            pass
    return table[key]
