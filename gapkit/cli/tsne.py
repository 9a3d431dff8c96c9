"""``gapkit tsne``: t-SNE of images and captions, one panel per adapter (CLOSE Figure 3)."""

from __future__ import annotations

import argparse
import json

from ._common import positive_int, seed_int
from ._inputs import add_input_args, load_inputs

EXAMPLES = """Examples:
  gapkit tsne --out figures/tsne-shapes
  gapkit tsne --embeddings ../shared/fixtures/real-clip/features_clip.npy --out figures/tsne-real-clip --lines
  gapkit tsne --panels none noise mean-shift+noise --method pca --n 1000 --out /tmp/pca
"""


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(
        name,
        help="t-SNE figure of the two modalities per adapter",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_args(p)
    p.add_argument("--out", required=True, help="figure path without suffix (PNG, PDF and JSON are written)")
    p.add_argument("--n", type=positive_int, default=350, help="random images (with their first caption)")
    p.add_argument(
        "--panels",
        nargs="+",
        default=None,
        help="adapter panels, e.g. none noise mean-shift mean-shift+noise linear cov; the methods "
        "that move the images too: c3 decap nearest-caption",
    )
    p.add_argument("--noise-norm", type=float, default=2.217, help="noise norm w*sqrt(d) for +noise panels")
    p.add_argument("--method", default="tsne", help="tsne (scikit-learn), opentsne or pca")
    p.add_argument("--lines", action=argparse.BooleanOptionalAction, default=False, help="draw pair lines")
    p.add_argument("--seed", type=seed_int, default=0)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..figures import tsne_job
    from ..io import check_output_file
    from ..plots.tsne import PROJECTIONS

    PROJECTIONS.get(args.method)  # unknown names fail before any work
    check_output_file(args.out + ".json", "--out")
    img, txt, ci, fit_i, fit_t, label = load_inputs(args)
    numbers = tsne_job(
        img,
        txt,
        ci,
        fit_i,
        fit_t,
        args.out,
        args.n,
        args.seed,
        args.panels,
        args.method,
        args.lines,
        args.noise_norm,
        title=label,
    )
    print(json.dumps(numbers, indent=1))
    return 0
