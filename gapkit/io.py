"""Reading and writing files: atomic writes (output appears complete or not at all), output
destinations checked before any work starts, and YAML read with one-line errors."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .errors import GapkitError


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``target``; rename it to ``target`` on success,
    delete it on failure. ``target`` must not exist."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        try:
            os.replace(tmp, target)
        except OSError:
            if not target.is_dir():
                raise
            # Another process finished the same folder first (same inputs, same content): keep it.
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_file(target: Path, mode: str = "w") -> Iterator:
    """Open a temporary file beside ``target``; rename over ``target`` when the block ends."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get the usual mode
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_files(contents: dict[Path, str | bytes]) -> None:
    """Write several outputs all or none: every file is first written in full to a temporary file
    beside its target, and only when all of them are written are they renamed into place."""
    staged: list[tuple[str, Path]] = []
    try:
        for target, data in contents.items():
            target = Path(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            staged.append((tmp, target))
            os.chmod(tmp, 0o666 & ~_umask())
            with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as f:
                f.write(data)
        for tmp, target in staged:
            os.replace(tmp, target)
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _writable_ancestor(path: Path, what: str) -> Path:
    """The nearest existing folder at or above ``path``, after proving a file can be created in
    it (a real probe: permission bits say nothing for root, or on /proc and read-only mounts)."""
    anc = path
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise GapkitError(f"{what}: {anc} is a file, not a folder.")
    try:
        fd, probe = tempfile.mkstemp(prefix=".gapkit-probe.", dir=anc)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise GapkitError(f"{what}: cannot create files in {anc} ({e.strerror or e}).") from None
    return anc


def check_output_file(path: str | Path, flag: str) -> Path:
    """Fail now, before any work, if ``path`` cannot be written as an output file."""
    path = Path(path)
    what = f"{flag} {path}"
    if path.is_dir():
        raise GapkitError(f"{what}: is a folder; give a file name.")
    _writable_ancestor(path.parent, what)
    return path


def check_output_dir(path: str | Path, flag: str) -> Path:
    """Fail now if ``path`` cannot be (or be created as) a writable folder."""
    path = Path(path)
    what = f"{flag} {path}"
    if path.exists() and not path.is_dir():
        raise GapkitError(f"{what}: is a file, not a folder.")
    _writable_ancestor(path, what)
    return path


def read_yaml(path: str | Path, what: str):
    """Parse a YAML file; a syntax error is one line, ``file:line:column: problem``."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise GapkitError(f"{what} file not found: {path}")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise GapkitError(f"{path}:{yaml_error_location(e)} invalid YAML: {yaml_problem(e)}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise GapkitError(f"Cannot read {what} file {path}: {e}") from None


def yaml_error_location(e) -> str:
    mark = getattr(e, "problem_mark", None)
    return f"{mark.line + 1}:{mark.column + 1}:" if mark is not None else ""


def yaml_problem(e) -> str:
    problem = getattr(e, "problem", None)
    context = getattr(e, "context", None)
    text = ": ".join(p for p in (context, problem) if p) or str(e)
    return " ".join(text.split())  # PyYAML's messages span lines


def write_json(target: Path, obj, indent: int | None = 1) -> None:
    with atomic_file(target) as f:
        f.write(dumps_json(obj, indent))


def dumps_json(obj, indent: int | None = 1) -> str:
    """Strict JSON text (NaN and infinities become null: JSON has no spelling for them)."""
    return json.dumps(_finite(obj), indent=indent, default=_json_default, allow_nan=False) + "\n"


def _finite(obj):
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _finite(obj.tolist())
    return obj


def _json_default(o):
    if isinstance(o, np.integer):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def file_sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file's bytes, read in ``chunk``-byte blocks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
