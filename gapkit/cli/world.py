"""``gapkit world``: generate/export the shapes world, train the tiny CLIP, write its model card."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..errors import GapkitError
from ._common import parse_sets, seed_int

log = logging.getLogger("gapkit.cli")


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(
        name,
        help="the embedded shapes world and its tiny CLIP",
        description="Generate and export the shapes world; train its tiny CLIP.",
    )
    wsub = p.add_subparsers(dest="world_cmd", metavar="CMD", required=True)

    e = wsub.add_parser(
        "export",
        help="write the world in the official data formats",
        epilog="Example:\n  gapkit world export --out shapes-world --seed 0",
    )
    e.add_argument("--out", required=True, help="folder to create (must not exist)")
    e.add_argument("--seed", type=seed_int, default=0)
    e.add_argument(
        "--sizes",
        nargs="*",
        default=None,
        metavar="SPLIT=N",
        help="scenes per split, e.g. train=10000 test=1000",
    )
    e.set_defaults(func=run_export)

    t = wsub.add_parser(
        "train-clip",
        help="train the tiny CLIP from scratch (InfoNCE)",
        epilog="Examples:\n  gapkit world train-clip --out runs/shapes-clip\n"
        "  gapkit world train-clip --out runs/shapes-clip --resume\n"
        "  gapkit world train-clip --out runs/x --set steps=200 --set ramp_to=30",
    )
    t.add_argument("--out", required=True, help="run folder (checkpoints, history, final weights)")
    t.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a training config field")
    t.add_argument("--config", default=None, help="YAML/JSON file with training config fields")
    t.set_defaults(func=run_train_clip)

    c = wsub.add_parser(
        "card",
        help="evaluate tiny CLIP weights and write their model card",
        epilog="Example:\n  gapkit world card --weights gapkit/assets/shapes-clip",
    )
    c.add_argument("--weights", default=None, help="weights folder (default: the shipped weights)")
    c.add_argument("--seed", type=seed_int, default=0)
    c.add_argument("--history", nargs="*", default=None, help="history.json of each training stage, in order")
    c.set_defaults(func=run_card)


def _sizes(items) -> dict | None:
    if not items:
        return None
    out = {}
    for it in items:
        split, _, n = it.partition("=")
        if not n.isdigit():
            raise GapkitError(f"--sizes takes SPLIT=N, got {it!r}")
        out[split] = int(n)
    return out


def run_export(args) -> int:
    from ..io import check_output_dir
    from ..worlds.shapes.export import export_world
    from ..worlds.shapes.world import DEFAULT_SIZES, ShapesWorld

    out = Path(args.out)
    if out.exists():
        raise GapkitError(f"{out} exists; choose a new folder.")
    check_output_dir(out, "--out")
    sizes = _sizes(args.sizes) or dict(DEFAULT_SIZES)
    bad = set(sizes) - set(DEFAULT_SIZES)
    if bad:
        raise GapkitError(f"Unknown split {sorted(bad)[0]!r}; splits: {', '.join(DEFAULT_SIZES)}")
    world = ShapesWorld(seed=args.seed, sizes=sizes).generate()
    export_world(world, out)
    log.info("exported %d scenes to %s", len(world.records), out)
    return 0


def _stage_configs(args) -> list:
    """One config per stage: a YAML mapping is one stage, a YAML list several (each later stage
    starts from the previous stage's final weights). ``--set`` applies to every stage. Every value
    of every stage is checked here, before anything is written."""
    from ..io import read_yaml
    from ..tinyclip.train import TrainClipConfig

    stages: list = [{}]
    source = "--set"
    if args.config:
        source = args.config
        loaded = read_yaml(args.config, "training config")
        stages = loaded if isinstance(loaded, list) else [{} if loaded is None else loaded]
        if not stages:
            raise GapkitError(
                f"{source}: an empty list of stages; give a mapping of config keys or a list of them."
            )
    sets = parse_sets(args.set)
    out = []
    for k, stage in enumerate(stages):
        where = f"Bad tiny CLIP training config {source} (stage {k + 1})"
        if not isinstance(stage, dict):
            raise GapkitError(f"{where}: a stage must be a mapping of config keys, got {stage!r}.")
        if k and stage.get("init_from") is not None:
            raise GapkitError(
                f"{where}: init_from is given, but stage {k + 1} starts from stage {k}'s final weights; "
                "remove it (only the first stage may set init_from)."
            )
        merged = {**stage, **sets}
        if isinstance(stage.get("model"), dict) and isinstance(sets.get("model"), dict):
            merged["model"] = {**stage["model"], **sets["model"]}  # --set model.x=v keeps the rest
        try:
            cfg = TrainClipConfig.from_dict(merged)
        except (TypeError, ValueError) as e:
            raise GapkitError(f"{where}: {e}") from None
        if k == 0 and cfg.init_from is not None:
            _check_init_from(cfg.init_from, where)
        out.append(cfg)
    return out


def _check_init_from(path: str, where: str) -> None:
    """init_from names a checkpoint.pt file or a weights folder holding model.safetensors."""
    p = Path(path)
    if not (p.is_file() or (p / "model.safetensors").is_file()):
        raise GapkitError(
            f"{where}: init_from {path!r} is neither a checkpoint file nor a folder with model.safetensors."
        )


def run_train_clip(args) -> int:
    from ..io import check_output_dir

    out = check_output_dir(args.out, "--out")
    if out.exists() and any(out.iterdir()) and not args.resume:
        raise GapkitError(f"{out} exists; pass --resume to continue it or choose a new folder.")
    stages = _stage_configs(args)  # every value checked before --out is created
    created = not out.exists()
    try:
        final = _train_stages(stages, out, args.resume)
    except BaseException:
        if created:
            _remove_if_empty(out)  # a run that failed before its first checkpoint leaves nothing
        raise
    log.info("final weights in %s (copy into gapkit/assets/shapes-clip to ship them)", final)
    return 0


def _train_stages(stages: list, out: Path, resume: bool) -> Path:
    from ..tinyclip.train import export_weights, train_tiny_clip

    seconds, steps = 0.0, 0
    for k, cfg in enumerate(stages):
        folder = out if len(stages) == 1 else out / f"stage{k + 1}"
        if k:
            cfg.init_from = str(out / f"stage{k}" / "final")
        trainer = train_tiny_clip(cfg, folder, resume=resume, log=log.info)
        seconds, steps = seconds + trainer.train_seconds, steps + trainer.step
        export_weights(
            trainer,
            folder / "final",
            total_steps=steps,
            total_seconds=seconds,
            recipe=[s.__dict__ | {"model": "..."} for s in stages],
        )
    return (out if len(stages) == 1 else out / f"stage{len(stages)}") / "final"


def _remove_if_empty(folder: Path) -> None:
    """Remove ``folder`` if it holds no file at all (only empty folders)."""
    import shutil

    if folder.is_dir() and not any(p.is_file() or p.is_symlink() for p in folder.rglob("*")):
        shutil.rmtree(folder, ignore_errors=True)


def _weights_folder(path: str | None) -> Path:
    """The folder ``gapkit world card`` evaluates and writes the card into (checked now)."""
    from ..encoders.shapes import ASSET_DIR

    folder = Path(path) if path else ASSET_DIR
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "not found"
        raise GapkitError(
            f"--weights {folder}: {what}; give a tiny CLIP weights folder (model.safetensors and "
            "config.json, as `gapkit world train-clip` writes in RUN/final)."
        )
    for name in ("model.safetensors", "config.json"):
        if not (folder / name).is_file():
            raise GapkitError(f"--weights {folder}: no {name} in it; a tiny CLIP weights folder holds both.")
    return folder


def run_card(args) -> int:
    from ..tinyclip.card import write_model_card

    folder = _weights_folder(args.weights)
    missing = [h for h in args.history or [] if not Path(h).is_file()]
    if missing:
        raise GapkitError(f"--history {missing[0]}: file not found (give each stage's history.json).")
    metrics = write_model_card(folder, seed=args.seed, histories=args.history)
    print(json.dumps(metrics, indent=1))
    return 0
