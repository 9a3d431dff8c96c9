"""``gapkit figures``: regenerate every embedded-default figure into figures/ (and the real-CLIP
fixture's, when ../shared/fixtures/real-clip is present). Ablation figures come from
``gapkit ablate``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import seed_int

DEFAULT_OUT = Path(__file__).resolve().parent.parent.parent / "figures"
REAL_CLIP = Path(__file__).resolve().parent.parent.parent.parent / "shared" / "fixtures" / "real-clip" / "features_clip.npy"


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="regenerate the figures/ folder", formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="Example:\n  gapkit figures\n  gapkit figures --out /tmp/figs --real-clip path/features.npy")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    p.add_argument("--real-clip", default=str(REAL_CLIP), help="precomputed real CLIP pairs (skipped if absent)")
    p.add_argument("--seed", type=seed_int, default=0)
    p.set_defaults(func=run)


def run(args) -> int:
    import logging

    from ..figures import geometry_jobs
    from ..io import check_output_dir
    from . import sensitivity as sens_cli
    from . import tsne as tsne_cli
    from ._inputs import load_inputs

    log = logging.getLogger("gapkit.cli")
    out = check_output_dir(args.out, "--out")
    out.mkdir(parents=True, exist_ok=True)
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    tsne_cli.add_parser(sub, "tsne")
    sens_cli.add_parser(sub, "sensitivity")
    shapes = parser.parse_args(["tsne", "--out", str(out / "tsne-shapes"), "--lines", "--seed", str(args.seed)])
    tsne_cli.run(shapes)
    img, txt, ci, _, _, label = load_inputs(shapes)
    geometry_jobs(img, txt, ci, out / "shapes", "shapes world, gapkit-shapes", args.seed)
    sens_cli.run(parser.parse_args(["sensitivity", "--out", str(out / "sensitivity-shapes")]))
    if Path(args.real_clip).is_file():
        real = parser.parse_args(["tsne", "--embeddings", args.real_clip, "--out", str(out / "tsne-real-clip"),
                                  "--lines", "--seed", str(args.seed)])
        tsne_cli.run(real)
        img, txt, ci, _, _, _ = load_inputs(real)
        geometry_jobs(img, txt, ci, out / "real-clip", "500 COCO pairs, real CLIP", args.seed)
    else:
        log.warning("real CLIP fixture not found at %s: its figures are skipped", args.real_clip)
    log.info("figures written to %s", out)
    return 0
