"""``gapkit <verb>``: a thin skin over the library. ``main(argv) -> int`` so tests call it in-process.

Exit codes: 0 ok, 2 user/config error (one line on stderr; ``--debug`` shows the traceback),
1 crash."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
import warnings

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


class UsageError(GapkitError):
    """A command line argparse rejects (unknown flag, bad value): one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: argparse's own ``error`` prints the whole usage block."""

    def error(self, message: str):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gapkit",
        description="Measure the modality gap of CLIP-family models and rerun CLOSE.",
        epilog="Examples:\n  gapkit measure\n  gapkit measure --encoder ViT-B-32:openai "
        "--dataset coco-karpathy "
        "--data-path dataset_coco.json --image-root coco/\n  gapkit ls encoders",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.add_argument("--quiet", action="store_true", help="only warnings and errors on stderr")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, module in VERBS.items():  # every verb is built: a missing module is a bug, not skipped
        importlib.import_module(f"gapkit.cli.{module}").add_parser(sub, verb)
    return parser


def _configure_logging(quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname).1s %(name)s: %(message)s"))
    handler.setLevel(logging.WARNING if quiet else logging.INFO)  # run logs (log.txt) still get INFO
    root = logging.getLogger("gapkit")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False


@contextlib.contextmanager
def _quiet_third_parties(quiet: bool):
    """With --quiet, other libraries' warnings (open_clip's random-weights notice goes to the root
    logger; numpy's RuntimeWarnings through ``warnings``) are dropped too; state is restored after,
    since tests call ``main`` in-process."""
    if not quiet:
        yield
        return
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.ERROR)
    old_level = root.level
    root.addHandler(handler)  # a handler on root also stops logging.warning() calling basicConfig
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def main(argv: list[str] | None = None) -> int:
    _offline_defaults()
    parser = build_parser()
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
        if not args.verb:
            parser.print_help()
            return 2
        _configure_logging(args.quiet)
        with _quiet_third_parties(args.quiet):
            return int(args.func(args) or 0)
    except GapkitError as e:
        if debug:
            raise
        print(f"gapkit: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gapkit: interrupted", file=sys.stderr)
        return 130


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())


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
