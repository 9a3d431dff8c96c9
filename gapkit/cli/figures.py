"""``gapkit figures``: regenerate every embedded-default figure (``gapkit.figures.regenerate_all``)
into figures/ of the current folder (and the real-CLIP fixture's, when present). Ablation figures
come from ``gapkit ablate``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import seed_int

# Relative to the folder gapkit runs in: the repository root, for the committed figures.
DEFAULT_OUT = "figures"
REAL_CLIP = "../shared/fixtures/real-clip/features_clip.npy"


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(
        name,
        help="regenerate the figures/ folder",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example:\n  gapkit figures\n  gapkit figures --out /tmp/figs --real-clip path/features.npy",
    )
    p.add_argument("--out", default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    p.add_argument(
        "--real-clip",
        default=REAL_CLIP,
        help="precomputed real CLIP pairs (skipped if absent; default: %(default)s)",
    )
    p.add_argument("--seed", type=seed_int, default=0)
    p.set_defaults(func=run)


def run(args) -> int:
    import logging

    from ..figures import regenerate_all, sensitivity_table
    from ..io import check_output_dir

    log = logging.getLogger("gapkit.cli")
    out = check_output_dir(args.out, "--out")
    real = Path(args.real_clip)
    if not real.is_file():
        log.warning("real CLIP fixture not found at %s: its figures are skipped", real)
    numbers = regenerate_all(out, real if real.is_file() else None, args.seed)
    print(sensitivity_table(numbers["sensitivity-shapes"]))
    log.info("figures written to %s", out)
    return 0
