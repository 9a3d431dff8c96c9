"""Typed, versioned result records: a CLOSE run's ``metrics.json``, an evaluation's
``metrics-SPLIT.json`` and an ablation cell's result file.

Each record is a dataclass with a schema name and version, written and read through one function
each (``write_record`` / ``read_record``). Files written before records carried a version (the
committed v2 results) read as version 0, which has the same fields (gapkit 0.1's run records lack
``resolved``, which defaults to empty); ``UPGRADES`` holds the step from each older version to the
next, so an old file is converted on reading and never rewritten. A file from a newer gapkit (a
higher version, or fields this one does not know) raises ``NewerRecordError``: callers that would
otherwise redo and overwrite the work stop instead."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from .errors import GapkitError
from .io import write_json

SCHEMA, VERSION = "schema", "schema_version"


class NewerRecordError(GapkitError):
    """A record written by a newer gapkit (a higher schema version, or unknown fields)."""


@dataclass
class Record:
    """Base: ``SCHEMA`` names the kind of file, ``CURRENT`` is the version this gapkit writes, and
    ``UPGRADES[v]`` turns a version-v dict into a version v + 1 one."""

    SCHEMA: ClassVar[str] = ""
    CURRENT: ClassVar[int] = 1
    UPGRADES: ClassVar[dict] = {0: lambda d: d}  # version 0: the same fields, no version stamp

    def to_dict(self) -> dict:
        return {SCHEMA: self.SCHEMA, VERSION: self.CURRENT, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: dict, where: str = "record"):
        """A record from its JSON dict, upgraded from an older version; GapkitError naming ``where``
        for another kind of file, a newer version, or missing / unknown fields."""
        if not isinstance(d, dict):
            raise GapkitError(f"{where}: expected a JSON object, got {type(d).__name__}.")
        d = dict(d)
        schema, version = d.pop(SCHEMA, cls.SCHEMA), d.pop(VERSION, 0)
        if schema != cls.SCHEMA:
            raise GapkitError(f"{where}: a {schema!r} record, expected {cls.SCHEMA!r}.")
        if isinstance(version, int) and version > cls.CURRENT:
            raise NewerRecordError(
                f"{where}: schema version {version} of {cls.SCHEMA!r}; this gapkit reads 0..{cls.CURRENT} "
                "(written by a newer gapkit: upgrade gapkit to read it)."
            )
        if not isinstance(version, int) or version < 0:
            raise GapkitError(
                f"{where}: schema version {version!r} of {cls.SCHEMA!r}; this gapkit reads 0..{cls.CURRENT} "
                "(a newer gapkit wrote it?)."
            )
        for v in range(version, cls.CURRENT):
            d = cls.UPGRADES[v](d)  # every version below CURRENT has its step
        names = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls) if _required(f)}
        if unknown := sorted(set(d) - names):
            raise NewerRecordError(
                f"{where}: unknown field {unknown[0]!r} in a {cls.SCHEMA!r} record "
                "(written by a newer gapkit?)."
            )
        if missing := sorted(required - set(d)):
            raise GapkitError(f"{where}: field {missing[0]!r} missing from a {cls.SCHEMA!r} record.")
        return cls(**d)


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


@dataclass
class RunRecord(Record):
    """``gapkit train``'s metrics.json: what one CLOSE run measured on its evaluation split."""

    SCHEMA: ClassVar[str] = "gapkit.run"

    task: str
    split: str
    metrics: dict  # flat metric name -> value (CIDEr, accuracy, ..., "n" items)
    history: list  # one dict per epoch (loss, seconds, MG, ...; val scores with eval_each_epoch)
    noise: float  # the per-dimension noise std w the adapter used
    noise_norm: float  # w * sqrt(d)
    dim: int
    n_train: int
    adapter: dict  # the adapter's description (name, options, fitted facts)
    resolved: dict = field(default_factory=dict)  # what the config left to defaults, as this run used it
    per_item: dict = field(default_factory=dict)  # metric -> per-item scores (for item bootstraps)
    provenance: dict = field(default_factory=dict)


@dataclass
class EvalRecord(Record):
    """``gapkit eval``'s metrics-SPLIT[-text].json: a trained run scored on a split."""

    SCHEMA: ClassVar[str] = "gapkit.eval"

    task: str
    split: str
    inputs: str  # "image" or "text"
    metrics: dict
    per_item: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    text_adapter: dict | None = None  # with text inputs: which part of the adapter was applied


@dataclass
class CellResult(Record):
    """An ablation grid cell's result file (cells/KEY.json): its run's record under its key."""

    SCHEMA: ClassVar[str] = "gapkit.cell"

    key: str
    label: str
    config: dict  # the cell's full CloseConfig
    metrics: dict
    history: list
    noise: float
    noise_norm: float
    dim: int
    n_train: int
    resolved: dict = field(default_factory=dict)
    per_item: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    converted_from: str | None = None  # set when a gapkit 0.1 result was converted on reading (ablate/legacy)

    @classmethod
    def from_run(cls, key: str, label: str, config: dict, run: RunRecord) -> CellResult:
        shared = {f.name for f in dataclasses.fields(cls)} & {f.name for f in dataclasses.fields(RunRecord)}
        return cls(key=key, label=label, config=config, **{k: getattr(run, k) for k in shared})


def write_record(path: Path, record: Record) -> None:
    """Write ``record`` as JSON, atomically, with its schema name and version."""
    write_json(Path(path), record.to_dict())


def read_record(path: Path, kind: type[Record]):
    """The ``kind`` record in ``path`` (older versions upgraded); GapkitError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise GapkitError(f"{kind.SCHEMA} record not found: {path}")
    try:
        d = json.loads(path.read_text())
    except ValueError as e:
        raise GapkitError(f"{path} is not valid JSON: {e}") from None
    return kind.from_dict(d, str(path))
