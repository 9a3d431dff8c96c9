"""Write a spec's table (Markdown, CSV, LaTeX) and figure, each saying how it was made."""

from __future__ import annotations

import math
import os
import platform
from pathlib import Path

from ..adapters import ADAPTERS
from ..io import atomic_file, write_json
from ..results import provenance
from .executors import first_line
from .geometry import adapter_geometry
from .intervals import combine
from .runner import regenerate_command, wall_seconds
from .signatures import signatures_table
from .tables import TABLES, cell_runs, row_order, run_interval, task_columns

ROOT = Path(__file__).resolve().parent.parent.parent
FIGURES = ROOT / "figures"  # the committed figures: only for the specs under analyses/


def _cell_seconds(results: dict) -> float:
    return sum(h.get("seconds", 0.0) for r in results.values() for h in r.history)


def render_outputs(spec, outcome: dict, command: list[str], figures_dir: Path | None = None) -> dict:
    out = Path(outcome["out"])
    geometry = adapter_geometry(spec)
    table = TABLES.get(spec.table)(spec, outcome["results"], geometry)
    table.notes += missing_notes(spec, outcome)
    prov = provenance(command)
    wall = wall_seconds(out)
    wall_text = f"grid wall time {wall / 60:.0f} min (from grid-log.json), " if wall else ""
    head = [
        f"# {spec.name}: {spec.description}".rstrip(": "),
        "",
        f"Regenerate: `{regenerate_command(spec, out)}` (finished cells are kept; `--render-only` just "
        "re-renders).",
        f"{len(outcome['results'])} of {outcome['total']} cells; {wall_text}training time summed over cells "
        f"{_cell_seconds(outcome['results']) / 60:.0f} min; {platform.machine()}, {os.cpu_count()} CPU cores "
        f"({prov['environment'].get('device', 'cpu')}); rendered by `{' '.join(command)}` "
        f"at gapkit {prov['git']}.",
        protocol_line(spec, outcome["results"]),
        "",
    ]
    paths = {"md": out / "table.md", "csv": out / "table.csv", "tex": out / "table.tex"}
    body = table.markdown()
    if spec.signatures:
        sig = signatures_table(spec, outcome["results"])
        body += "\n\n## Signatures\n\n" + sig.markdown()
        paths["signatures"] = out / "signatures.csv"
        with atomic_file(paths["signatures"]) as f:
            f.write(sig.csv())
    with atomic_file(paths["md"]) as f:
        f.write("\n".join(head) + "\n" + body + "\n")  # a blank line before the table
    with atomic_file(paths["csv"]) as f:
        f.write(table.csv())
    with atomic_file(paths["tex"]) as f:
        f.write(table.latex())
    write_json(out / "geometry.json", geometry)
    in_repo = spec.path.resolve().parent == (ROOT / "analyses").resolve()
    paths["figure"] = _figure(
        spec, outcome["results"], geometry, figures_dir or (FIGURES if in_repo else out)
    )
    return paths


def protocol_line(spec, results: dict) -> str:
    """How many runs each cell has and on how many items they were scored."""
    runs = {len(v) for v in cell_runs(spec, results).values()}
    seeds = f"training seeds {spec.seeds}" if spec.seeds else "the base config's training seed"
    n = sorted({r.metrics.get("n") for r in results.values() if r.metrics.get("n") is not None})
    items = "no finished cell yet" if not n else f"{n[0]}" if len(n) == 1 else f"{n[0]}-{n[-1]}"
    return (
        f"Protocol: runs per cell {'-'.join(str(k) for k in sorted(runs))} ({seeds}); evaluation items per "
        f"run: {items}."
    )


def missing_notes(spec, outcome: dict) -> list[str]:
    """Markdown lines listing the cells without a result, with why (empty when the grid is complete)."""
    if not outcome["missing"]:
        return []
    cells = {c.key: c for c in spec.cells()}
    lines = [
        "",
        f"**{len(outcome['missing'])} of {outcome['total']} cells have no result**: a score marked "
        '"no result" has none, "(k of n)" averages the k repeats that have one.',
        "",
    ]
    for key, label in outcome["missing"].items():
        f = outcome["failed"].get(key)
        why = (
            "not run yet"
            if f is None
            else (
                f"{'configuration or data error' if f['permanent'] else 'failed'}: {first_line(f['error'])}"
            )
        )
        params = ", ".join(f"{k}={v}" for k, v in cells[key].params.items())
        lines.append(f"- `{label}`{f' ({params})' if params else ''}: {why}")
    return lines


def figure_rows(spec, results: dict, geometry: dict) -> tuple[list[dict], list[str]]:
    """One row per table row for the figures (see ``plots.ablation``), and the column each task is
    drawn with (its headline metric)."""
    runs = cell_runs(spec, results)
    rows = []
    for label in row_order(spec):
        g = geometry.get(label, {})
        cell = next(c for c in spec.cells() if c.row == label)
        done = [results[c.key] for c in spec.cells() if c.row == label and c.key in results]
        mean = lambda xs: combine(xs).mean if xs else float("nan")  # noqa: E731
        scores = {}
        for t in spec.tasks:
            metric, name = task_columns(t)[0]
            iv = run_interval([r for r in runs[(label, t)] if r is not None], metric)
            scores[name] = (float("nan"), None, None) if iv is None else (iv.mean, iv.lo, iv.hi)
        rows.append(
            {
                "label": label,
                "magnitude": mean(g.get("magnitude", [])),
                "mg": mean(g.get("mg", [])),
                "delta": mean(g.get("delta", [])),
                "l2m": mean(g.get("l2m", [])),
                "noise": mean([r.noise for r in done]),
                "noise_norm": mean([r.noise_norm for r in done]),
                "kind": "images"
                if cell.config.train_on == "image"
                else "noise"
                if ADAPTERS.get(cell.config.adapter).plain_noise
                else "adapter",
                "scores": scores,
            }
        )
    return rows, [task_columns(t)[0][1] for t in spec.tasks]


def _figure(spec, results, geometry, figures_dir: Path):
    from ..plots.ablation import ABLATION_FIGURES

    rows, tasks = figure_rows(spec, results, geometry)
    figures_dir.mkdir(parents=True, exist_ok=True)
    path = figures_dir / f"ablation-{spec.name}"
    write_json(path.with_suffix(".json"), _finite({"figure": spec.figure, "tasks": tasks, "rows": rows}))
    return [str(p) for p in ABLATION_FIGURES.get(spec.figure)(rows, tasks, path)]


def _finite(obj):
    """JSON has no NaN: null instead."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj
