"""``gapkit eval RUN``: evaluate a trained CLOSE run on a split (images by default)."""

from __future__ import annotations

import argparse
import json
import sys

from ._common import add_verify_arg, positive_int


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(
        name,
        help="evaluate a trained CLOSE run",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples:\n  gapkit eval runs/cap --split test\n"
        "  gapkit eval runs/cap --split val --inputs text   # text-to-text check",
    )
    p.add_argument("run", help="run folder written by `gapkit train`")
    p.add_argument("--split", default="test")
    p.add_argument(
        "--inputs",
        choices=("image", "text"),
        default="image",
        help="decode from image vectors (default) or from the split's text vectors through the "
        "run's adapter without its noise",
    )
    p.add_argument("--max-examples", type=positive_int, default=None)
    p.add_argument(
        "--allow-partial",
        action="store_true",
        help="evaluate a run whose training stopped early (its metrics are marked partial)",
    )
    add_verify_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..close.run import eval_run

    record = eval_run(
        args.run,
        args.split,
        args.inputs,
        args.max_examples,
        command=sys.argv,
        allow_partial=args.allow_partial,
        verify_images=args.verify_images,
    )
    print(
        json.dumps({"run": args.run, "split": args.split, "inputs": args.inputs, **record.metrics}, indent=1)
    )
    return 0
