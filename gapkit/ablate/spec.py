"""Declarative ablation specs (``analyses/*.yaml``) and their expansion into grid cells.

A spec has a ``table`` kind (how results are rendered), a ``base`` CLOSE config shared by all
cells, the ``tasks`` (columns), and ``rows``: each row has a ``label``, ``set`` (config
overrides), an optional ``grid`` (key -> list of values: one row per value; a list even for one
value, ``[0.04]``: a bare value is an error, not a one-value grid) and ``repeat``
(key -> list of values averaged into one row, e.g. three random directions). Every combination
with every task is one cell: an independent CLOSE run with its own result file.

The protocol keys: ``seeds`` (training seeds, each a run of every cell, averaged with a 95%
interval; ``repeats: N`` is seeds 0..N-1) and ``items`` (evaluation items per run, the same items
for every seed). A row with a ``repeat`` pairs its k-th value with the k-th seed (the RNG rows:
3 directions, each its own seed), so it needs as many values as there are seeds. Optional:
``signatures`` (checks rendered as a signatures table, see ``signatures.py``), ``figure``
(which ablation figure to draw; default: the table's kind) and ``weights_sha256``: the encoder
weights an archived spec's results were made with (its cells are keyed by them; while the encoder
name resolves to other weights the spec can be rendered, not run).

An images model (``train_on: image``) of a task with an ``image_task`` is that task's model:
multi-caption's images cells are the single-caption ones (one run, used for both columns)."""

from __future__ import annotations

import copy
import dataclasses
import functools
import numbers
from dataclasses import dataclass, field
from pathlib import Path

from ..cache import digest
from ..close.config import CloseConfig
from ..errors import GapkitError
from ..io import read_yaml
from .signatures import parse_checks

SPEC_KEYS = {
    "name",
    "description",
    "table",
    "base",
    "tasks",
    "task_overrides",
    "rows",
    "reference",
    "seeds",
    "repeats",
    "items",
    "signatures",
    "figure",
    "weights_sha256",
}
ROW_KEYS = {"label", "set", "grid", "repeat"}


@dataclass
class Cell:
    row: str  # row label, with the grid value when there is one
    task: str
    config: CloseConfig
    params: dict = field(default_factory=dict)  # grid + repeat values of this cell
    weights: str | None = None  # the spec's pinned encoder weights (sha256), None: what the name resolves to

    @property
    def key(self) -> str:
        """The cell's name on disk: its config and the weights behind its encoder name, so
        retrained weights under the same name (new gapkit-shapes weights) are new cells."""
        return cell_key(self.config.to_dict(), self.weights or encoder_fingerprint(self.config.encoder))


def cell_key(config: dict, encoder_weights: str) -> str:
    """The key of a cell with this config (``CloseConfig.to_dict()``) run with encoder weights of
    this sha256; also how a converted v1 result file is matched to its cell (``legacy``)."""
    from ..close.config import without_added_defaults

    return digest({"config": without_added_defaults(config), "encoder_weights": encoder_weights})[:16]


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
    seeds: list[int] | None = None  # None: one run per cell, with the base config's seed
    items: int | None = None
    signatures: list = field(default_factory=list)  # signatures.Check
    figure: str | None = None
    weights_sha256: str | None = None

    def stale_weights(self) -> str | None:
        """Why this spec cannot be run (its pinned weights are not what its encoder resolves to), or None."""
        if self.weights_sha256 is None:
            return None
        encoder = self.cells()[0].config.encoder
        resolved = encoder_fingerprint(encoder)
        if resolved == self.weights_sha256:
            return None
        return (
            f"{self.path} describes results made with encoder weights {self.weights_sha256[:12]}..., but "
            f"{encoder!r} now resolves to {resolved[:12]}...; it can be rendered (--render-only), not run."
        )

    def _runs(self, rep_key, rep_vals: list, label: str) -> list[tuple]:
        """(repeat value, seed) of each run of a row: repeats x base seed, seeds alone, or zipped."""
        if self.seeds is None:
            return [(r, None) for r in rep_vals]
        if rep_key is None:
            return [(None, s) for s in self.seeds]
        if len(rep_vals) != len(self.seeds):
            raise GapkitError(
                f"{self.path}: row {label!r} repeats {rep_key} over {len(rep_vals)} values but the spec "
                f"has {len(self.seeds)} seeds; each repeat is one run with its own seed, so give "
                f"{len(self.seeds)} values."
            )
        return list(zip(rep_vals, self.seeds))

    def cells(self) -> list[Cell]:
        out = []
        for row in self.rows:
            grid_key, grid_vals = _single(row.get("grid"), f"{self.path}: row {row['label']!r} grid")
            rep_key, rep_vals = _single(row.get("repeat"), f"{self.path}: row {row['label']!r} repeat")
            for g in grid_vals:
                label = row["label"] if grid_key is None else f"{row['label']}@{g}"
                for r, seed in self._runs(rep_key, rep_vals, row["label"]):
                    out += [
                        self._cell(row, label, task, (grid_key, g), (rep_key, r), seed) for task in self.tasks
                    ]
        return out

    def _cell(self, row: dict, label: str, task: str, grid: tuple, rep: tuple, seed: int | None) -> Cell:
        conf = _merge(self.base, self.task_overrides.get(task, {}), {"task": task}, row.get("set", {}))
        params = {}
        for key, value in (grid, rep, ("seed", seed)):
            if key is not None and (key != "seed" or value is not None):
                _set_path(conf, key, value)
                params[key] = value
        return Cell(
            label, task, _image_model(_config(conf, self.path, row["label"])), params, self.weights_sha256
        )


def _image_model(cfg: CloseConfig) -> CloseConfig:
    """An images model of a task with an ``image_task`` is that task's run (same config, same key)."""
    from ..close.tasks import TASKS

    image_task = TASKS.get(cfg.task).image_task if cfg.train_on == "image" else None
    return dataclasses.replace(cfg, task=image_task) if image_task else cfg


def _single(block, where: str):
    """(key, values) of a row's ``grid`` or ``repeat``: one config key mapped to a non-empty list
    (a single value is written as a one-value list, ``[0.04]``)."""
    if not block:
        return None, [None]
    if not isinstance(block, dict) or len(block) != 1:
        raise GapkitError(f"{where} must map exactly one key to a list of values, got {block!r}.")
    key, vals = next(iter(block.items()))
    if not isinstance(key, str):
        raise GapkitError(f"{where}: the key must be a config key (a string), got {key!r}.")
    if not isinstance(vals, list) or not vals:
        hint = (
            f" (for one value write {key}: [{vals}])"
            if vals is not None and not isinstance(vals, list)
            else ""
        )
        raise GapkitError(f"{where}: {key!r} must be a non-empty list of values, got {vals!r}{hint}.")
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
        key, vals = _single(row.get(block), f"{spec_path}: row {row.get('label')!r} {block}")
        if (
            key is not None
            and key.endswith(("magnitude", "noise", "noise_norm", "scale"))
            and not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in vals)
        ):
            raise GapkitError(
                f"{spec_path}: row {row.get('label')!r} {block}.{key} must be numbers, got {vals}."
            )


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
            raise GapkitError(
                f"{path}: row {row['label']!r} has unknown key {bad[0]!r}; allowed: "
                f"{', '.join(sorted(ROW_KEYS))}."
            )
        _check_numbers(path, row)
    base = dict(raw.get("base") or {})
    items = _protocol_items(path, raw, base)
    if items is not None:
        base["max_eval_examples"] = items
    spec = Spec(
        name=raw.get("name", path.stem),
        table=raw["table"],
        tasks=list(raw["tasks"]),
        rows=raw["rows"],
        base=base,
        path=path,
        description=raw.get("description", ""),
        task_overrides=raw.get("task_overrides", {}),
        reference=raw.get("reference", {}),
        seeds=_protocol_seeds(path, raw),
        items=items,
        figure=_figure_name(path, raw),
        weights_sha256=_weights_pin(path, raw),
    )
    spec.cells()  # validates every cell's config now, before any run starts
    spec.signatures = parse_checks(raw.get("signatures"), spec)
    return spec


def _weights_pin(path: Path, raw: dict) -> str | None:
    pin = raw.get("weights_sha256")
    if pin is not None and not (
        isinstance(pin, str) and len(pin) == 64 and all(c in "0123456789abcdef" for c in pin)
    ):
        raise GapkitError(f"{path}: weights_sha256 must be 64 lowercase hex digits, got {pin!r}.")
    return pin


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _protocol_seeds(path: Path, raw: dict) -> list[int] | None:
    """``seeds: [0, 1, 2]`` or ``repeats: 3`` (seeds 0, 1, 2); None when neither is given."""
    if "seeds" in raw and "repeats" in raw:
        raise GapkitError(f"{path}: give seeds (a list) or repeats (a count), not both.")
    if "repeats" in raw:
        if not _positive_int(raw["repeats"]):
            raise GapkitError(
                f"{path}: repeats must be a positive integer (the number of training seeds), "
                f"got {raw['repeats']!r}."
            )
        return list(range(raw["repeats"]))
    if "seeds" not in raw:
        return None
    seeds = raw["seeds"]
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
    ):
        raise GapkitError(f"{path}: seeds must be a non-empty list of integers >= 0, got {seeds!r}.")
    if len(set(seeds)) != len(seeds):
        raise GapkitError(f"{path}: seeds must be distinct (each is one run), got {seeds!r}.")
    return list(seeds)


def _protocol_items(path: Path, raw: dict, base: dict) -> int | None:
    """``items: N``: N evaluation items per run (base.max_eval_examples, which it replaces)."""
    if "items" not in raw:
        return None
    if not _positive_int(raw["items"]):
        raise GapkitError(
            f"{path}: items must be a positive integer (evaluation items per run), got {raw['items']!r}."
        )
    if base.get("max_eval_examples") is not None:
        raise GapkitError(f"{path}: give items or base.max_eval_examples, not both (items sets it).")
    return raw["items"]


def _figure_name(path: Path, raw: dict) -> str:
    from ..plots.ablation import ABLATION_FIGURES

    name = raw.get("figure", raw["table"])
    if name not in ABLATION_FIGURES:
        raise GapkitError(f"{path}: {ABLATION_FIGURES.unknown_message(str(name))}")
    return name
