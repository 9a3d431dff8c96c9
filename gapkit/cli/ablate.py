"""``gapkit ablate SPEC``: run an ablation grid (resuming finished cells) and render its table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import nonneg_int, positive_int

EXAMPLES = """Examples:
  gapkit ablate analyses/bias.yaml
  gapkit ablate analyses/noise.yaml --jobs 2
  gapkit ablate analyses/bias.yaml --executor ray --address ray://head:10001
  gapkit ablate analyses/bias.yaml --render-only
"""


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(
        name,
        help="run an ablation grid and render its table",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("spec", help="YAML spec (see analyses/)")
    p.add_argument("--out", default=None, help="results folder (default: analyses/results/<name>)")
    p.add_argument("--executor", default="local", help="local or ray (see `gapkit ls executors`)")
    p.add_argument("--jobs", type=positive_int, default=1, help="cells run in parallel")
    p.add_argument(
        "--retries",
        type=nonneg_int,
        default=1,
        help="extra attempts for a cell that crashed (configuration errors are not retried)",
    )
    p.add_argument("--address", default=None, help="Ray cluster address (ray executor)")
    p.add_argument(
        "--render-only",
        action="store_true",
        help="only assemble the table from finished cells (cells without a result are marked)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from ..ablate.executors import EXECUTORS, Terminated
    from ..ablate.publish import render_outputs
    from ..ablate.runner import default_out, incomplete_report, run_grid
    from ..ablate.spec import load_spec
    from ..io import check_output_dir

    spec = load_spec(args.spec)  # every cell validated before anything runs
    EXECUTORS.get(args.executor)
    check_output_dir(args.out or default_out(spec), "--out")
    try:
        outcome = run_grid(
            spec, args.out, args.executor, args.jobs, args.retries, args.address, args.render_only
        )
    except Terminated:  # SIGTERM: stopped as on Ctrl-C (main reports that as 130)
        print("gapkit: terminated", file=sys.stderr)
        return 143
    paths = render_outputs(spec, outcome, command=["gapkit", *sys.argv[1:]])
    print(Path(paths["md"]).read_text())
    report = incomplete_report(spec, outcome)
    if report is None:
        return 0
    code, message = report  # the table is written either way, with the cells lacking a result marked
    print(f"gapkit: {'error: ' if code == 2 else ''}{message}", file=sys.stderr)
    return code
