"""Table renderers for ablation specs: rows x task columns, Markdown / CSV / LaTeX, with the
paper's published numbers printed alongside (labelled as the paper's, not gapkit's)."""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict

import numpy as np

from .._registry import Registry

TABLES: Registry = Registry("table", ls_hint="tables")
# task -> (metric key, column label) in order of preference. A column shows the first metric that
# every finished cell of its task reports: result files written before both VQA accuracies existed
# carry only CLOSE's (read back as vqa_acc_close), and the column label says which one it is.
_VQA_OFFICIAL, _VQA_CLOSE = ("vqa_acc_official", "official"), ("vqa_acc_close", "CLOSE min(n/3,1)")
HEADLINE = {"caption-single": [("cider", "Cap. CIDEr")], "caption-multi": [("cider", "Cap.(m) CIDEr")],
            "caption-style": [("cider", "Style CIDEr")], "ve": [("accuracy", "VE acc.")],
            "vqa": [(k, f"VQA acc. ({w})") for k, w in (_VQA_OFFICIAL, _VQA_CLOSE)],
            "vqa-e": [(k, f"VQA-E acc. ({w})") for k, w in (_VQA_OFFICIAL, _VQA_CLOSE)]}
VQA_NOTE = ("VQA acc. (official): the VQA v2 metric, the mean over the 10 leave-one-out subsets of 9 human "
            "answers of min(#matches / 3, 1); VQA acc. (CLOSE min(n/3,1)): CLOSE's simplified min(#matches / 3, 1) "
            "over all 10 answers, which reads higher.")


def headline(spec, results: dict, task: str) -> tuple[str, str]:
    """(metric key, column label) of ``task``'s column: the first candidate every finished cell has."""
    finished = [results[c.key]["metrics"] for c in spec.cells() if c.task == task and c.key in results]
    for key, label in HEADLINE[task]:
        if all(key in m for m in finished):
            return key, label
    return HEADLINE[task][0]


def _mean_sd(values: list[float]) -> tuple[float, float | None]:
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return float("nan"), None
    return float(np.mean(vals)), (float(np.std(vals, ddof=1)) if len(vals) > 1 else None)


def fmt(mean: float, sd: float | None, digits: int = 1) -> str:
    if isinstance(mean, float) and math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if sd is not None else "")


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
        esc = lambda s: s.replace("±", r"$\pm$").replace("_", r"\_").replace("%", r"\%").replace("Δ", r"$\Delta$")
        lines = [r"\begin{tabular}{" + "l" * len(self.header) + "}", r"\toprule",
                 " & ".join(esc(h) for h in self.header) + r" \\", r"\midrule"]
        lines += [" & ".join(esc(c) for c in r) + r" \\" for r in self.rows]
        return "\n".join(lines + [r"\bottomrule", r"\end{tabular}", ""])


def group_metrics(spec, results: dict) -> dict:
    """(row label, task) -> the headline value of each of the row's repeats; None where a cell has no result."""
    keys = {t: headline(spec, results, t)[0] for t in spec.tasks}
    out: dict = defaultdict(list)
    for cell in spec.cells():
        res = results.get(cell.key)
        out[(cell.row, cell.task)].append(None if res is None else res["metrics"].get(keys[cell.task]))
    return out


def score_text(values: list) -> str:
    """Mean ± sd over the repeats that have a result; "(k of n)" when some lack one; "no result" when all do."""
    done = [v for v in values if v is not None]
    if not done:
        return "no result"
    text = fmt(*_mean_sd(done))
    return text if len(done) == len(values) else f"{text} ({len(done)} of {len(values)})"


def column_labels(spec, results: dict) -> list[str]:
    return [headline(spec, results, t)[1] for t in spec.tasks]


def metric_notes(spec) -> list[str]:
    return ["", VQA_NOTE] if {"vqa", "vqa-e"} & set(spec.tasks) else []


def _reference_block(spec) -> list[str]:
    ref = spec.reference
    if not ref:
        return []
    lines = ["", f"**For reference, the paper's published numbers** ({ref.get('source', '')}; "
                 f"{ref.get('setting', '')}; not gapkit's):", ""]
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
    return f"{lo:.{digits}f}" if round(lo, digits) == round(hi, digits) else f"{lo:.{digits}f}–{hi:.{digits}f}"


@TABLES.register("bias")
def bias_table(spec, results: dict, shift_stats: dict) -> Table:
    """CLOSE Table 3 analogue: Bias, Mag., MG, Delta, then one headline metric per task."""
    metrics = group_metrics(spec, results)
    header = ["Bias", "Mag.", "MG", "Δ"] + column_labels(spec, results)
    rows = []
    for label in row_order(spec):
        st = shift_stats.get(label, {})
        cells = [label.split("@")[0], fmt(*_mean_sd(st.get("magnitude", [])), 2),
                 fmt(*_mean_sd(st.get("mg", [])), 3), fmt(*_mean_sd(st.get("delta", [])), 3)]
        cells += [score_text(metrics[(label, t)]) for t in spec.tasks]
        rows.append(cells)
    notes = ["MG = mean cos(image, n(text + b)) and Δ = mean cos(text, n(text + b)) on the evaluation split's "
             "pairs, noise not included; metrics on images; mean ± sd over the repeats of a row."]
    return Table(header, rows, notes + metric_notes(spec) + _reference_block(spec))


@TABLES.register("noise")
def noise_table(spec, results: dict, shift_stats: dict) -> Table:
    """Noise magnitude x tasks, with w and w*sqrt(d), the images upper bound and other adapters."""
    metrics = group_metrics(spec, results)
    header = ["Row", "w", "w·√d", "MG"] + column_labels(spec, results)
    by_row: dict = defaultdict(list)
    for cell in spec.cells():
        if cell.key in results:
            by_row[cell.row].append(results[cell.key])
    rows = []
    for label in row_order(spec):
        res = by_row.get(label, [])
        st = shift_stats.get(label, {})
        cells = [label, _span([r["noise"] for r in res], 3), _span([r["noise_norm"] for r in res], 2),
                 fmt(*_mean_sd(st.get("mg", [])), 3)]
        cells += [score_text(metrics[(label, t)]) for t in spec.tasks]
        rows.append(cells)
    notes = ["w: per-dimension noise std; w·√d: expected noise norm (compare across embedding sizes); "
             "MG: mean cos(image, adapter without noise(text)) on evaluation pairs; metrics on images."]
    return Table(header, rows, notes + metric_notes(spec) + _reference_block(spec))
