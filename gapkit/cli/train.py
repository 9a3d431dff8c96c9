"""``gapkit train``: train a CLOSE model (text-only by default) and evaluate it on images."""

from __future__ import annotations

import argparse
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

# flag -> config key, for the flags that mirror config fields one to one
FLAGS = {
    "task": str,
    "encoder": str,
    "decoder": str,
    "adapter": str,
    "noise": float,
    "noise_norm": float,
    "tuned_noise": str,
    "train_on": str,
    "epochs": positive_int,
    "batch_size": positive_int,
    "lr": float,
    "weight_decay": float,
    "seed": seed_int,
    "world": str,
    "data_root": str,
    "max_train_examples": positive_int,
    "max_eval_examples": positive_int,
    "eval_split": str,
    "device": str,
}
HELP = {
    "noise": "per-dimension noise std w (default: the task's CLOSE-tuned w)",
    "noise_norm": "noise by its expected norm w*sqrt(d) instead of w",
    "tuned_noise": "how the task's CLOSE-tuned w applies: per-dimension (CLOSE) or matched-norm "
    "(w*sqrt(768/d), gapkit 0.1)",
    "epochs": "default: the decoder's (8 for a pretrained T5, as CLOSE; 4 for shapes-t5)",
    "batch_size": "default: the decoder's (128, multi-caption 32 for a pretrained T5; 128 for shapes-t5)",
    "lr": "default: the decoder's (3e-4 for a pretrained T5, as CLOSE; 1e-3 for shapes-t5)",
    "weight_decay": "default: 0 (CLOSE's)",
}


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(
        name,
        help="train a CLOSE model on text, test on images",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--config", default=None, help="YAML config (e.g. a run's config.yaml)")
    for flag, typ in FLAGS.items():
        p.add_argument(f"--{flag.replace('_', '-')}", type=typ, default=None, dest=flag, help=HELP.get(flag))
    p.add_argument(
        "--early-stopping",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="beam search stops once `beams` hypotheses finished (default: off, searching on as "
        "CLOSE's AllenNLP beam search does)",
    )
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config key")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    add_verify_arg(p)
    p.set_defaults(func=run)


def config_from_args(args):
    from ..close.config import CloseConfig

    overrides = {k: getattr(args, k) for k in (*FLAGS, "early_stopping") if getattr(args, k) is not None}
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
        json.dumps(
            {"run": args.out, "task": record["task"], "split": record["split"], **record["metrics"]}, indent=1
        )
    )
    return 0
