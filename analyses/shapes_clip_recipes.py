"""The tiny CLIP v2 recipe search as a table: one row per recipe, its gap statistics against the
targets of the model card, its probes and its time.

    python analyses/shapes_clip_recipes.py            # renders results/shapes-clip-recipes/table.md
    python analyses/shapes_clip_recipes.py --add NAME RUN_DIR "description"   # records a finished run
    python analyses/shapes_clip_recipes.py --add NAME RUN_DIR "description" --stages   # a run of
        `gapkit world train-clip ... --out RUN_DIR` (one stage, or RUN_DIR/stage1, stage2, ...)

Each record in ``results/shapes-clip-recipes/runs.json`` holds the run's training config (the
stages, each starting from the previous one's weights), its final held-out evaluation
(``history.json`` as written by ``gapkit world train-clip``: 1,000 test images x 5 reference
captions) and its wall time on the 2-core machine, so every row can be retrained from its record.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from gapkit.tinyclip.card import GEOMETRY_ROWS, PROBE_TARGET, met
from gapkit.tinyclip.model import TinyClipConfig

HERE = Path(__file__).resolve().parent / "results" / "shapes-clip-recipes"
SHORT = {
    "paired_cosine": "paired",
    "text_text_unrelated": "t-t",
    "l2m": "L2M",
    "image_cone": "cone I",
    "text_cone": "cone T",
    "shifted_paired_cosine": "shifted",
    "ridge_r2": "ridge R2",
    "residual_text_ratio": "res/text",
    "residual_share": "res share",
    "top10_gap_share": "top10",
    "image_effective_rank": "rank I",
    "text_effective_rank": "rank T",
    "i2t_r1": "R@1",
}


def _cell(key: str, final: dict) -> str:
    v = final.get(key)
    if v is None:
        return "-"
    ok = met(key, v, final)
    text = f"{v:.0f}" if "rank" in key else f"{v:.3f}" if key == "i2t_r1" else f"{v:.2f}"
    return text if ok in (None, True) else f"*{text}*"


def render(records: list[dict]) -> str:
    keys = [k for k, _, _ in GEOMETRY_ROWS if k in SHORT]
    head = ["recipe", "what", "steps", "min"] + [SHORT[k] for k in keys] + ["probes I < 0.9", "missed"]
    lines = [
        "# Tiny CLIP v2 recipe search",
        "",
        "Held-out statistics of each recipe at its last step (1,000 test images x 5 reference captions;",
        "`*x*` misses the model card's target). `probes I < 0.9`: image-embedding probes below "
        f"{PROBE_TARGET} (factor=accuracy; '-' where probes were not run). Rendered by "
        "`python analyses/shapes_clip_recipes.py` from `runs.json`, which holds each recipe's configs.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in records:
        f = r["final"]
        probes = {k[len("probe_image_") :]: v for k, v in f.items() if k.startswith("probe_image_")}
        weak = ", ".join(f"{k}={v:.2f}" for k, v in probes.items() if v < PROBE_TARGET) if probes else "-"
        missed = sum(1 for k in keys if met(k, f[k], f) is False) if all(k in f for k in keys) else "-"
        row = [r["name"], r["description"], str(r["steps"]), f"{r['seconds'] / 60:.0f}"]
        lines.append(
            "| " + " | ".join(row + [_cell(k, f) for k in keys] + [weak or "none", str(missed)]) + " |"
        )
    return "\n".join(lines) + "\n"


def _put(records: list[dict], name: str, description: str, *values) -> None:
    """Add (or replace) the record ``name``: stages, steps, seconds, final, trajectory."""
    records[:] = [r for r in records if r["name"] != name]
    keys = ("stages", "steps", "seconds", "final", "trajectory")
    records.append({"name": name, "description": description, **dict(zip(keys, values, strict=True))})


def add(name: str, run: Path, description: str, records: list[dict]) -> None:
    history = json.loads((run / "history.json").read_text())
    config = json.loads((run / "config.json").read_text())
    parent = config.get("init_from")
    prior = next((r for r in records if parent and f"/{r['name']}/" in parent), None)
    stages = (prior["stages"] if prior else []) + [config]
    steps = (prior["steps"] if prior else 0) + history[-1]["step"]
    seconds = (prior["seconds"] if prior else 0.0) + history[-1]["train_seconds"]
    _put(records, name, description, stages, steps, seconds, history[-1], _trajectory(history))


def _trajectory(history: list[dict], steps_before: int = 0) -> list[dict]:
    keys = ("step", "paired_cosine", "l2m", "residual_share", "ridge_r2", "i2t_r1", "logit_scale")
    return [{k: h.get(k) for k in keys} | {"step": steps_before + h["step"]} for h in history]


def _model_overrides(model: dict) -> dict:
    """The model fields that differ from TinyClipConfig's defaults, as the other records keep them
    (the vocabulary is left out: it is the world's lexicon)."""
    defaults = asdict(TinyClipConfig())
    return {k: v for k, v in model.items() if k != "words" and v != defaults.get(k)}


def add_stages(name: str, run: Path, description: str, records: list[dict]) -> None:
    """Record a run of `gapkit world train-clip`: one folder per stage (stage1, stage2, ...) or a
    single-stage run folder, each with history.json and final/config.json."""
    folders = sorted(run.glob("stage*"), key=lambda f: int(f.name[len("stage") :]))
    folders = folders or ([run] if (run / "history.json").is_file() else [])
    if not folders:
        raise SystemExit(f"{run}: neither a run folder nor stage folders (stage1, stage2, ...)")
    stages, trajectory, steps, seconds = [], [], 0, 0.0
    for folder in folders:
        history = json.loads((folder / "history.json").read_text())
        config = json.loads((folder / "final" / "config.json").read_text())
        training = dict(config["training"])
        if training.get("init_from"):  # the previous stage (inside the run folder) or repo-relative
            init = Path(training["init_from"]).resolve()
            base = run.resolve() if init.is_relative_to(run.resolve()) else Path.cwd()
            training["init_from"] = str(init.relative_to(base)) if init.is_relative_to(base) else str(init)
        stages.append({"model": _model_overrides(config["model"]), **training})
        trajectory += _trajectory(history, steps)
        steps += history[-1]["step"]
        seconds += history[-1]["train_seconds"]
    _put(records, name, description, stages, steps, seconds, history[-1], trajectory)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--add", nargs=3, metavar=("NAME", "RUN_DIR", "DESCRIPTION"))
    ap.add_argument(
        "--stages",
        action="store_true",
        help="RUN_DIR is a gapkit world train-clip run (one stage or stage1, stage2, ...)",
    )
    args = ap.parse_args()
    path = HERE / "runs.json"
    records = json.loads(path.read_text()) if path.is_file() else []
    if args.add:
        (add_stages if args.stages else add)(args.add[0], Path(args.add[1]), args.add[2], records)
        HERE.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(records, indent=1) + "\n")
    (HERE / "table.md").write_text(render(records))
    print((HERE / "table.md").read_text())


if __name__ == "__main__":
    main()
