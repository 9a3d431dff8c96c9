"""Signatures: the paper's claims checked against a grid's cells, one table row per claim.

A spec declares the checks; nothing in the table is written by hand::

    signatures:
      - claim: Text-only training needs noise (single captioning)
        paper: 0.17                 # the paper's value of the same quantity (16.4 / 95.4), or a text
        kind: ratio                 # value (a) | difference (a - b) | ratio (a / b)
        a: {row: "text, no noise", task: caption-single}     # metric: the task's headline unless given
        b: {row: "text + tuned noise", task: caption-single}
        op: "<="
        threshold: 0.35

Each operand is a cell (row label, with ``@value`` for grid rows, and task), read as the mean and
95% interval of its runs (``intervals.py``). The check's quantity gets an interval by interval
arithmetic on the operands' intervals, which is conservative: a difference's interval is
[a_lo - b_hi, a_hi - b_lo] and excludes 0 exactly when the two cells' intervals do not overlap;
a ratio's (b > 0) is [a_lo / b_hi, a_hi / b_lo]. "Reproduced" is then decided from that
interval alone: **yes** when all of it satisfies ``op threshold``; otherwise **no**, with the
reason: the whole interval is on the other side (contradicted), it straddles the threshold
(overlapping intervals: inconclusive), or there is no interval or no result."""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

from .._registry import Registry
from ..errors import GapkitError
from .tables import Table, cell_runs, headline, row_order, run_interval, task_columns

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
CHECK_KEYS = {"claim", "paper", "kind", "a", "b", "op", "threshold"}
OPERAND_KEYS = {"row", "task", "metric"}


@dataclass
class Operand:
    row: str
    task: str
    metric: str

    def name(self) -> str:
        return f"{self.row}/{self.task} {self.metric}"


@dataclass
class Check:
    claim: str
    paper: object
    kind: str
    a: Operand
    b: Operand | None
    op: str
    threshold: float


@dataclass
class Bounds:
    """A quantity with its interval (lo, hi are None when it has none)."""

    value: float
    lo: float | None
    hi: float | None


# kind -> (needs a second cell b, combine(a, b) -> Bounds, or a text saying why it has no value)
KINDS: Registry = Registry("signature kind", ls_hint="signatures")


def _value(a: Bounds, b: Bounds | None) -> Bounds:
    """a itself."""
    return a


def _difference(a: Bounds, b: Bounds) -> Bounds:
    """a - b, interval [a_lo - b_hi, a_hi - b_lo]."""
    lo = None if a.lo is None or b.lo is None else a.lo - b.hi
    return Bounds(a.value - b.value, lo, None if lo is None else a.hi - b.lo)


def _ratio(a: Bounds, b: Bounds) -> Bounds | str:
    """a / b, interval [a_lo / b_hi, a_hi / b_lo] (b's interval must be above 0)."""
    if b.value <= 0 or (b.lo is not None and b.lo <= 0):
        return (
            "the ratio is undefined: the denominator's interval reaches "
            f"{b.lo if b.lo is not None else b.value:g} <= 0"
        )
    if a.lo is None or b.lo is None:
        return Bounds(a.value / b.value, None, None)
    ends = [a.lo / b.hi, a.lo / b.lo, a.hi / b.hi, a.hi / b.lo]  # a may be negative
    return Bounds(a.value / b.value, min(ends), max(ends))


for _name, _entry in (
    ("value", (False, _value)),
    ("difference", (True, _difference)),
    ("ratio", (True, _ratio)),
):
    KINDS.add(_name, _entry, _entry[1].__doc__)


# --- parsing ----------------------------------------------------------------------------------
def _operand(raw, spec, where: str) -> Operand:
    if not isinstance(raw, dict) or not {"row", "task"} <= set(raw) or set(raw) - OPERAND_KEYS:
        raise GapkitError(
            f"{where} must be a mapping with row and task (and optionally metric), got {raw!r}."
        )
    rows = row_order(spec)
    if raw["row"] not in rows:
        raise GapkitError(f"{where}: no row {raw['row']!r} in the grid; rows: {', '.join(rows)}.")
    if raw["task"] not in spec.tasks:
        raise GapkitError(
            f"{where}: task {raw['task']!r} is not a column of the grid; tasks: {', '.join(spec.tasks)}."
        )
    metrics = [k for k, _ in task_columns(raw["task"])]
    metric = raw.get("metric", headline(raw["task"]))
    if metric not in metrics:
        raise GapkitError(
            f"{where}: metric {metric!r} is not tabulated for {raw['task']}; metrics: {', '.join(metrics)}."
        )
    return Operand(raw["row"], raw["task"], metric)


def _check(raw, spec, k: int) -> Check:
    where = f"{spec.path}: signatures[{k}]"
    if not isinstance(raw, dict):
        raise GapkitError(f"{where} must be a mapping with keys {', '.join(sorted(CHECK_KEYS))}.")
    unknown = sorted(set(raw) - CHECK_KEYS)
    if unknown:
        raise GapkitError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(CHECK_KEYS))}.")
    missing = sorted({"claim", "paper", "kind", "a", "op", "threshold"} - set(raw))
    if missing:
        raise GapkitError(f"{where}: missing {', '.join(missing)}.")
    if not isinstance(raw["claim"], str) or not raw["claim"].strip():
        raise GapkitError(f"{where}: claim must be a non-empty text.")
    needs_b, _ = KINDS.get(str(raw["kind"]))
    if needs_b != ("b" in raw):
        raise GapkitError(f"{where}: kind {raw['kind']} {'needs' if needs_b else 'takes no'} second cell b.")
    if raw["op"] not in OPS:
        raise GapkitError(f"{where}: op must be one of {', '.join(OPS)}, got {raw['op']!r}.")
    t = raw["threshold"]
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
        raise GapkitError(f"{where}: threshold must be a finite number, got {t!r}.")
    return Check(
        raw["claim"].strip(),
        raw["paper"],
        raw["kind"],
        _operand(raw["a"], spec, f"{where}.a"),
        _operand(raw["b"], spec, f"{where}.b") if needs_b else None,
        raw["op"],
        float(t),
    )


def parse_checks(raw, spec) -> list[Check]:
    """The spec's ``signatures`` list, validated against its rows and tasks (empty when absent)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise GapkitError(f"{spec.path}: signatures must be a list of checks.")
    try:
        return [_check(c, spec, k) for k, c in enumerate(raw)]
    except GapkitError as e:
        if str(e).startswith(str(spec.path)):
            raise
        raise GapkitError(f"{spec.path}: signatures: {e}") from None


# --- evaluation -------------------------------------------------------------------------------
def _bounds(runs: dict, op: Operand) -> tuple[Bounds | None, str]:
    """The operand's mean and interval, or None with why."""
    cell = runs.get((op.row, op.task), [])
    done = [r for r in cell if r is not None]
    iv = run_interval(done, op.metric)
    if iv is None:
        return None, f"no result for {op.name()}" if not done else f"{op.name()} not recorded"
    partial = "" if len(done) == len(cell) else f" ({len(done)} of {len(cell)} runs)"
    return Bounds(iv.mean, iv.lo, iv.hi), partial


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 10 else f"{x:.1f}"


def _decide(check: Check, q: Bounds) -> tuple[str, str]:
    """(reproduced, reason) from q's interval against ``op threshold``."""
    rel, t = OPS[check.op], check.threshold
    what = f"{check.kind} {_fmt(q.value)}"
    if q.lo is None:
        return "no", f"{what} has no interval (one run without per-item scores): not decidable"
    span = f"[{_fmt(q.lo)}, {_fmt(q.hi)}]"
    if rel(q.lo, t) and rel(q.hi, t):
        return "yes", f"{what}, all of {span} {check.op} {_fmt(t)}"
    if not rel(q.lo, t) and not rel(q.hi, t):
        return "no", f"{what}: contradicted, all of {span} is on the other side of {_fmt(t)}"
    return "no", f"{what}: inconclusive, {span} straddles {_fmt(t)}"


def _paper_text(paper) -> str:
    """The paper's value as shown: "–" where the paper has none (a claim of gapkit's own)."""
    return "–" if paper is None else str(paper)


def evaluate_check(check: Check, runs: dict) -> list[str]:
    """[claim, paper value, gapkit value [interval], reproduced, measured reason]."""
    a, note_a = _bounds(runs, check.a)
    b, note_b = _bounds(runs, check.b) if check.b else (None, "")
    if a is None or (check.b and b is None):
        return [check.claim, _paper_text(check.paper), "–", "no", note_a if a is None else note_b]
    q = KINDS.get(check.kind)[1](a, b)
    if isinstance(q, str):
        return [check.claim, _paper_text(check.paper), "–", "no", q]
    shown = _fmt(q.value) + ("" if q.lo is None else f" [{_fmt(q.lo)}, {_fmt(q.hi)}]")
    reproduced, reason = _decide(check, q)
    return [check.claim, _paper_text(check.paper), shown, reproduced, reason + note_a + note_b]


def signatures_table(spec, results: dict) -> Table:
    """The spec's signatures as a table (no rows when it declares none)."""
    runs = cell_runs(spec, results)
    rows = [evaluate_check(c, runs) for c in spec.signatures]
    notes = [
        "Reproduced: yes only when the whole 95% interval of the checked quantity satisfies the claim; "
        "intervals by interval arithmetic on the cells' intervals (a difference excludes 0 exactly when the "
        "cells' intervals do not overlap), so overlapping intervals read no."
    ]
    return Table(["Claim", "Paper", "gapkit [95% interval]", "Reproduced", "Measured reason"], rows, notes)
