"""Table renderers for ablation specs: rows x task columns, Markdown / CSV / LaTeX, with the
paper's published numbers printed alongside (labelled as the paper's, not gapkit's)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict

from .._registry import Registry
from .intervals import Interval, combine

TABLES: Registry = Registry("table", ls_hint="tables")
# A task's columns, (metric key, column label), are its registry entry's ``columns``
# (close/tasks.py). Result files written before the official VQA metric existed read "not
# recorded" in its column.
VQA_NOTE = (
    "VQA acc. (official): the VQA v2 metric, the mean over the 10 leave-one-out subsets of 9 human "
    "answers of min(#matches / 3, 1); VQA acc. (CLOSE min(n/3,1)): CLOSE's simplified min(#matches / 3, 1) "
    "over all 10 answers, which reads higher."
)
INTERVAL_NOTE = (
    "Scores: mean over a row's runs (training seeds; the RNG rows' directions, each with its own seed) "
    "[95% interval combining the seed spread and an item bootstrap, see gapkit/ablate/intervals.py]; "
    "a score without an interval comes from one run without per-item scores."
)


def columns(spec) -> list[tuple[str, str, str]]:
    """(task, metric key, label) of every metric column, in task order."""
    return [(t, key, label) for t in spec.tasks for key, label in task_columns(t)]


def task_columns(task: str) -> tuple[tuple[str, str], ...]:
    """(metric key, label) of each of ``task``'s columns; the first is its headline."""
    from ..close.tasks import TASKS

    return TASKS.get(task).columns


def headline(task: str) -> str:
    """The metric a task is judged by (its first column)."""
    return task_columns(task)[0][0]


def cell_runs(spec, results: dict) -> dict:
    """(row label, task) -> the result of each of the row's runs; None where a run has no result."""
    out: dict = defaultdict(list)
    for cell in spec.cells():
        out[(cell.row, cell.task)].append(results.get(cell.key))
    return out


def run_interval(runs: list, metric: str) -> Interval | None:
    """The interval of ``metric`` over the finished runs that report it (None when none does)."""
    done = [r for r in runs if r is not None and r.metrics.get(metric) is not None]
    if not done:
        return None
    per_item = [r.per_item.get(metric) for r in done]
    return combine(
        [float(r.metrics[metric]) for r in done],
        per_item if all(p is not None for p in per_item) else None,
        [r.metrics.get("items") for r in done],
    )


def score_text(runs: list, metric: str, digits: int = 1) -> str:
    """``mean [lo, hi]`` over the runs that have a result; "(k of n)" when some lack one; "no
    result" when all do; "not recorded" when the results lack this metric."""
    done = [r for r in runs if r is not None]
    if not done:
        return "no result"
    iv = run_interval(done, metric)
    if iv is None:
        return "not recorded"
    text = iv.text(digits)
    return text if len(done) == len(runs) else f"{text} ({len(done)} of {len(runs)})"


def value_text(values: list[float], digits: int) -> str:
    """A per-run quantity without items (MG, Δ, magnitude): mean [t interval over runs]."""
    vals = [v for v in values if v is not None]
    return combine(vals).text(digits) if vals else "–"


def column_labels(spec) -> list[str]:
    return [label for _, _, label in columns(spec)]


def metric_notes(spec) -> list[str]:
    return ["", VQA_NOTE] if {"vqa", "vqa-e"} & set(spec.tasks) else []


def _reference_block(spec) -> list[str]:
    ref = spec.reference
    if not ref:
        return []
    lines = [
        "",
        f"**For reference, the paper's published numbers** ({ref.get('source', '')}; "
        f"{ref.get('setting', '')}; not gapkit's):",
        "",
    ]
    header = ref["columns"]
    lines += ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in ref["rows"]]
    return lines


def row_order(spec) -> list[str]:
    seen: list[str] = []
    for c in spec.cells():
        if c.row not in seen:
            seen.append(c.row)
    return seen


def _span(values: list[float], digits: int) -> str:
    """One value, or "lo–hi" when the row's tasks use different values (per-task defaults)."""
    if not values:
        return "–"
    lo, hi = min(values), max(values)
    return (
        f"{lo:.{digits}f}" if round(lo, digits) == round(hi, digits) else f"{lo:.{digits}f}–{hi:.{digits}f}"
    )


class Table:
    """Rows of cells (strings) under a header, renderable three ways."""

    def __init__(self, header: list[str], rows: list[list[str]], notes: list[str]) -> None:
        self.header, self.rows, self.notes = header, rows, notes

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.header) + " |", "|" + "|".join("---" for _ in self.header) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(lines + [""] + self.notes)

    def csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(self.header)
        w.writerows(self.rows)
        return buf.getvalue()

    def latex(self) -> str:
        esc = lambda s: (
            s.replace("±", r"$\pm$").replace("_", r"\_").replace("%", r"\%").replace("Δ", r"$\Delta$")
        )
        lines = [
            r"\begin{tabular}{" + "l" * len(self.header) + "}",
            r"\toprule",
            " & ".join(esc(h) for h in self.header) + r" \\",
            r"\midrule",
        ]
        lines += [" & ".join(esc(c) for c in r) + r" \\" for r in self.rows]
        return "\n".join(lines + [r"\bottomrule", r"\end{tabular}", ""])


def _assemble(spec, results: dict, shift_stats: dict, lead: list[str], lead_cells, note: str) -> Table:
    """One row per row label: ``lead_cells(label, the row's results, its geometry)`` under the
    ``lead`` headers, then every task's metric columns; ``note`` explains the lead columns."""
    runs = cell_runs(spec, results)
    by_row: dict = defaultdict(list)
    for cell in spec.cells():
        if cell.key in results:
            by_row[cell.row].append(results[cell.key])
    rows = [
        lead_cells(label, by_row.get(label, []), shift_stats.get(label, {}))
        + [score_text(runs[(label, t)], key) for t, key, _ in columns(spec)]
        for label in row_order(spec)
    ]
    notes = [note, INTERVAL_NOTE] + metric_notes(spec) + _reference_block(spec)
    return Table(lead + column_labels(spec), rows, notes)


@TABLES.register("bias")
def bias_table(spec, results: dict, shift_stats: dict) -> Table:
    """CLOSE Table 3 analogue: Bias, Mag., MG, Delta, then the metric columns of each task."""
    return _assemble(
        spec,
        results,
        shift_stats,
        ["Bias", "Mag.", "MG", "Δ"],
        lambda label, res, st: [
            label.split("@")[0],
            _span(st.get("magnitude", []), 2),
            value_text(st.get("mg", []), 3),
            value_text(st.get("delta", []), 3),
        ],
        "MG = mean cos(image, n(text + b)) and Δ = mean cos(text, n(text + b)) on the evaluation split's "
        "pairs, noise not included (mean [95% t interval] over a row's directions); metrics on images.",
    )


@TABLES.register("noise")
def noise_table(spec, results: dict, shift_stats: dict) -> Table:
    """Noise magnitude x tasks, with w and w*sqrt(d), the images upper bound and other adapters."""
    return _assemble(
        spec,
        results,
        shift_stats,
        ["Row", "w", "w·√d", "MG"],
        lambda label, res, st: [
            label,
            _span([r.noise for r in res], 3),
            _span([r.noise_norm for r in res], 2),
            value_text(st.get("mg", []), 3),
        ],
        "w: per-dimension noise std; w·√d: expected noise norm (compare across embedding sizes); "
        "MG: mean cos(image, adapter without noise(text)) on evaluation pairs; metrics on images.",
    )


@TABLES.register("methods")
def methods_table(spec, results: dict, shift_stats: dict) -> Table:
    """Every way to cross the gap x tasks: each method's noise, and the geometry its deterministic
    transforms leave (MG, L2M between the moved images and the moved texts), then the metrics."""
    return _assemble(
        spec,
        results,
        shift_stats,
        ["Method", "w", "MG", "L2M"],
        lambda label, res, st: [
            label,
            _span([r.noise for r in res], 3),
            value_text(st.get("mg", []), 3),
            value_text(st.get("l2m", []), 3),
        ],
        "MG: mean cos(test image, training text) and L2M: |mean image - mean text| on evaluation pairs, both "
        "after the method's deterministic transforms (texts: training half without noise; images: test-time "
        "half, if any); w: per-dimension training noise; metrics on images.",
    )
