"""``gapkit train``: train a CLOSE model (text-only by default) and evaluate it on images."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from ._common import add_verify_arg, parse_sets, positive_int, seed_int

EXAMPLES = """Examples:
  gapkit train --task caption-single --out runs/cap
  gapkit train --task ve --adapter noise --noise 0.2 --out runs/ve-noise
  gapkit train --task caption-single --decoder t5-base --out runs/cap-t5   # CLOSE's lr/epochs/batch
  gapkit train --task vqa --train-on image --out runs/vqa-images
  gapkit train --config runs/cap/config.yaml --out runs/cap-again
  gapkit train --task caption-single --adapter mean-shift --set adapter_options.scale=-1 --out runs/away
"""

# argparse type of each kind of flag a config field declares (close/config.py, field metadata)
KINDS = {"str": str, "float": float, "positive_int": positive_int, "seed": seed_int}


def config_flags() -> list:
    """The CloseConfig fields that are ``gapkit train`` flags, in the config's order."""
    from ..close.config import CloseConfig

    return [f for f in dataclasses.fields(CloseConfig) if f.metadata.get("flag")]


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(
        name,
        help="train a CLOSE model on text, test on images",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--config", default=None, help="YAML config (e.g. a run's config.yaml)")
    for f in config_flags():
        kind, name = f.metadata["flag"], f"--{f.name.replace('_', '-')}"
        how = {"action": argparse.BooleanOptionalAction} if kind == "bool" else {"type": KINDS[kind]}
        p.add_argument(name, default=None, dest=f.name, help=f.metadata["help"], **how)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config key")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    add_verify_arg(p)
    p.set_defaults(func=run)


def config_from_args(args):
    from ..close.config import CloseConfig

    overrides = {f.name: getattr(args, f.name) for f in config_flags() if getattr(args, f.name) is not None}
    overrides.update(parse_sets(args.set))
    if args.config:
        return CloseConfig.load(args.config, overrides)
    return CloseConfig.from_dict(overrides, "command line")


def run(args) -> int:
    from ..close.run import train_run
    from ..io import check_output_dir

    cfg = config_from_args(args)
    check_output_dir(args.out, "--out")
    record = train_run(
        cfg,
        args.out,
        resume=args.resume,
        overwrite=args.overwrite,
        command=sys.argv,
        verify_images=args.verify_images,
    )
    print(
        json.dumps({"run": args.out, "task": record.task, "split": record.split, **record.metrics}, indent=1)
    )
    return 0
