"""Declarative ablation specs (``analyses/*.yaml``) and their expansion into grid cells.

A spec has a ``table`` kind (how results are rendered), a ``base`` CLOSE config shared by all
cells, the ``tasks`` (columns), and ``rows``: each row has a ``label``, ``set`` (config
overrides), an optional ``grid`` (key -> list of values: one row per value) and ``repeat``
(key -> list of values averaged into one row, e.g. three random directions). Every combination
with every task is one cell: an independent CLOSE run with its own result file."""

from __future__ import annotations

import copy
import functools
import itertools
import numbers
from dataclasses import dataclass, field
from pathlib import Path

from ..cache import digest
from ..close.config import CloseConfig
from ..errors import GapkitError
from ..io import read_yaml

SPEC_KEYS = {"name", "description", "table", "base", "tasks", "task_overrides", "rows", "reference"}
ROW_KEYS = {"label", "set", "grid", "repeat"}


@dataclass
class Cell:
    row: str  # row label, with the grid value when there is one
    task: str
    config: CloseConfig
    params: dict = field(default_factory=dict)  # grid + repeat values of this cell

    @property
    def key(self) -> str:
        """The cell's name on disk: its config and the weights behind its encoder name, so
        retrained weights under the same name (new gapkit-shapes weights) are new cells."""
        return digest({"config": self.config.to_dict(), "encoder_weights": encoder_fingerprint(self.config.encoder)})[:16]


@functools.cache
def encoder_fingerprint(spec: str) -> str:
    """sha256 of the weights an encoder spec resolves to (once per spec and process; built on the
    CPU, and the shapes encoder does not even build its model for this)."""
    from ..encoders import create_encoder

    return create_encoder(spec, device="cpu").weights_sha256


@dataclass
class Spec:
    name: str
    table: str
    tasks: list[str]
    rows: list[dict]
    base: dict
    path: Path
    description: str = ""
    task_overrides: dict = field(default_factory=dict)
    reference: dict = field(default_factory=dict)

    def cells(self) -> list[Cell]:
        out = []
        for row in self.rows:
            grid_key, grid_vals = _single(row.get("grid"), f"{self.path}: row {row['label']!r} grid")
            rep_key, rep_vals = _single(row.get("repeat"), f"{self.path}: row {row['label']!r} repeat")
            for g, r in itertools.product(grid_vals, rep_vals):
                label = row["label"] if grid_key is None else f"{row['label']}@{g}"
                for task in self.tasks:
                    conf = _merge(self.base, self.task_overrides.get(task, {}), {"task": task}, row.get("set", {}))
                    params = {}
                    if grid_key is not None:
                        _set_path(conf, grid_key, g)
                        params[grid_key] = g
                    if rep_key is not None:
                        _set_path(conf, rep_key, r)
                        params[rep_key] = r
                    out.append(Cell(label, task, _config(conf, self.path, row["label"]), params))
        return out


def _single(block, where: str):
    if not block:
        return None, [None]
    if not isinstance(block, dict) or len(block) != 1:
        raise GapkitError(f"{where} must map exactly one key to a list of values.")
    key, vals = next(iter(block.items()))
    if not isinstance(vals, list) or not vals:
        raise GapkitError(f"{where}: {key!r} must be a non-empty list.")
    return key, vals


def _merge(*dicts) -> dict:
    out: dict = {}
    for d in dicts:
        for k, v in (d or {}).items():
            if isinstance(v, dict) and isinstance(out.get(k), dict):
                out[k] = _merge(out[k], v)
            else:
                out[k] = copy.deepcopy(v)
    return out


def _set_path(conf: dict, dotted: str, value) -> None:
    node = conf
    parts = dotted.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value


def _config(conf: dict, path: Path, label: str) -> CloseConfig:
    where = f"{path} (row {label!r})"
    try:
        return CloseConfig.from_dict(conf, where)
    except TypeError as e:
        raise GapkitError(f"{where}: {e}") from None
    except GapkitError as e:
        if str(e).startswith(where):
            raise
        raise GapkitError(f"{where}: {e}") from None


def _check_numbers(spec_path: Path, row: dict) -> None:
    for block in ("grid", "repeat"):
        for key, vals in (row.get(block) or {}).items():
            if key.endswith(("magnitude", "noise", "noise_norm", "scale")) and not all(
                    isinstance(v, numbers.Real) and not isinstance(v, bool) for v in vals):
                raise GapkitError(f"{spec_path}: row {row.get('label')!r} {block}.{key} must be numbers, got {vals}.")


def load_spec(path: str | Path) -> Spec:
    """Parse and fully validate a spec (every cell's config) before anything runs."""
    from .tables import TABLES

    path = Path(path)
    if not path.is_file():
        raise GapkitError(f"Spec file not found: {path}")
    raw = read_yaml(path, "spec")
    if not isinstance(raw, dict):
        raise GapkitError(f"{path} must be a mapping with keys {', '.join(sorted(SPEC_KEYS))}.")
    unknown = sorted(set(raw) - SPEC_KEYS)
    if unknown:
        raise GapkitError(f"{path}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(SPEC_KEYS))}.")
    if raw.get("table") not in TABLES:
        raise GapkitError(f"{path}: {TABLES.unknown_message(str(raw.get('table')))}")
    if not raw.get("tasks") or not raw.get("rows"):
        raise GapkitError(f"{path}: empty grid; 'tasks' and 'rows' must be non-empty lists.")
    for row in raw["rows"]:
        if not isinstance(row, dict) or "label" not in row:
            raise GapkitError(f"{path}: every row needs a 'label'.")
        bad = sorted(set(row) - ROW_KEYS)
        if bad:
            raise GapkitError(f"{path}: row {row['label']!r} has unknown key {bad[0]!r}; allowed: "
                              f"{', '.join(sorted(ROW_KEYS))}.")
        _check_numbers(path, row)
    spec = Spec(name=raw.get("name", path.stem), table=raw["table"], tasks=list(raw["tasks"]), rows=raw["rows"],
                base=raw.get("base", {}), path=path, description=raw.get("description", ""),
                task_overrides=raw.get("task_overrides", {}), reference=raw.get("reference", {}))
    spec.cells()  # validates every cell's config now, before any run starts
    return spec

