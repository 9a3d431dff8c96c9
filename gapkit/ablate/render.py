"""Write a spec's table (Markdown, CSV, LaTeX) and figure, each saying how it was made."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from ..io import atomic_file, write_json
from ..results import provenance
from .executors import first_line
from .geometry import adapter_geometry
from .runner import regenerate_command, wall_seconds
from .tables import TABLES, _mean_sd, column_labels, group_metrics, row_order

ROOT = Path(__file__).resolve().parent.parent.parent
FIGURES = ROOT / "figures"  # the committed figures: only for the specs under analyses/


def _cell_seconds(results: dict) -> float:
    return sum(h.get("seconds", 0.0) for r in results.values() for h in r.get("history", []))


def render_outputs(spec, outcome: dict, command: list[str], figures_dir: Path | None = None) -> dict:
    out = Path(outcome["out"])
    geometry = adapter_geometry(spec)
    table = TABLES.get(spec.table)(spec, outcome["results"], geometry)
    table.notes += missing_notes(spec, outcome)
    prov = provenance(command)
    wall = wall_seconds(out)
    wall_text = f"grid wall time {wall / 60:.0f} min (from grid-log.json), " if wall else ""
    head = [f"# {spec.name}: {spec.description}".rstrip(": "), "",
            f"Regenerate: `{regenerate_command(spec, out)}` (finished cells are kept; `--render-only` just "
            "re-renders).",
            f"{len(outcome['results'])} of {outcome['total']} cells; {wall_text}training time summed over cells "
            f"{_cell_seconds(outcome['results']) / 60:.0f} min; {platform.machine()}, {os.cpu_count()} CPU cores "
            f"({prov['environment'].get('device', 'cpu')}); rendered by `{' '.join(command)}` at gapkit {prov['git']}.", ""]
    paths = {"md": out / "table.md", "csv": out / "table.csv", "tex": out / "table.tex"}
    with atomic_file(paths["md"]) as f:
        f.write("\n".join(head) + "\n" + table.markdown() + "\n")  # a blank line before the table
    with atomic_file(paths["csv"]) as f:
        f.write(table.csv())
    with atomic_file(paths["tex"]) as f:
        f.write(table.latex())
    write_json(out / "geometry.json", geometry)
    in_repo = spec.path.resolve().parent == (ROOT / "analyses").resolve()
    paths["figure"] = _figure(spec, outcome["results"], geometry, figures_dir or (FIGURES if in_repo else out))
    return paths


def missing_notes(spec, outcome: dict) -> list[str]:
    """Markdown lines listing the cells without a result, with why (empty when the grid is complete)."""
    if not outcome["missing"]:
        return []
    cells = {c.key: c for c in spec.cells()}
    lines = ["", f"**{len(outcome['missing'])} of {outcome['total']} cells have no result**: a score marked "
                 "\"no result\" has none, \"(k of n)\" averages the k repeats that have one.", ""]
    for key, label in outcome["missing"].items():
        f = outcome["failed"].get(key)
        why = "not run yet" if f is None else (
            f"{'configuration or data error' if f['permanent'] else 'failed'}: {first_line(f['error'])}")
        params = ", ".join(f"{k}={v}" for k, v in cells[key].params.items())
        lines.append(f"- `{label}`{f' ({params})' if params else ''}: {why}")
    return lines


def _figure(spec, results, geometry, figures_dir: Path):
    from ..plots.ablation import bias_figure, noise_figure

    metrics = group_metrics(spec, results)
    names = dict(zip(spec.tasks, column_labels(spec, results)))  # the figure names each metric as the table does
    rows = []
    for label in row_order(spec):
        g = geometry.get(label, {})
        cell = next(c for c in spec.cells() if c.row == label)
        rows.append({
            "label": label, "magnitude": _mean_sd(g.get("magnitude", []))[0], "mg": _mean_sd(g.get("mg", []))[0],
            "delta": _mean_sd(g.get("delta", []))[0],
            "noise_norm": _mean_sd([r["noise_norm"] for r in results.values()
                                    if r["label"].split("/")[0] == label])[0],
            "kind": "images" if cell.config.train_on == "image" else
                    "noise" if cell.config.adapter in ("noise", "none") else "adapter",
            "scores": {names[t]: _mean_sd(metrics[(label, t)]) for t in spec.tasks}})
    figures_dir.mkdir(parents=True, exist_ok=True)
    path = figures_dir / f"ablation-{spec.name}"
    fig = bias_figure if spec.table == "bias" else noise_figure
    return [str(p) for p in fig(rows, list(names.values()), path)]


