"""``gapkit sensitivity``: which dimensions move when one attribute changes, in text vs images."""

from __future__ import annotations

import argparse

from ._common import add_encoder_args, positive_int

EXAMPLES = """Examples:
  gapkit sensitivity --out figures/sensitivity
  gapkit sensitivity --pairs my_pairs.jsonl --encoder ViT-B-32:openai --out figures/sens-vitb32
Pairs file columns: image_a, image_b, caption_a, caption_b, attribute (JSONL or CSV).
"""


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(
        name,
        help="dimension sensitivity from minimal pairs",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--pairs", default=None, help="minimal pairs file (default: the embedded world's)")
    p.add_argument(
        "--embeddings",
        default=None,
        help="precomputed minimal-pair embeddings instead: .npz with image_a, image_b, text_a, "
        "text_b (n, d) and attribute (n,) [, change (n,)]",
    )
    p.add_argument("--image-root", default=None)
    add_encoder_args(p)
    p.add_argument("--top-k", type=positive_int, default=10)
    p.add_argument("--out", required=True, help="figure path without suffix (PNG, PDF, JSON)")
    p.set_defaults(func=run)


def _from_npz(path: str):
    import numpy as np

    from ..errors import GapkitError

    keys = ("image_a", "image_b", "text_a", "text_b", "attribute")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise GapkitError(f"{path} lacks {', '.join(missing)} (needs {', '.join(keys)}[, change]).")
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise GapkitError(f"Cannot read {path} as .npz: {e}") from None
    n = len(arrays["attribute"])
    bad = [k for k in keys[:4] if arrays[k].ndim != 2 or len(arrays[k]) != n]
    if bad:
        raise GapkitError(f"{path}: {bad[0]} must be (n, d) with n = {n} rows like 'attribute'.")
    change = arrays.get("change", arrays["attribute"])
    return (
        arrays["image_a"],
        arrays["image_b"],
        arrays["text_a"],
        arrays["text_b"],
        [str(a) for a in arrays["attribute"]],
        [str(c) for c in change],
    )


def run(args) -> int:
    from ..figures import sensitivity_job, sensitivity_table
    from ..io import check_output_file

    check_output_file(args.out + ".json", "--out")

    if args.embeddings:
        ia, ib, ta, tb, attrs, changes = _from_npz(args.embeddings)
        print(sensitivity_table(sensitivity_job(ia, ib, ta, tb, attrs, args.out, args.top_k, changes)))
        return 0
    return _run_encoder(args)


def _run_encoder(args) -> int:
    from ..figures import minimal_pair_embeddings, sensitivity_job, sensitivity_table
    from ._inputs import encode_options

    ia, ib, ta, tb, attrs, changes = minimal_pair_embeddings(
        encode_options(args), args.pairs, args.image_root
    )
    print(sensitivity_table(sensitivity_job(ia, ib, ta, tb, attrs, args.out, args.top_k, changes)))
    return 0
