"""``gapkit <verb>``: a thin skin over the library. ``main(argv) -> int`` so tests call it in-process.

Exit codes: 0 ok, 2 user/config error (one line on stderr; ``--debug`` shows the traceback),
1 crash."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from ..errors import GapkitError

# Verb -> module under gapkit.cli; each module has add_parser(subparsers) and run(args) -> int.
VERBS = {
    "measure": "measure",
    "encode": "encode",
    "world": "world",
    "train": "train",
    "eval": "evaluate",
    "score": "score",
    "ablate": "ablate",
    "tsne": "tsne",
    "sensitivity": "sensitivity",
    "figures": "figures",
    "ls": "ls",
}


def _offline_defaults() -> None:
    # gapkit resolves every weights file on local disk itself; these make any library call that
    # would still reach for a hub fail fast instead of hanging (override by setting them to 0).
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gapkit", description="Measure the modality gap of CLIP-family models and rerun CLOSE.",
        epilog="Examples:\n  gapkit measure\n  gapkit measure --encoder ViT-B-32:openai --dataset coco-karpathy "
               "--data-path dataset_coco.json --image-root coco/\n  gapkit ls encoders",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.add_argument("--quiet", action="store_true", help="only warnings and errors on stderr")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, module in VERBS.items():
        try:
            mod = importlib.import_module(f"gapkit.cli.{module}")
        except ModuleNotFoundError as e:
            if e.name != f"gapkit.cli.{module}":
                raise
            continue  # verb not built yet
        mod.add_parser(sub, verb)
    return parser


def _configure_logging(quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname).1s %(name)s: %(message)s"))
    handler.setLevel(logging.WARNING if quiet else logging.INFO)  # run logs (log.txt) still get INFO
    root = logging.getLogger("gapkit")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False


def main(argv: list[str] | None = None) -> int:
    _offline_defaults()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.verb:
        parser.print_help()
        return 2
    _configure_logging(args.quiet)
    try:
        return int(args.func(args) or 0)
    except GapkitError as e:
        if args.debug:
            raise
        print(f"gapkit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gapkit: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # `gapkit measure | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)


if __name__ == "__main__":
    entry()
